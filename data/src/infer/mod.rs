//! Schema inference: one pass over a whole file, in bounded memory,
//! proposing a mesh schema for its owner to review and publish.
//!
//! - CSV: every cell's text decides. A column's type is the narrowest of
//!   boolean, int32, int64, float64, date, timestamp and string that every
//!   non-empty cell parses as (with the parsers in [`crate::text`]); an
//!   empty cell counts as null. A column with no non-empty cell is a
//!   nullable string.
//! - JSON Lines: see `json`.
//! - Parquet and Arrow IPC: the file's own schema mapped with
//!   [`crate::types::mesh_type`] (struct fields, list items and map keys
//!   and values as children), types without a mesh equivalent (`Null`,
//!   times of day, durations, intervals, unions) as strings, and
//!   `nulls_seen` from the null counts of the data actually read.
//!
//! Memory is bounded by the readers' batches plus one small state per
//! column (JSON: per distinct field, at most `max_columns` of them).

mod json;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as Arrow, Field, FieldRef, Fields, Schema};
use mesh_protocol::descriptor::{DataType, Format};

use crate::error::{Location, ReadError};
use crate::read::{Batches, ReadOptions, open};
use crate::text;
use crate::types::{arrow_type, mesh_type};

/// What a whole file looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferredSchema {
    /// Data rows read.
    pub rows: u64,
    /// The top-level fields, in file order.
    pub fields: Vec<InferredField>,
}

/// One field of an [`InferredSchema`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferredField {
    /// The field's name (`items` for an array's elements).
    pub name: String,
    /// Its mesh type.
    pub data_type: DataType,
    /// Whether a null (an empty CSV cell, a JSON `null` or missing key, an
    /// Arrow null) was seen.
    pub nulls_seen: bool,
    /// An object's fields, or an array's single `items` child.
    pub children: Vec<InferredField>,
}

impl InferredField {
    /// The Arrow field for this field, nested types built from the
    /// children (unlike [`arrow_type`], which knows no children).
    pub fn arrow_field(&self) -> Field {
        let data_type = match (self.data_type, self.children.as_slice()) {
            (DataType::Object, children) if !children.is_empty() => Arrow::Struct(
                children
                    .iter()
                    .map(InferredField::arrow_field)
                    .collect::<Fields>(),
            ),
            (DataType::Array, [items]) => Arrow::List(Arc::new(items.arrow_field())),
            (t, _) => arrow_type(t),
        };
        Field::new(&self.name, data_type, self.nulls_seen)
    }
}

impl InferredField {
    /// The declared field for this draft: nullable where nulls were
    /// seen, classification and description left for the owner.
    pub fn declared(&self) -> mesh_protocol::descriptor::Field {
        let mut out = mesh_protocol::descriptor::Field::new(
            self.name.clone(),
            self.data_type,
            self.nulls_seen,
        );
        out.children = self.children.iter().map(InferredField::declared).collect();
        out
    }
}

/// The declared field for a column of Arrow type: its mesh type and inner
/// fields, nullable as Arrow says at the top (inner fields nullable, the
/// safe side).
pub fn declared_field(field: &Field) -> mesh_protocol::descriptor::Field {
    fn nullable_inside(f: &mut InferredField) {
        for c in &mut f.children {
            c.nulls_seen = true;
            nullable_inside(c);
        }
    }
    let mut inferred = from_arrow(field);
    inferred.nulls_seen = field.is_nullable();
    nullable_inside(&mut inferred);
    inferred.declared()
}

impl InferredSchema {
    /// The Arrow schema of the inferred fields (see
    /// [`InferredField::arrow_field`]).
    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.fields
                .iter()
                .map(InferredField::arrow_field)
                .collect::<Vec<_>>(),
        )
    }
}

/// Reads the whole file at `path` and infers its schema.
pub fn infer(path: &Path, opts: &ReadOptions) -> Result<InferredSchema, ReadError> {
    match &opts.format {
        Format::Csv => csv(open(path, opts)?),
        Format::Jsonl => {
            let file =
                File::open(path).map_err(|e| ReadError::io(&opts.format, Location::NONE, e))?;
            json::infer(BufReader::with_capacity(64 << 10, file), &opts.limits)
        }
        Format::Parquet | Format::Arrow => arrow(open(path, opts)?),
        other => Err(ReadError::Unsupported(other.clone())),
    }
}

/// What the non-empty cells of a CSV column have all parsed as so far.
#[allow(clippy::struct_excessive_bools, reason = "one flag per candidate type")]
struct TextColumn {
    boolean: bool,
    int32: bool,
    int64: bool,
    float64: bool,
    date: bool,
    timestamp: bool,
    values: bool,
    nulls: bool,
}

impl TextColumn {
    fn new() -> Self {
        Self {
            boolean: true,
            int32: true,
            int64: true,
            float64: true,
            date: true,
            timestamp: true,
            values: false,
            nulls: false,
        }
    }

