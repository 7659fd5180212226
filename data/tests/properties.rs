//! Properties of the profile: it is a deterministic function of the bytes
//! and the contract. The same bytes profile the same from a path and from a
//! stream, however the stream hands them over (the node profiles CSV and
//! JSON Lines from its hashing pass when publishing and from the stored file
//! when fetching, and the two must agree byte for byte); Parquet row groups
//! and Arrow IPC batch boundaries do not change it; and on arbitrary or
//! truncated bytes of every format the profiler returns a profile within
//! its size limits instead of panicking. (`hostile.rs` drives the bare
//! readers the same way; this drives the contract check on top of them.)

#![allow(
    clippy::expect_used,
    reason = "a table that cannot be written is a broken test: it should panic"
)]

mod common;

use std::fmt::Write as _;
use std::io::{Cursor, Read};
use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use common::{Dir, ipc_file_bytes, ipc_stream_bytes, parquet_bytes};
use mesh_data::contract::{Contract, profile_file, profile_stream};
use mesh_protocol::Timestamp;
use mesh_protocol::contract::{Constraints, CsvDialect};
use mesh_protocol::descriptor::{DataType, Field, Format, Quality};
use mesh_protocol::encoding;
use mesh_protocol::profile::Profile;
use proptest::prelude::*;
use serde_json::Value as Json;

/// A reader that hands its bytes over in the sizes given, cycling through
/// them, and (if `interrupt`) fails every other call with `Interrupted`,
/// which `Read` callers are to retry.
struct Chunky {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    calls: usize,
    interrupt: bool,
}

impl Chunky {
    fn new(data: &[u8], sizes: &[usize]) -> Self {
        Self {
            data: data.to_vec(),
            pos: 0,
            sizes: if sizes.is_empty() {
                vec![1]
            } else {
                sizes.to_vec()
            },
            calls: 0,
            interrupt: false,
        }
    }
}

impl Read for Chunky {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.interrupt && self.calls % 2 == 1 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let size = self.sizes[self.calls % self.sizes.len()].max(1);
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn declared(name: &str, data_type: DataType, nullable: bool, constraints: Constraints) -> Field {
    let mut f = Field::new(name, data_type, nullable);
    f.constraints = constraints;
    f
}

/// A contract that promises something about every column the generated
/// tables have, and about one they never have.
fn contract() -> Contract {
    Contract {
        fields: vec![
            declared(
                "id",
                DataType::Int64,
                false,
                Constraints {
                    unique: true,
                    min: Some("0".into()),
                    max: Some("15".into()),
                    ..Constraints::default()
                },
            ),
            declared(
                "name",
                DataType::String,
                true,
                Constraints {
                    pattern: Some("[a-z]+".into()),
                    max_null_percent: Some(30),
                    ..Constraints::default()
                },
            ),
            declared(
                "amount",
                DataType::Decimal,
                true,
                Constraints {
                    min: Some("-10.5".into()),
                    ..Constraints::default()
                },
            ),
            declared(
                "day",
                DataType::Date,
                false,
                Constraints {
                    allowed_values: vec!["2024-01-01".into(), "2024-01-02".into()],
                    ..Constraints::default()
                },
            ),
            declared("ghost", DataType::Boolean, true, Constraints::default()),
        ],
        quality: Quality {
            freshness_secs: Some(86_400 * 400),
            completeness_percent: Some(90),
            min_rows: Some(3),
            max_rows: Some(10),
            event_time_field: Some("day".into()),
        },
        csv: CsvDialect::default(),
        created_at: Timestamp(1_735_689_600_000),
        scratch: None,
    }
}

// ---------------------------------------------------------------------------
// Generated tables.

/// One generated row: (id, name, amount, day, extra).
type Row = (
    Option<i64>,
    Option<String>,
    Option<f64>,
    Option<i32>,
    Option<String>,
);

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.9, 0i64..20),
        prop::option::weighted(0.8, "[a-zA-Z ,\"é\n]{0,6}"),
        prop::option::weighted(0.8, (-2000i32..2000).prop_map(|c| f64::from(c) / 100.0)),
        prop::option::weighted(0.9, 19_720i32..19_730),
        prop::option::weighted(0.5, "[a-z0-9]{0,4}"),
    )
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(row(), 0..24)
}

