//! The contract check and the profile: the data read in full, held to
//! every promise of its descriptor, and summed up in a [`Profile`] that the
//! publisher signs and every consumer recomputes.
//!
//! The check streams: each record batch (or JSON line) updates per-column
//! state ([`column::Column`]) and is dropped, so memory is the readers'
//! bound plus, per column, the distinct sketch (capped) and, for a `unique`
//! field, a buffer of value identities that spills to a scratch directory
//! ([`unique`]). The profile is a deterministic function of the bytes and
//! the descriptor (`PROFILE_METHOD` 3):
//!
//! - rows are numbered from 1 in file order, a CSV header not counted;
//! - a CSV cell is null when the dialect says so ([`CsvDialect::is_null`]);
//!   a JSON key that is absent or `null` is null; typed formats carry their
//!   own nulls;
//! - each non-null cell is read as a value of the declared type (undeclared
//!   columns: as text, JSON or their stored type); one that is not is a
//!   `type` violation and counts neither as a value nor as null;
//! - for Parquet and Arrow, a column whose stored type does not widen to the
//!   declared one (`DataType::widens_to`) is one `type` violation counting
//!   its non-null values;
//! - `completeness_percent` = floor(100 x valid values in declared
//!   top-level fields / (rows x declared top-level fields)); a missing field
//!   contributes no values; no rows or no declared field gives none;
//! - freshness: the newest value of `event_time_field` must be at most
//!   `freshness_secs` before the descriptor's `created_at`;
//! - violations are listed per declared field in declaration order, each
//!   field's in [`Check`] order, then the product's (`row-count`,
//!   `completeness`, `freshness`); an unreadable file adds `unreadable`
//!   first, and the profile covers the rows read before the error;
//! - a column name repeated in a CSV header or a Parquet/Arrow schema is
//!   the first column of that name; the others are not profiled (a note
//!   says so);
//! - declared inner fields (object properties, array `items`) are checked
//!   like columns wherever their parent holds a value of its type (JSON
//!   Lines objects and arrays, Parquet and Arrow structs and lists); their
//!   violations follow the top-level field's, named by path ([`nested`]);
//! - `unique` is checked over every value: each cell whose value appeared
//!   in an earlier row of the field is one repeat;
//! - min/max are text forms ([`value`]) cut to 64 bytes; distinct counts
//!   are exact up to 4,096 and a k-minimum-values estimate beyond.

pub(crate) mod arrow_cells;
pub(crate) mod column;
mod fixed;
mod memo;
mod nested;
mod profile;
mod spread;
mod unique;
pub mod value;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow_array::ArrayRef;
use arrow_array::cast::AsArray;
use mesh_protocol::Timestamp;
use mesh_protocol::contract::CsvDialect;
use mesh_protocol::descriptor::{DataType, Descriptor, Field, Format, Quality};
use mesh_protocol::profile::Profile;
use serde_json::Value as Json;

use crate::error::ReadError;
use crate::read::{self, ReadOptions};
use column::{Column, Declared};
use value::{Value, ValueRef, normalize_decimal, normalize_decimal_into};

pub use unique::BUFFER_PAIRS as UNIQUE_BUFFER_PAIRS;