    fn see(&mut self, s: &str) {
        if s.is_empty() {
            self.nulls = true;
            return;
        }
        self.values = true;
        self.boolean = self.boolean && text::parse_bool(s).is_some();
        self.int32 = self.int32 && text::parse_i32(s).is_some();
        self.int64 = self.int64 && (self.int32 || text::parse_i64(s).is_some());
        self.float64 = self.float64 && (self.int64 || text::parse_f64(s).is_some());
        self.date = self.date && text::parse_date(s).is_some();
        self.timestamp = self.timestamp && (self.date || text::parse_timestamp(s).is_some());
    }

    fn data_type(&self) -> DataType {
        let candidates = [
            (self.boolean, DataType::Boolean),
            (self.int32, DataType::Int32),
            (self.int64, DataType::Int64),
            (self.float64, DataType::Float64),
            (self.date, DataType::Date),
            (self.timestamp, DataType::Timestamp),
        ];
        let found = candidates.iter().find(|(ok, _)| *ok).map(|&(_, t)| t);
        if self.values {
            found.unwrap_or(DataType::String)
        } else {
            DataType::String
        }
    }
}

fn csv(batches: Batches) -> Result<InferredSchema, ReadError> {
    let schema = batches.schema();
    let mut columns: Vec<TextColumn> = schema.fields().iter().map(|_| TextColumn::new()).collect();
    let mut rows = 0;
    for batch in batches {
        let batch = batch?;
        rows += batch.batch.num_rows() as u64;
        for (column, array) in columns.iter_mut().zip(batch.batch.columns()) {
            let Some(strings) = array.as_string_opt::<i32>() else {
                continue;
            };
            for value in strings {
                column.see(value.unwrap_or(""));
            }
        }
    }
    let fields = schema
        .fields()
        .iter()
        .zip(&columns)
        .map(|(field, column)| InferredField {
            name: field.name().clone(),
            data_type: column.data_type(),
            nulls_seen: column.nulls || !column.values,
            children: Vec::new(),
        })
        .collect();
    Ok(InferredSchema { rows, fields })
}

/// The inferred field for an Arrow field, without `nulls_seen`.
fn from_arrow(field: &Field) -> InferredField {
    let (data_type, children) = match field.data_type() {
        Arrow::Dictionary(_, values) => {
            return from_arrow(&Field::new(field.name(), values.as_ref().clone(), true));
        }
        Arrow::Struct(fields) => (
            DataType::Object,
            fields.iter().map(|f| from_arrow(f)).collect(),
        ),
        Arrow::Map(entries, _) => match entries.data_type() {
            Arrow::Struct(kv) => (DataType::Object, kv.iter().map(|f| from_arrow(f)).collect()),
            _ => (DataType::Object, Vec::new()),
        },
        Arrow::List(item)
        | Arrow::LargeList(item)
        | Arrow::FixedSizeList(item, _)
        | Arrow::ListView(item)
        | Arrow::LargeListView(item) => {
            let mut items = from_arrow(item);
            items.name = "items".to_string();
            (DataType::Array, vec![items])
        }
        other => (mesh_type(other).unwrap_or(DataType::String), Vec::new()),
    };
    InferredField {
        name: field.name().clone(),
        data_type,
        nulls_seen: false,
        children,
    }
}

/// Marks `nulls_seen` on `field` and its children from `array`'s nulls.
fn see_nulls(field: &mut InferredField, array: &dyn Array) {
    if array.logical_null_count() > 0 || matches!(array.data_type(), Arrow::Null) {
        field.nulls_seen = true;
    }
    let children: Vec<ArrayRef> = if let Some(s) = array.as_struct_opt() {
        s.columns().to_vec()
    } else if let Some(m) = array.as_map_opt() {
        m.entries().columns().to_vec()
    } else if let Some(l) = array.as_list_opt::<i32>() {
        vec![l.values().clone()]
    } else if let Some(l) = array.as_list_opt::<i64>() {
        vec![l.values().clone()]
    } else if let Some(l) = array.as_fixed_size_list_opt() {
        vec![l.values().clone()]
    } else {
        Vec::new()
    };
    for (child, values) in field.children.iter_mut().zip(&children) {
        see_nulls(child, values.as_ref());
    }
}

fn arrow(batches: Batches) -> Result<InferredSchema, ReadError> {
    let schema = batches.schema();
    let mut fields: Vec<InferredField> = schema
        .fields()
        .iter()
        .map(|f: &FieldRef| from_arrow(f))
        .collect();
    let mut rows = 0;
    for batch in batches {
        let batch = batch?;
        rows += batch.batch.num_rows() as u64;
        for (field, array) in fields.iter_mut().zip(batch.batch.columns()) {
            see_nulls(field, array.as_ref());
        }
    }
    Ok(InferredSchema { rows, fields })
}