/// A cell as CSV: quoted when it needs to be.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn date(days: i32) -> String {
    mesh_data::contract::value::date_text(days)
}

fn csv(rows: &[Row], junk: &[String]) -> Vec<u8> {
    let mut out = String::from("id,name,amount,day,extra\n");
    for (i, (id, name, amount, day, extra)) in rows.iter().enumerate() {
        let mut cells = [
            id.map(|v| v.to_string()).unwrap_or_default(),
            name.as_deref().map(csv_cell).unwrap_or_default(),
            amount.map(|v| v.to_string()).unwrap_or_default(),
            day.map(date).unwrap_or_default(),
            extra.clone().unwrap_or_default(),
        ];
        // Some cells replaced by text that is no value of the type.
        if let Some(j) = junk.get(i).filter(|j| !j.is_empty()) {
            cells[i % 4] = csv_cell(j);
        }
        out.push_str(&cells.join(","));
        out.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
    }
    out.into_bytes()
}

fn jsonl(rows: &[Row], junk: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for (i, (id, name, amount, day, extra)) in rows.iter().enumerate() {
        let mut object = serde_json::Map::new();
        let mut put = |key: &str, value: Option<Json>| {
            // Null as `null` on even rows, as a missing key on odd ones.
            match value {
                Some(v) => {
                    object.insert(key.to_owned(), v);
                }
                None if i % 2 == 0 => {
                    object.insert(key.to_owned(), Json::Null);
                }
                None => {}
            }
        };
        put("id", id.map(Json::from));
        put("name", name.clone().map(Json::from));
        put("amount", amount.map(Json::from));
        put("day", day.map(|d| Json::from(date(d))));
        put("extra", extra.clone().map(Json::from));
        if let Some(j) = junk.get(i).filter(|j| !j.is_empty()) {
            let key = ["id", "name", "amount", "day"][i % 4];
            object.insert(key.to_owned(), Json::from(j.clone()));
        }
        out.push_str(&Json::Object(object).to_string());
        out.push('\n');
        if i % 5 == 4 {
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn batch(rows: &[Row]) -> RecordBatch {
    let arrays: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
        ),
        (
            "name",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "amount",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
        (
            "day",
            Arc::new(Date32Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ),
        (
            "extra",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.4.clone()).collect::<Vec<_>>(),
            )),
        ),
    ];
    common::batch_of(arrays)
}

/// `batch` cut at the given sizes (cycling), at least one slice.
fn cut(batch: &RecordBatch, sizes: &[usize]) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < batch.num_rows() {
        let n = sizes[i % sizes.len()].max(1).min(batch.num_rows() - start);
        out.push(batch.slice(start, n));
        start += n;
        i += 1;
    }
    if out.is_empty() {
        out.push(batch.clone());
    }
    out
}

fn junk() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![Just(String::new()), "\\PC{1,6}"], 0..24)
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..40, 1..8)
}

// ---------------------------------------------------------------------------
// Checks.

/// The profile of `bytes` from a path, asserted equal to the profile of the
/// same path again (with an identical canonical encoding) and within its
/// size limits.
fn from_file(dir: &Dir, format: &Format, bytes: &[u8]) -> Profile {
    let c = contract();
    let path = dir.write("data", bytes);
    let first = profile_file(&path, format, &c).expect("the scratch directory works");
    let again = profile_file(&path, format, &c).expect("the scratch directory works");
    assert_eq!(first, again, "{format}: two profiles of one file differ");
    assert_eq!(encoding::to_bytes(&first), encoding::to_bytes(&again));
    assert_eq!(first.validate(), Ok(()), "{format}: {first:?}");
    first
}

