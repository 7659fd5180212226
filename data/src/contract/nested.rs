//! The inner fields of objects and arrays (JSON Lines objects and arrays,
//! Parquet and Arrow structs and lists), held to their own declarations.
//!
//! A descriptor may declare an object's properties and an array's element
//! field (`items`), each with a type, nullability and constraints, nested
//! to any depth (ODCS object properties and array items). Each inner field
//! is checked like a column: every occurrence (a property of each object,
//! each element of each array) is one cell, numbered with the row it is
//! in. Its violations name the field by its path (`address.zip`,
//! `tags.items`) and follow the top-level field's own.
//!
//! JSON Lines values are plain JSON. In Parquet and Arrow an object is a
//! struct column (its properties are child arrays, by name) and an array a
//! list column (its elements one child array, split by offsets); a child
//! whose stored type does not widen to the declared one is a `type`
//! violation per value, as at the top level.
//!
//! An inner field is checked only where its parent holds a value of the
//! parent's type: a null or mistyped parent is the parent's violation, not
//! its children's. A property absent from an object (or from a struct's
//! stored fields) is null. Properties the descriptor does not declare are
//! not profiled.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait};
use arrow_schema::DataType as ArrowType;
use mesh_protocol::descriptor::{DataType, Field};
use mesh_protocol::profile::Violation;
use serde_json::Value as Json;

use super::arrow_cells;
use super::column::{Column, Declared};

/// The row of an element of a child array; `None` where its parent holds
/// no value.
type RowOf<'a> = dyn Fn(usize) -> Option<u64> + 'a;

/// One declared inner field and the ones inside it.
pub(crate) struct Nested {
    /// The property name in its parent object (`items` for an array's
    /// elements).
    key: String,
    pub(crate) column: Column,
    /// Occurrences seen (null or not): what its null share is out of.
    pub(crate) cells: u64,
    pub(crate) children: Vec<Nested>,
}

impl Nested {
    /// The inner fields of `field`, named from `path`; empty for a field
    /// without declared children.
    pub(crate) fn of(field: &Field, path: &str, scratch: &Path) -> Vec<Self> {
        field
            .children
            .iter()
            .map(|child| {
                let child_path = format!("{path}.{}", child.name);
                Self {
                    key: child.name.clone(),
                    children: Self::of(child, &child_path, scratch),
                    column: Column::new(child_path, Some(Declared::new(child)), scratch),
                    cells: 0,
                }
            })
            .collect()
    }

    fn data_type(&self) -> Option<DataType> {
        self.column.declared.as_ref().map(|d| d.data_type)
    }

    /// One occurrence of this field at `row`: `None` when the property is
    /// absent.
    fn cell(&mut self, json: Option<&Json>, row: u64) {
        let Some(data_type) = self.data_type() else {
            return;
        };
        self.cells += 1;
        match json {
            None | Some(Json::Null) => self.column.null(row),
            Some(json) => match super::json_value(json, data_type) {
                Some(value) => {
                    self.column.value(row, value.as_ref());
                    check_children(&mut self.children, data_type, json, row);
                }
                None => self.column.invalid(row, data_type, &json.to_string()),
            },
        }
    }

    /// The cells of `array` (a child array of its parent's column).
    fn typed(&mut self, array: &ArrayRef, row_of: &RowOf<'_>) {
        let Some(declared) = self.column.declared.as_ref() else {
            return;
        };
        let mismatch = declared.mismatch(crate::types::mesh_type(array.data_type()));
        let cells = &mut self.cells;
        let column = &mut self.column;
        arrow_cells::for_each(array, &mut |i, cell| {
            if let Some(row) = row_of(i) {
                *cells += 1;
                column.typed_cell(mismatch, row, cell);
            }
        });
        if mismatch.is_none() {
            typed_children(&mut self.children, array, row_of);
        }
    }

    /// See [`Column::rehome`].
    pub(crate) fn rehome(&mut self) {
        self.column.rehome();
        self.children.iter_mut().for_each(Self::rehome);
    }

    /// Ends the `unique` checks of this field and the ones inside it.
    pub(crate) fn finish_unique(&mut self) -> std::io::Result<()> {
        self.column.finish_unique()?;
        self.children.iter_mut().try_for_each(Self::finish_unique)
    }

    /// The violations of this field and the ones inside it, depth first.
    pub(crate) fn violations(&self, out: &mut Vec<Violation>) {
        out.extend(self.column.violations(self.cells));
        for child in &self.children {
            child.violations(out);
        }
    }
}

/// Checks the inner fields of `json`, a value of `data_type` at `row`.
pub(crate) fn check_children(children: &mut [Nested], data_type: DataType, json: &Json, row: u64) {
    if children.is_empty() {
        return;
    }
    match (data_type, json) {
        (DataType::Object, Json::Object(map)) => {
            for child in children {
                let value = map.get(&child.key);
                child.cell(value, row);
            }
        }
        (DataType::Array, Json::Array(elements)) => {
            for child in children.iter_mut().filter(|c| c.key == "items") {
                for element in elements {
                    child.cell(Some(element), row);
                }
            }
        }
        _ => {}
    }
}

/// Checks the inner fields of a typed column: a struct's child arrays, a
/// list's elements.
pub(crate) fn typed_children(children: &mut [Nested], array: &ArrayRef, row_of: &RowOf<'_>) {
    if children.is_empty() {
        return;
    }
    match array.data_type() {
        ArrowType::Struct(_) => {
            let parent = array.as_struct();
            let valid = |i: usize| parent.is_valid(i).then(|| row_of(i)).flatten();
            for child in children {
                match parent.column_by_name(&child.key) {
                    Some(inner) => child.typed(inner, &valid),
                    None => {
                        for row in (0..parent.len()).filter_map(valid) {
                            child.cells += 1;
                            child.column.null(row);
                        }
                    }
                }
            }
        }
        ArrowType::List(_) => list_items(children, array.as_list::<i32>(), row_of),
        ArrowType::LargeList(_) => list_items(children, array.as_list::<i64>(), row_of),
        _ => {}
    }
}

/// The `items` field of a list column: element `j` belongs to the row whose
/// offsets enclose it, if that row's list is not null.
fn list_items<O: OffsetSizeTrait>(
    children: &mut [Nested],
    list: &arrow_array::GenericListArray<O>,
    row_of: &RowOf<'_>,
) {
    let offsets = list.value_offsets();
    let owner = |j: usize| {
        // The last list whose start is at or before `j`.
        let r = offsets
            .partition_point(|o| o.as_usize() <= j)
            .checked_sub(1)?;
        let end = offsets.get(r + 1)?.as_usize();
        (r < list.len() && j < end && list.is_valid(r))
            .then(|| row_of(r))
            .flatten()
    };
    for child in children.iter_mut().filter(|c| c.key == "items") {
        child.typed(list.values(), &owner);
    }
}
