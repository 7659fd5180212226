//! A result as bytes: CSV, JSON Lines or Arrow IPC streamed batch by
//! batch, JSON rows for the API, or a file (`.parquet`, `.csv`, `.jsonl`,
//! `.arrow`) written beside its final name and renamed into place only
//! once complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::QueryError;

/// A format a result can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultFormat {
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    Jsonl,
    /// Arrow IPC (the stream format on the wire, the file format on disk
    /// is the same stream, which Arrow readers accept).
    Arrow,
    /// Parquet (files only).
    Parquet,
}

impl ResultFormat {
    /// The format a file name's extension names.
    pub fn of_path(path: &Path) -> Result<Self, QueryError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("parquet") => Ok(Self::Parquet),
            Some("csv") => Ok(Self::Csv),
            Some("jsonl" | "ndjson") => Ok(Self::Jsonl),
            Some("arrow" | "arrows" | "ipc") => Ok(Self::Arrow),
            _ => Err(QueryError::User(format!(
                "{}: write the result to a .parquet, .csv, .jsonl or .arrow file",
                path.display()
            ))),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> QueryError {
    QueryError::Failed(format!("writing the result: {e}"))
}

/// Encodes batches into bytes as they come (CSV, JSON Lines, Arrow IPC).
pub struct Encoder {
    format: ResultFormat,
    first: bool,
    ipc: Option<StreamWriter<Vec<u8>>>,
}

impl Encoder {
    /// An encoder for results of `schema`; Parquet cannot be streamed.
    pub fn new(format: ResultFormat, schema: &Schema) -> Result<Self, QueryError> {
        let ipc = match format {
            ResultFormat::Arrow => Some(StreamWriter::try_new(Vec::new(), schema).map_err(failed)?),
            ResultFormat::Parquet => {
                return Err(QueryError::User(
                    "Parquet is written to a file, not streamed".into(),
                ));
            }
            _ => None,
        };
        Ok(Self {
            format,
            first: true,
            ipc,
        })
    }

    /// The bytes of `batch` (the CSV header before the first).
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
        let first = std::mem::replace(&mut self.first, false);
        let mut out = Vec::new();
        match self.format {
            ResultFormat::Csv => {
                let mut w = csv::WriterBuilder::new().with_header(first).build(&mut out);
                w.write(batch).map_err(failed)?;
            }
            ResultFormat::Jsonl => {
                let mut w = json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, json::writer::LineDelimited>(&mut out);
                w.write(batch).map_err(failed)?;
                w.finish().map_err(failed)?;
            }
            ResultFormat::Arrow | ResultFormat::Parquet => {
                if let Some(w) = &mut self.ipc {
                    w.write(batch).map_err(failed)?;
                    out = std::mem::take(w.get_mut());
                }
            }
        }
        Ok(out)
    }

    /// The bytes that end the stream (the header of an empty CSV, the
    /// Arrow end-of-stream marker).
    pub fn finish(&mut self, schema: &SchemaRef) -> Result<Vec<u8>, QueryError> {
        match (&mut self.ipc, self.format) {
            (Some(w), _) => {
                w.finish().map_err(failed)?;
                Ok(std::mem::take(w.get_mut()))
            }
            (None, ResultFormat::Csv) if self.first => {
                self.batch(&RecordBatch::new_empty(schema.clone()))
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The rows of `batch` as JSON values, column by column in order (two
/// columns may share a name, so rows are arrays, not objects).
pub fn json_rows(batch: &RecordBatch) -> Result<Vec<Vec<serde_json::Value>>, QueryError> {
    let mut rows = vec![Vec::with_capacity(batch.num_columns()); batch.num_rows()];
    for column in batch.columns() {
        for (row, value) in rows.iter_mut().zip(column_values(column)?) {
            row.push(value);
        }
    }
    Ok(rows)
}

fn column_values(column: &ArrayRef) -> Result<Vec<serde_json::Value>, QueryError> {
    let schema = std::sync::Arc::new(Schema::new(vec![Field::new(
        "v",
        column.data_type().clone(),
        true,
    )]));
    let one = RecordBatch::try_new(schema, vec![column.clone()]).map_err(failed)?;
    let mut out = Vec::new();
    let mut w = json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, json::writer::LineDelimited>(&mut out);
    w.write(&one).map_err(failed)?;
    w.finish().map_err(failed)?;
    drop(w);
    out.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(line).map_err(failed)?;
            Ok(object.remove("v").unwrap_or(serde_json::Value::Null))
        })
        .collect()
}

/// A result being written to a file.
pub struct FileSink {
    path: PathBuf,
    partial: PathBuf,
    writer: Option<Sink>,
    rows: u64,
}

enum Sink {
    Parquet(ArrowWriter<BufWriter<File>>),
    Stream(Encoder, BufWriter<File>),
}

impl FileSink {
    /// Starts writing to `path` (absolute; a regular file or nothing yet),
    /// in the format its extension names.
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<Self, QueryError> {
        let format = ResultFormat::of_path(path)?;
        if !path.is_absolute() {
            return Err(QueryError::User(format!(
                "{}: the output path must be absolute",
                path.display()
            )));
        }
        if path.exists() && !path.is_file() {
            return Err(QueryError::User(format!(
                "{} exists and is not a regular file",
                path.display()
            )));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("result");
        let partial = path.with_file_name(format!(".{name}.partial"));
        let file = BufWriter::new(
            File::create(&partial)
                .map_err(|e| QueryError::User(format!("{}: {e}", partial.display())))?,
        );
        let writer = match format {
            ResultFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                Sink::Parquet(
                    ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(failed)?,
                )
            }
            other => Sink::Stream(Encoder::new(other, schema)?, file),
        };
        Ok(Self {
            path: path.to_owned(),
            partial,
            writer: Some(writer),
            rows: 0,
        })
    }

    /// Appends `batch`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), QueryError> {
        match &mut self.writer {
            Some(Sink::Parquet(w)) => w.write(batch).map_err(failed)?,
            Some(Sink::Stream(e, f)) => f.write_all(&e.batch(batch)?).map_err(failed)?,
            None => return Err(failed("the file is finished")),
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Completes the file, syncs it and moves it into place; the rows
    /// written.
    pub fn finish(mut self, schema: &SchemaRef) -> Result<u64, QueryError> {
        let file = match self.writer.take() {
            Some(Sink::Parquet(w)) => w.into_inner().map_err(failed)?,
            Some(Sink::Stream(mut e, mut f)) => {
                f.write_all(&e.finish(schema)?).map_err(failed)?;
                f
            }
            None => return Err(failed("the file is finished")),
        };
        let file = file.into_inner().map_err(|e| failed(e.error()))?;
        file.sync_all().map_err(failed)?;
        std::fs::rename(&self.partial, &self.path).map_err(failed)?;
        Ok(self.rows)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // A sink dropped before `finish` leaves nothing behind.
        let _ = std::fs::remove_file(&self.partial);
    }
}