/// Asserts the profile of `bytes` from a path equals their profile from a
/// whole-buffer stream and from a stream handing them over in `sizes`.
fn same_from_path_and_streams(dir: &Dir, format: &Format, bytes: &[u8], sizes: &[usize]) {
    let c = contract();
    let file = from_file(dir, format, bytes);
    let whole = profile_stream(Cursor::new(bytes.to_vec()), format, &c)
        .expect("the scratch directory works");
    assert_eq!(file, whole, "{format}: path and stream differ");
    assert_eq!(encoding::to_bytes(&file), encoding::to_bytes(&whole));
    let chunked =
        profile_stream(Chunky::new(bytes, sizes), format, &c).expect("the scratch directory works");
    assert_eq!(whole, chunked, "{format}: chunked reads {sizes:?} differ");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn text_formats_profile_the_same_however_read(
        rows in rows(),
        junk in junk(),
        sizes in sizes(),
    ) {
        let dir = Dir::new();
        let csv = csv(&rows, &junk);
        same_from_path_and_streams(&dir, &Format::Csv, &csv, &sizes);
        let jsonl = jsonl(&rows, &junk);
        same_from_path_and_streams(&dir, &Format::Jsonl, &jsonl, &sizes);
        // The generated rows are all there (blank JSON lines are not rows).
        let rows = rows.len() as u64;
        prop_assert_eq!(from_file(&dir, &Format::Csv, &csv).rows, rows);
        prop_assert_eq!(from_file(&dir, &Format::Jsonl, &jsonl).rows, rows);
    }

    #[test]
    fn typed_formats_profile_the_same_whatever_the_batches(
        rows in rows(),
        batches in sizes(),
        reads in sizes(),
    ) {
        let dir = Dir::new();
        let batch = batch(&rows);
        let whole = from_file(&dir, &Format::Parquet, &parquet_bytes(&batch, 1 << 20));
        prop_assert_eq!(whole.rows, rows.len() as u64);
        let groups = from_file(&dir, &Format::Parquet, &parquet_bytes(&batch, batches[0]));
        prop_assert_eq!(&whole, &groups);
        for ipc in [ipc_file_bytes(&cut(&batch, &batches)), ipc_stream_bytes(&cut(&batch, &batches))] {
            same_from_path_and_streams(&dir, &Format::Arrow, &ipc, &reads);
            let p = from_file(&dir, &Format::Arrow, &ipc);
            // Every format stores the same rows: the same profile.
            prop_assert_eq!(&p, &whole);
        }
    }

    #[test]
    fn arbitrary_bytes_give_a_bounded_profile_the_same_however_read(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        sizes in sizes(),
    ) {
        let dir = Dir::new();
        for format in [Format::Csv, Format::Jsonl] {
            same_from_path_and_streams(&dir, &format, &bytes, &sizes);
        }
        // Near-JSON and near-CSV: the structure parsers run further.
        let mut line = b"{\"id\":".to_vec();
        line.extend(&bytes);
        same_from_path_and_streams(&dir, &Format::Jsonl, &line, &sizes);
        let mut table = b"id,name,amount,day\n".to_vec();
        table.extend(&bytes);
        same_from_path_and_streams(&dir, &Format::Csv, &table, &sizes);
        for (format, head, tail) in [
            (Format::Parquet, &b"PAR1"[..], &b"PAR1"[..]),
            (Format::Arrow, &b"ARROW1\0\0"[..], &b"ARROW1"[..]),
            (Format::Arrow, &b"\xff\xff\xff\xff"[..], &b""[..]),
        ] {
            let mut framed = head.to_vec();
            framed.extend(&bytes);
            framed.extend(tail);
            from_file(&dir, &format, &framed);
            from_file(&dir, &format, &bytes);
            if format == Format::Arrow {
                let streamed = profile_stream(Chunky::new(&framed, &sizes), &format, &contract()).expect("the scratch directory works");
                prop_assert_eq!(streamed.validate(), Ok(()));
            }
        }
    }

    #[test]
    fn truncated_files_of_every_format_give_a_bounded_profile(
        rows in prop::collection::vec(row(), 1..12),
        keep in 0.0f64..1.0,
        sizes in sizes(),
    ) {
        let dir = Dir::new();
        let batch = batch(&rows);
        let cut_at = |bytes: &[u8]| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let n = (bytes.len() as f64 * keep) as usize;
            bytes[..n.min(bytes.len())].to_vec()
        };
        for format in [Format::Csv, Format::Jsonl] {
            let full = if format == Format::Csv { csv(&rows, &[]) } else { jsonl(&rows, &[]) };
            let part = cut_at(&full);
            same_from_path_and_streams(&dir, &format, &part, &sizes);
            // A prefix holds at most the rows of the whole.
            prop_assert!(from_file(&dir, &format, &part).rows <= rows.len() as u64);
        }
        for (format, full) in [
            (Format::Parquet, parquet_bytes(&batch, 3)),
            (Format::Arrow, ipc_file_bytes(&cut(&batch, &[3]))),
            (Format::Arrow, ipc_stream_bytes(&cut(&batch, &[3]))),
        ] {
            let part = cut_at(&full);
            let p = from_file(&dir, &format, &part);
            prop_assert!(p.rows <= rows.len() as u64);
            if format == Format::Arrow {
                let streamed = profile_stream(Chunky::new(&part, &sizes), &format, &contract()).expect("the scratch directory works");
                prop_assert_eq!(streamed.validate(), Ok(()));
                prop_assert!(streamed.rows <= rows.len() as u64);
            }
        }
    }
}