/// The check could not be made here: a failure of the checking machine,
/// never a verdict on the data.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The scratch directory the `unique` check spills to failed (full,
    /// missing, not writable).
    #[error("the contract check's scratch directory {dir}: {source}")]
    Scratch {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Everything the check holds the data to, taken from a descriptor.
#[derive(Clone, Debug)]
pub struct Contract {
    /// Declared fields.
    pub fields: Vec<Field>,
    /// Quality promises and rules.
    pub quality: Quality,
    /// How CSV cells are spelled.
    pub csv: CsvDialect,
    /// When the version was created (freshness is measured against it).
    pub created_at: Timestamp,
    /// Where the `unique` check spills beyond its memory buffer (the
    /// system's temporary directory when `None`). Not part of the verdict.
    pub scratch: Option<PathBuf>,
}

impl Contract {
    /// The contract a descriptor states.
    pub fn of(descriptor: &Descriptor) -> Self {
        Self {
            fields: descriptor.schema.fields.clone(),
            quality: descriptor.quality.clone(),
            csv: descriptor.csv.clone().unwrap_or_default(),
            created_at: descriptor.created_at,
            scratch: None,
        }
    }

    /// The same contract, spilling to `dir`.
    #[must_use]
    pub fn with_scratch(mut self, dir: PathBuf) -> Self {
        self.scratch = Some(dir);
        self
    }

    fn scratch_dir(&self) -> PathBuf {
        self.scratch.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// The read options for `format` under this contract's dialect.
    pub fn read_options(&self, format: Format) -> ReadOptions {
        let mut opts = ReadOptions::new(format);
        opts.csv.delimiter = self.csv.delimiter;
        opts.csv.quote = self.csv.quote;
        opts
    }
}

/// Whether meshd can read and profile `format`.
pub fn profiles(format: &Format) -> bool {
    matches!(
        format,
        Format::Csv | Format::Jsonl | Format::Parquet | Format::Arrow
    )
}

/// Reads the file at `path` in full and profiles it. An unreadable file
/// gives a profile with an `unreadable` violation, not an error: publishing
/// it honestly stays possible. The error is the checking machine's own
/// failure ([`CheckError`]).
pub fn profile_file(
    path: &Path,
    format: &Format,
    contract: &Contract,
) -> Result<Profile, CheckError> {
    Profiler::run(contract, |profiler| match format {
        Format::Jsonl => std::fs::File::open(path)
            .map_err(|e| ReadError::io(format, crate::error::Location::NONE, e))
            .and_then(|f| profiler.jsonl(f)),
        _ => read::open(path, &contract.read_options(format.clone()))
            .and_then(|batches| profiler.batches(format, batches)),
    })
}

/// Profiles `source` read as `format` (a seeking format: Parquet, Arrow
/// IPC; CSV works too), for a caller that reads the bytes through its own
/// [`read::Source`] (a [`read::Witness`] proving which bytes were read).
pub fn profile_source(
    source: std::sync::Arc<dyn read::Source>,
    format: &Format,
    contract: &Contract,
) -> Result<Profile, CheckError> {
    Profiler::run(contract, |profiler| {
        read::open_source(source, &contract.read_options(format.clone()))
            .and_then(|batches| profiler.batches(format, batches))
    })
}

/// Profiles a streaming format (CSV, JSON Lines) read from `reader`, for a
/// caller that reads the bytes once for several purposes (hashing them
/// while they are profiled).
pub fn profile_stream<R: Read + Send + 'static>(
    reader: R,
    format: &Format,
    contract: &Contract,
) -> Result<Profile, CheckError> {
    Profiler::run(contract, |profiler| match format {
        Format::Jsonl => profiler.jsonl(reader),
        _ => read::from_reader(reader, &contract.read_options(format.clone()))
            .and_then(|batches| profiler.batches(format, batches)),
    })
}

/// The running check over one file.
pub(crate) struct Profiler<'c> {
    contract: &'c Contract,
    columns: Vec<Column>,
    by_name: HashMap<String, usize>,
    rows: u64,
    unreadable: Option<String>,
    /// Column names beyond the profile's field limit (JSON Lines keys).
    dropped_columns: u64,
    /// Names a file's schema (a CSV header) gives more than one column;
    /// only the first column of each is profiled.
    repeated_columns: Vec<String>,
    /// Threads the columns of a batch are checked on ([`spread`]).
    threads: usize,
    /// Columns in the data (see [`Column::present`]): the ones the
    /// profile's field limit counts.
    present_columns: usize,
    /// Where `unique` checks spill.
    scratch: PathBuf,
    /// Declared inner fields are checked (every format but CSV, whose
    /// cells are flat text).
    check_nested: bool,
}

impl<'c> Profiler<'c> {
    pub(crate) fn new(contract: &'c Contract) -> Self {
        Self {
            contract,
            columns: Vec::new(),
            by_name: HashMap::new(),
            rows: 0,
            unreadable: None,
            dropped_columns: 0,
            repeated_columns: Vec::new(),
            threads: spread::threads(),
            present_columns: 0,
            scratch: contract.scratch_dir(),
            check_nested: true,
        }
    }

    /// Runs `read` over a fresh profiler and finishes it; a read error
    /// becomes the profile's `unreadable` violation, not an error.
    fn run(
        contract: &'c Contract,
        read: impl FnOnce(&mut Self) -> Result<(), ReadError>,
    ) -> Result<Profile, CheckError> {
        let mut profiler = Self::new(contract);
        if let Err(e) = read(&mut profiler) {
            profiler.unreadable(&e);
        }
        profiler.finish()
    }

