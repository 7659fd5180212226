//! JSON Lines inference from the values themselves.
//!
//! Each field's type comes from every value it takes in the file:
//!
//! - only booleans: boolean; only integers: int32 if all fit, else int64,
//!   else (beyond `i64`) decimal; integers and floats: float64;
//! - only strings: date if every one is a `YYYY-MM-DD` date, timestamp if
//!   every one is a date or timestamp ([`crate::text`]), else string. A
//!   date in a string is not enough: one non-date string makes it a string;
//! - objects: object, with a child per key seen in any of them;
//! - arrays: array, with one child `items` inferred from all elements;
//! - any other mix (a number and a string, an object and a string):
//!   string, the type everything widens to; no children;
//! - only nulls (or never present): string.
//!
//! A field is `nulls_seen` if it is `null` or missing in some row (some
//! parent object, for children). Fields are kept in order of first
//! appearance, but within one row in key order: `serde_json`'s `Map`
//! sorts keys (its `preserve_order` feature would change JSON output for
//! the whole workspace). At most `max_columns` distinct fields (at any depth) are
//! tracked; more is a limit error.

use std::collections::HashMap;
use std::io::Read;

use mesh_protocol::descriptor::{DataType, Format};
use serde_json::Value;

use super::{InferredField, InferredSchema};
use crate::error::{Location, ReadError};
use crate::read::Limits;
use crate::read::jsonl::jsonl_values;
use crate::text;

/// What one field's values have been so far.
#[derive(Default)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per kind of JSON value seen"
)]
struct Node {
    /// Values seen, nulls included.
    seen: u64,
    nulls: bool,
    booleans: bool,
    integers: bool,
    floats: bool,
    strings: bool,
    objects: bool,
    arrays: bool,
    /// Some integer is outside `i32` / `i64`.
    beyond_i32: bool,
    beyond_i64: bool,
    /// Some string is not a date / not a date or timestamp.
    not_date: bool,
    not_timestamp: bool,
    /// Object values seen (to tell missing keys).
    object_count: u64,
    children: Vec<(String, Node)>,
    index: HashMap<String, usize>,
    items: Option<Box<Node>>,
}

struct Budget {
    nodes: usize,
    max: usize,
    row: u64,
}

impl Budget {
    fn take(&mut self) -> Result<(), ReadError> {
        self.nodes += 1;
        if self.nodes > self.max {
            return Err(ReadError::limit(
                &Format::Jsonl,
                Location::row(self.row),
                format!("more than max_columns ({}) distinct fields", self.max),
            ));
        }
        Ok(())
    }
}

impl Node {
    fn see(&mut self, value: &Value, budget: &mut Budget) -> Result<(), ReadError> {
        self.seen += 1;
        match value {
            Value::Null => self.nulls = true,
            Value::Bool(_) => self.booleans = true,
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.integers = true;
                    self.beyond_i32 |= i32::try_from(i).is_err();
                } else if n.is_u64() {
                    self.integers = true;
                    self.beyond_i32 = true;
                    self.beyond_i64 = true;
                } else {
                    self.floats = true;
                }
            }
            Value::String(s) => {
                self.strings = true;
                let date = !self.not_date && text::parse_date(s).is_some();
                self.not_date |= !date;
                self.not_timestamp |= !(date || text::parse_timestamp(s).is_some());
            }
            Value::Array(values) => {
                self.arrays = true;
                if self.items.is_none() {
                    budget.take()?;
                }
                let items = self.items.get_or_insert_with(Box::default);
                for v in values {
                    items.see(v, budget)?;
                }
            }
            Value::Object(map) => {
                self.objects = true;
                self.object_count += 1;
                for (key, v) in map {
                    let i = if let Some(&i) = self.index.get(key) {
                        i
                    } else {
                        budget.take()?;
                        self.children.push((key.clone(), Node::default()));
                        self.index.insert(key.clone(), self.children.len() - 1);
                        self.children.len() - 1
                    };
                    self.children[i].1.see(v, budget)?;
                }
            }
        }
        Ok(())
    }

    /// The field, given how many times its parent could have held it.
    fn field(&self, name: &str, parents: u64) -> InferredField {
        let numbers = self.integers || self.floats;
        let kinds = [
            self.booleans,
            numbers,
            self.strings,
            self.objects,
            self.arrays,
        ];
        let mixed = kinds.iter().filter(|&&k| k).count() > 1;
        let mut children = Vec::new();
        let data_type = if mixed {
            DataType::String
        } else if self.booleans {
            DataType::Boolean
        } else if self.floats {
            DataType::Float64
        } else if self.integers {
            match (self.beyond_i32, self.beyond_i64) {
                (false, _) => DataType::Int32,
                (true, false) => DataType::Int64,
                (true, true) => DataType::Decimal,
            }
        } else if self.strings {
            if !self.not_date {
                DataType::Date
            } else if !self.not_timestamp {
                DataType::Timestamp
            } else {
                DataType::String
            }
        } else if self.objects {
            children = self
                .children
                .iter()
                .map(|(k, n)| n.field(k, self.object_count))
                .collect();
            DataType::Object
        } else if self.arrays {
            let items = self.items.as_deref().map_or_else(
                || InferredField {
                    name: "items".into(),
                    data_type: DataType::String,
                    nulls_seen: false,
                    children: Vec::new(),
                },
                |n| n.field("items", n.seen),
            );
            children.push(items);
            DataType::Array
        } else {
            DataType::String
        };
        let only_nulls = !kinds.iter().any(|&k| k);
        InferredField {
            name: name.to_string(),
            data_type,
            nulls_seen: self.nulls || self.seen < parents || only_nulls,
            children,
        }
    }
}

/// Infers the schema of a whole JSON Lines stream.
pub(super) fn infer(r: impl Read, limits: &Limits) -> Result<InferredSchema, ReadError> {
    let mut root = Node::default();
    let mut budget = Budget {
        nodes: 0,
        max: limits.max_columns,
        row: 0,
    };
    let mut rows = 0;
    for row in jsonl_values(r, *limits) {
        let (number, object) = row?;
        rows = number;
        budget.row = number;
        root.see(&Value::Object(object), &mut budget)?;
    }
    let fields = root
        .children
        .iter()
        .map(|(k, n)| n.field(k, root.object_count))
        .collect();
    Ok(InferredSchema { rows, fields })
}