#[test]
fn interrupted_reads_are_retried() {
    // `Read` callers retry `Interrupted`; a reader that is interrupted on
    // every other call must profile like one that is not.
    let rows: Vec<Row> = (0..30)
        .map(|i| {
            (
                Some(i),
                Some(format!("n{i}")),
                Some(1.5),
                Some(19_720),
                None,
            )
        })
        .collect();
    let batch = batch(&rows);
    for (format, bytes) in [
        (Format::Csv, csv(&rows, &[])),
        (Format::Jsonl, jsonl(&rows, &[])),
        (Format::Arrow, ipc_stream_bytes(&cut(&batch, &[7]))),
    ] {
        let whole = profile_stream(Cursor::new(bytes.clone()), &format, &contract())
            .expect("the scratch directory works");
        let mut chunky = Chunky::new(&bytes, &[5, 17, 3]);
        chunky.interrupt = true;
        let interrupted =
            profile_stream(chunky, &format, &contract()).expect("the scratch directory works");
        assert_eq!(whole, interrupted, "{format}");
    }
}

#[test]
fn a_wide_hostile_header_still_gives_a_bounded_profile() {
    // Column names past the profile's text limit, and more columns than a
    // profile may list.
    let dir = Dir::new();
    let long = "é".repeat(200);
    let mut header: Vec<String> = (0..1100).map(|i| format!("c{i}")).collect();
    header[3] = long.clone();
    let mut bytes = header.join(",").into_bytes();
    bytes.push(b'\n');
    let p = from_file(&dir, &Format::Csv, &bytes);
    assert_eq!(p.fields.len(), mesh_protocol::descriptor::MAX_FIELDS);
    assert!(p.fields[3].name.len() <= mesh_protocol::profile::MAX_DETAIL_LEN);
    assert!(long.starts_with(&p.fields[3].name));
    let mut line = String::from("{");
    for i in 0..1100 {
        let _ = write!(line, "\"k{i:04}\":{i},");
    }
    let _ = writeln!(line, "\"{long}\":1}}");
    let p = from_file(&dir, &Format::Jsonl, line.as_bytes());
    assert_eq!(p.fields.len(), mesh_protocol::descriptor::MAX_FIELDS);
}