    fn column(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        if self.present_columns >= mesh_protocol::descriptor::MAX_FIELDS {
            self.dropped_columns += 1;
            return None;
        }
        let field = self.contract.fields.iter().find(|f| f.name == name);
        let mut column = Column::new(name.to_owned(), field.map(Declared::new), &self.scratch);
        if self.check_nested
            && let Some(field) = field
        {
            column.nested = nested::Nested::of(field, name, &self.scratch);
        }
        self.columns.push(column);
        self.present_columns += 1;
        self.by_name.insert(name.to_owned(), self.columns.len() - 1);
        Some(self.columns.len() - 1)
    }

    /// Marks column `i` as in the data or not (JSON Lines only: a header
    /// names its columns).
    fn set_present(&mut self, i: usize, present: bool) {
        if let Some(column) = self.columns.get_mut(i)
            && column.present != present
        {
            column.present = present;
            if present {
                self.present_columns += 1;
            } else {
                self.present_columns -= 1;
            }
        }
    }

    fn unreadable(&mut self, error: &ReadError) {
        self.unreadable = Some(error.to_string());
    }

    fn batches(&mut self, format: &Format, batches: read::Batches) -> Result<(), ReadError> {
        self.check_nested = *format != Format::Csv;
        let schema = batches.schema();
        let mut index = Vec::with_capacity(schema.fields().len());
        let mut seen = std::collections::HashSet::new();
        for field in schema.fields() {
            // A repeated name is one column: the first. Merging the others
            // into it would count its rows twice and let a later column's
            // stored type judge the first one's values.
            if !seen.insert(field.name().as_str()) {
                if !self.repeated_columns.contains(field.name()) {
                    self.repeated_columns.push(field.name().clone());
                }
                index.push(None);
                continue;
            }
            let i = self.column(field.name());
            if let Some(i) = i
                && *format != Format::Csv
            {
                self.columns[i].stored_as = crate::types::mesh_type(field.data_type());
            }
            index.push(i);
        }
        let dialect = (*format == Format::Csv).then_some(&self.contract.csv);
        let work = |column: &mut Column, array: &ArrayRef, first_row: u64| match dialect {
            Some(dialect) => csv_cells(column, array, first_row, dialect),
            None => typed_cells(column, array, first_row),
        };
        spread::check(
            format,
            &mut self.columns,
            &index,
            batches,
            self.threads,
            &work,
            &mut self.rows,
        )
    }

    fn jsonl<R: Read>(&mut self, reader: R) -> Result<(), ReadError> {
        for line in read::jsonl::jsonl_values(reader, read::Limits::default()) {
            let (row, object) = line?;
            self.rows = self.rows.max(row);
            // Declared fields absent from the row are nulls; a field no row
            // has is missing (its column stays not present).
            for field in &self.contract.fields {
                if object.contains_key(&field.name) {
                    continue;
                }
                let fresh = !self.by_name.contains_key(&field.name);
                if let Some(i) = self.column(&field.name) {
                    if fresh {
                        self.set_present(i, false);
                    }
                    self.columns[i].null(row);
                }
            }
            for (key, json) in &object {
                let Some(i) = self.column(key) else { continue };
                self.set_present(i, true);
                let column = &mut self.columns[i];
                if json.is_null() {
                    column.null(row);
                    continue;
                }
                match column.declared.as_ref().map(|d| d.data_type) {
                    None => column.value(row, loose_json_value(json).as_ref()),
                    Some(t) => match json_value(json, t) {
                        Some(v) => {
                            column.value(row, v.as_ref());
                            nested::check_children(&mut column.nested, t, json, row);
                        }
                        None => column.invalid(row, t, &json.to_string()),
                    },
                }
            }
        }
        Ok(())
    }
}

/// Checks one CSV column's cells (text, typed by the declared type).
fn csv_cells(column: &mut Column, array: &ArrayRef, first_row: u64, dialect: &CsvDialect) {
    let Some(strings) = array.as_string_opt::<i32>() else {
        return;
    };
    let declared = column.declared.as_ref().map(|d| d.data_type);
    let mut buf = String::new();
    for (r, cell) in strings.iter().enumerate() {
        let row = first_row + r as u64;
        let text = cell.unwrap_or("");
        if cell.is_none() || dialect.is_null(text) {
            column.null(row);
            continue;
        }
        match declared {
            None => column.value(row, ValueRef::Text(text)),
            Some(t) => match text_value_ref(text, t, &mut buf) {
                Some(v) => column.value(row, v),
                None => column.invalid(row, t, text),
            },
        }
    }
}

