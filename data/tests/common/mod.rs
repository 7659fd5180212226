//! Shared test helpers: sample data in every format, and draining readers.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::missing_panics_doc,
    clippy::expect_used,
    reason = "test helpers: each test uses some, and a failed setup should panic"
)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Fields, Schema};
use mesh_data::{Batch, ReadError, ReadOptions};
use mesh_protocol::descriptor::Format;

/// A batch of named columns, every field nullable.
pub fn batch_of(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("record batch")
}

/// Five rows of mixed types, with nulls, nesting and a dictionary.
pub fn sample_batch() -> RecordBatch {
    let mut tags = ListBuilder::new(StringBuilder::new());
    for row in [vec!["a"], vec![], vec!["b", "c"], vec!["d"], vec![]] {
        for t in row {
            tags.values().append_value(t);
        }
        tags.append(true);
    }
    let info_fields = Fields::from(vec![Field::new("x", DataType::Int32, true)]);
    let info = StructArray::new(
        info_fields.clone(),
        vec![Arc::new(Int32Array::from(vec![
            Some(1),
            None,
            Some(3),
            Some(4),
            Some(5),
        ])) as ArrayRef],
        None,
    );
    let cat: DictionaryArray<Int32Type> = vec!["x", "y", "x", "x", "y"].into_iter().collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]))),
        (
            "name",
            Arc::new(StringArray::from(vec![
                Some("ann"),
                None,
                Some("cy"),
                Some("dee"),
                Some("ed"),
            ])),
        ),
        (
            "score",
            Arc::new(Float64Array::from(vec![1.5, 2.5, 3.5, 4.5, 5.5])),
        ),
        ("day", Arc::new(Date32Array::from(vec![0, 1, 2, 3, 4]))),
        ("tags", Arc::new(tags.finish())),
        ("info", Arc::new(info)),
        ("cat", Arc::new(cat)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("sample batch")
}

pub fn parquet_bytes(batch: &RecordBatch, row_group_rows: usize) -> Vec<u8> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props))
        .expect("parquet writer");
    w.write(batch).expect("write");
    w.close().expect("close");
    out
}

pub fn ipc_file_bytes(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &batches[0].schema())
        .expect("ipc file writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
    drop(w);
    out
}

pub fn ipc_stream_bytes(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &batches[0].schema())
        .expect("ipc stream writer");
    for b in batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
    drop(w);
    out
}

/// A temporary directory holding files written by a test.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, bytes).expect("write file");
        path
    }
}

pub fn options(format: Format, batch_rows: usize) -> ReadOptions {
    let mut o = ReadOptions::new(format);
    o.batch_rows = batch_rows;
    o
}

/// All batches of a file, or the first error.
pub fn read_path(path: &Path, opts: &ReadOptions) -> Result<Vec<Batch>, ReadError> {
    mesh_data::open(path, opts)?.collect()
}

/// All batches of a byte stream, or the first error.
pub fn read_bytes(bytes: &[u8], opts: &ReadOptions) -> Result<Vec<Batch>, ReadError> {
    mesh_data::from_reader(Cursor::new(bytes.to_vec()), opts)?.collect()
}

/// Drains a reader, returning whether it ended in an error. Must never
/// panic, whatever the bytes.
pub fn drain(result: Result<mesh_data::Batches, ReadError>) -> bool {
    match result {
        Err(_) => true,
        Ok(batches) => {
            let mut failed = false;
            for b in batches {
                failed |= b.is_err();
            }
            failed
        }
    }
}

pub fn first_rows(batches: &[Batch]) -> Vec<(u64, usize)> {
    batches
        .iter()
        .map(|b| (b.first_row, b.batch.num_rows()))
        .collect()
}

/// The text of column `col` of every batch, in order.
pub fn strings(batches: &[Batch], col: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let a = b.batch.column_by_name(col).expect("column");
        let a = a
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8 column");
        out.extend(a.iter().map(|v| v.map(str::to_string)));
    }
    out
}

pub fn int64s(batches: &[Batch], col: &str) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for b in batches {
        let a = b.batch.column_by_name(col).expect("column");
        let a = a
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("int64 column");
        out.extend(a.iter());
    }
    out
}