/// Checks one typed column's cells (Parquet, Arrow, JSON Lines batches).
fn typed_cells(column: &mut Column, array: &ArrayRef, first_row: u64) {
    // A stored type that does not widen to the declared one is one
    // violation over the column's values (counted per value).
    let mismatch = column
        .declared
        .as_ref()
        .and_then(|d| d.mismatch(column.stored_as));
    if mismatch.is_none() && fixed::check(column, array, first_row) {
        return;
    }
    arrow_cells::for_each(array, &mut |r, cell| {
        column.typed_cell(mismatch, first_row + r as u64, cell);
    });
    if mismatch.is_none() {
        nested::typed_children(&mut column.nested, array, &|r| Some(first_row + r as u64));
    }
}

/// A CSV cell's text as a value of `data_type`, or `None` if it is not one.
pub fn text_value(text: &str, data_type: DataType) -> Option<Value> {
    let mut buf = String::new();
    text_value_ref(text, data_type, &mut buf).map(ValueRef::to_value)
}

/// [`text_value`] borrowed from the text, or from `buf` where the value's
/// form differs from the text (decimals, nested values): the check's hot
/// path, which reuses one buffer over a column.
fn text_value_ref<'a>(
    text: &'a str,
    data_type: DataType,
    buf: &'a mut String,
) -> Option<ValueRef<'a>> {
    use crate::text;
    Some(match data_type {
        DataType::Boolean => ValueRef::Bool(text::parse_bool(text)?),
        DataType::Int32 => ValueRef::Int(i64::from(text::parse_i32(text)?)),
        DataType::Int64 => ValueRef::Int(text::parse_i64(text)?),
        DataType::Float32 | DataType::Float64 => ValueRef::Float(text::parse_f64(text)?),
        DataType::Decimal => {
            if !normalize_decimal_into(text, buf) {
                return None;
            }
            ValueRef::Decimal(buf)
        }
        DataType::Date => ValueRef::Date(text::parse_date(text)?),
        DataType::Timestamp => ValueRef::Timestamp(text::parse_timestamp(text)?),
        DataType::String => ValueRef::Text(text),
        DataType::Binary => ValueRef::Bytes(text.as_bytes()),
        DataType::Object | DataType::Array => {
            let json = serde_json::from_str::<Json>(text).ok()?;
            let wanted = if data_type == DataType::Object {
                json.is_object()
            } else {
                json.is_array()
            };
            if !wanted {
                return None;
            }
            *buf = json.to_string();
            ValueRef::Nested(buf)
        }
    })
}

/// A JSON value as a value of `data_type`, or `None` if it is not one.
fn json_value(json: &Json, data_type: DataType) -> Option<Value> {
    use crate::text;
    Some(match (data_type, json) {
        (DataType::Boolean, Json::Bool(b)) => Value::Bool(*b),
        (DataType::Int32, Json::Number(n)) => {
            Value::Int(i64::from(i32::try_from(n.as_i64()?).ok()?))
        }
        (DataType::Int64, Json::Number(n)) => Value::Int(n.as_i64()?),
        (DataType::Float32 | DataType::Float64, Json::Number(n)) => Value::Float(n.as_f64()?),
        (DataType::Decimal, Json::Number(n)) => Value::Decimal(
            normalize_decimal(&n.to_string())
                .or_else(|| n.as_f64().and_then(|f| normalize_decimal(&format!("{f}"))))?,
        ),
        (DataType::Decimal, Json::String(s)) => Value::Decimal(normalize_decimal(s)?),
        (DataType::Date, Json::String(s)) => Value::Date(text::parse_date(s)?),
        (DataType::Timestamp, Json::String(s)) => Value::Timestamp(text::parse_timestamp(s)?),
        (DataType::String | DataType::Binary, Json::String(s)) => Value::Text(s.clone()),
        (DataType::Object, v @ Json::Object(_)) | (DataType::Array, v @ Json::Array(_)) => {
            Value::Nested(v.to_string())
        }
        _ => return None,
    })
}

/// An undeclared JSON value as the nearest value.
fn loose_json_value(json: &Json) -> Value {
    match json {
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Nested(other.to_string()),
    }
}
