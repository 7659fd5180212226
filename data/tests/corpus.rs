//! A corpus of small generated files, in every format, each breaking its
//! contract in known ways, with a clean twin that keeps it. The profile of
//! each is checked against the exact violation list (field, check, count,
//! first rows) the rules of `mesh_data::contract` give, and the profiles of
//! one logical table written in different formats are checked to agree.

#![allow(
    clippy::expect_used,
    reason = "a corpus that cannot be written is a broken test: it should panic"
)]

mod common;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use common::{Dir, batch_of, ipc_file_bytes, ipc_stream_bytes, parquet_bytes};
use mesh_data::contract::{Contract, profile_file, profile_stream};
use mesh_data::text::{parse_date, parse_timestamp};
use mesh_protocol::Timestamp;
use mesh_protocol::contract::{Constraints, CsvDialect};
use mesh_protocol::descriptor::{DataType, Field, Format, Quality};
use mesh_protocol::profile::{Check, FieldProfile, Profile};
use serde_json::Value as Json;

// ---------------------------------------------------------------------------
// Building files.

/// One cell of a logical table.
#[derive(Clone, Debug)]
enum V {
    I(i64),
    F(f64),
    S(String),
    Null,
    /// Null everywhere; in JSON Lines the key is left out of the row.
    Absent,
}

/// How a column is stored in the typed formats.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Int64,
    Int32,
    Float64,
    Utf8,
    /// `S` cells hold `YYYY-MM-DD`.
    Date,
    /// `S` cells hold RFC 3339 text.
    Timestamp,
}

struct Col {
    name: &'static str,
    kind: Kind,
    cells: Vec<V>,
}

fn col(name: &'static str, kind: Kind, cells: Vec<V>) -> Col {
    Col { name, kind, cells }
}

fn s(text: impl Into<String>) -> V {
    V::S(text.into())
}

fn csv_bytes(cols: &[Col]) -> Vec<u8> {
    let rows = cols[0].cells.len();
    let mut out = cols.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
    out.push('\n');
    for r in 0..rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match &c.cells[r] {
                V::I(i) => i.to_string(),
                V::F(f) => f.to_string(),
                V::S(t) => t.clone(),
                V::Null | V::Absent => String::new(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

fn jsonl_bytes(cols: &[Col]) -> Vec<u8> {
    let rows = cols[0].cells.len();
    let mut out = String::new();
    for r in 0..rows {
        let mut object = serde_json::Map::new();
        for c in cols {
            let value = match &c.cells[r] {
                V::I(i) => Json::from(*i),
                V::F(f) => Json::from(*f),
                V::S(t) => Json::from(t.clone()),
                V::Null => Json::Null,
                V::Absent => continue,
            };
            object.insert(c.name.to_owned(), value);
        }
        out.push_str(&Json::Object(object).to_string());
        out.push('\n');
    }
    out.into_bytes()
}

fn ints(c: &Col) -> Vec<Option<i64>> {
    c.cells
        .iter()
        .map(|v| match v {
            V::I(i) => Some(*i),
            V::Null | V::Absent => None,
            other => panic!("{}: {other:?} is not an integer", c.name),
        })
        .collect()
}

fn texts(c: &Col) -> Vec<Option<String>> {
    c.cells
        .iter()
        .map(|v| match v {
            V::S(t) => Some(t.clone()),
            V::Null | V::Absent => None,
            other => panic!("{}: {other:?} is not text", c.name),
        })
        .collect()
}

fn record_batch(cols: &[Col]) -> RecordBatch {
    let arrays: Vec<(&str, ArrayRef)> = cols
        .iter()
        .map(|c| {
            let array: ArrayRef = match c.kind {
                Kind::Int64 => Arc::new(Int64Array::from(ints(c))),
                Kind::Int32 => Arc::new(Int32Array::from(
                    ints(c)
                        .into_iter()
                        .map(|i| i.map(|i| i32::try_from(i).expect("int32 cell")))
                        .collect::<Vec<_>>(),
                )),
                Kind::Float64 => Arc::new(Float64Array::from(
                    c.cells
                        .iter()
                        .map(|v| match v {
                            V::F(f) => Some(*f),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                )),
                Kind::Utf8 => Arc::new(StringArray::from(texts(c))),
                Kind::Date => Arc::new(Date32Array::from(
                    texts(c)
                        .iter()
                        .map(|t| t.as_ref().map(|t| parse_date(t).expect("date cell")))
                        .collect::<Vec<_>>(),
                )),
                Kind::Timestamp => Arc::new(
                    TimestampMicrosecondArray::from(
                        texts(c)
                            .iter()
                            .map(|t| t.as_ref().map(|t| parse_timestamp(t).expect("ts cell")))
                            .collect::<Vec<_>>(),
                    )
                    .with_timezone("+00:00"),
                ),
            };
            (c.name, array)
        })
        .collect();
    batch_of(arrays)
}

/// `batch` cut into slices of `rows` rows, so files hold several batches
/// (or row groups) and row numbering crosses their boundaries.
fn slices(batch: &RecordBatch, rows: usize) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(rows)
        .map(|start| batch.slice(start, rows.min(batch.num_rows() - start)))
        .collect()
}

/// The same table in every format: (label, format, bytes).
fn every_format(batch: &RecordBatch, text: Option<&[Col]>) -> Vec<(&'static str, Format, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(cols) = text {
        out.push(("csv", Format::Csv, csv_bytes(cols)));
        out.push(("jsonl", Format::Jsonl, jsonl_bytes(cols)));
    }
    out.push(("parquet", Format::Parquet, parquet_bytes(batch, 5)));
    out.push((
        "arrow-file",
        Format::Arrow,
        ipc_file_bytes(&slices(batch, 5)),
    ));
    out.push((
        "arrow-stream",
        Format::Arrow,
        ipc_stream_bytes(&slices(batch, 5)),
    ));
    out
}

// ---------------------------------------------------------------------------
// Profiling and comparing.

/// Profiles `bytes` as `format` from a file, and (for the formats that
/// stream) from a reader, asserting both give the same profile.
fn profile(dir: &Dir, label: &str, format: &Format, bytes: &[u8], contract: &Contract) -> Profile {
    let path = dir.write(label, bytes);
    let from_file = profile_file(&path, format, contract).expect("the scratch directory works");
    if *format != Format::Parquet {
        let streamed = profile_stream(Cursor::new(bytes.to_vec()), format, contract)
            .expect("the scratch directory works");
        assert_eq!(from_file, streamed, "{label}: file and stream disagree");
    }
    assert_eq!(from_file.validate(), Ok(()), "{label}");
    from_file
}

type Found = (Option<String>, Check, u64, Vec<u64>);

fn v(field: &str, check: Check, count: u64, rows: &[u64]) -> Found {
    (Some(field.to_owned()), check, count, rows.to_vec())
}

fn product(check: Check, count: u64) -> Found {
    (None, check, count, Vec::new())
}

/// The profile's violations, without their details (each must have one).
fn found(p: &Profile) -> Vec<Found> {
    p.violations
        .iter()
        .map(|v| {
            assert!(!v.detail.is_empty(), "{v:?} has no detail");
            (v.field.clone(), v.check, v.count, v.first_rows.clone())
        })
        .collect()
}

fn field<'p>(p: &'p Profile, name: &str) -> &'p FieldProfile {
    p.fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name} in {p:?}"))
}

fn detail(p: &Profile, field: Option<&str>, check: Check) -> String {
    p.violations
        .iter()
        .find(|v| v.field.as_deref() == field && v.check == check)
        .map_or_else(
            || panic!("no {check} violation for {field:?}"),
            |v| v.detail.clone(),
        )
}

fn declared(name: &str, data_type: DataType, nullable: bool, constraints: Constraints) -> Field {
    let mut f = Field::new(name, data_type, nullable);
    f.constraints = constraints;
    f
}

fn millis(rfc3339: &str) -> Timestamp {
    let micros = parse_timestamp(rfc3339).expect("timestamp");
    Timestamp(u64::try_from(micros / 1000).expect("after 1970"))
}

fn contract(fields: Vec<Field>, quality: Quality) -> Contract {
    Contract {
        fields,
        quality,
        csv: CsvDialect::default(),
        created_at: millis("2024-06-02T00:00:00Z"),
        scratch: None,
    }
}

// ---------------------------------------------------------------------------
// The value checks: one table, every format.

const ROWS: i64 = 12;

/// The table of the value checks, clean or with its known violations.
fn orders(dirty: bool) -> Vec<Col> {
    let rows = 1..=ROWS;
    let id = rows
        .clone()
        .map(|r| V::I(if dirty && (r == 5 || r == 9) { 2 } else { r }))
        .collect();
    let code = rows
        .clone()
        .map(|r| match (dirty, r) {
            (true, 4) => s("ab-004"),
            (true, 10) => s("XY-10"),
            _ => s(format!("AB-{r:03}")),
        })
        .collect();
    let status = rows
        .clone()
        .map(|r| match (dirty, r) {
            (_, 12) => V::Null,
            (true, 2) => s("pending"),
            (true, 6) => s("OPEN"),
            _ => s(["new", "open", "closed"][usize::try_from(r % 3).expect("small")]),
        })
        .collect();
    let region = rows
        .clone()
        .map(|r| s(if r % 2 == 0 { "north" } else { "south" }))
        .collect();
    let qty = rows
        .clone()
        .map(|r| match (dirty, r) {
            (_, 1) => V::I(0),
            (_, 12) => V::I(100),
            (true, 3) => V::I(-5),
            (true, 7) => V::I(500),
            (true, 8) => V::I(101),
            _ => V::I(r * 7),
        })
        .collect();
    let score = rows
        .clone()
        .map(|r| {
            if r <= 3 || (dirty && r == 4) {
                V::Null
            } else {
                V::F(f64::from(u8::try_from(r).expect("small")) + 0.5)
            }
        })
        .collect();
    let name = rows
        .clone()
        .map(|r| match (dirty, r) {
            (true, 2) => V::Absent,
            (true, 3 | 5 | 6 | 8 | 11 | 12) => V::Null,
            _ => s(format!("n{r}")),
        })
        .collect();
    let day = rows
        .clone()
        .map(|r| match (dirty, r) {
            (_, 5) => V::Null,
            (true, 9) => s("2023-12-31"),
            _ => s(format!("2024-01-{r:02}")),
        })
        .collect();
    let ts = rows
        .clone()
        .map(|r| {
            let day = if dirty { "2024-05-30" } else { "2024-06-01" };
            s(format!("{day}T{r:02}:00:00Z"))
        })
        .collect();
    let extra = rows.map(|r| s(format!("x{r}"))).collect();
    let mut cols = vec![
        col("id", Kind::Int64, id),
        col("code", Kind::Utf8, code),
        col("status", Kind::Utf8, status),
        col("region", Kind::Utf8, region),
        col("qty", Kind::Int32, qty),
        col("score", Kind::Float64, score),
        col("name", Kind::Utf8, name),
        col("day", Kind::Date, day),
        col("ts", Kind::Timestamp, ts),
        col("extra", Kind::Utf8, extra),
    ];
    if dirty {
        cols.retain(|c| c.name != "region");
    }
    cols
}

fn orders_quality() -> Quality {
    Quality {
        freshness_secs: Some(86_400),
        completeness_percent: Some(80),
        min_rows: Some(10),
        max_rows: Some(12),
        event_time_field: Some("ts".to_owned()),
    }
}

fn orders_fields() -> Vec<Field> {
    let bounded = |min: Option<&str>, max: Option<&str>| Constraints {
        min: min.map(str::to_owned),
        max: max.map(str::to_owned),
        ..Constraints::default()
    };
    vec![
        declared(
            "id",
            DataType::Int64,
            false,
            Constraints {
                unique: true,
                ..Constraints::default()
            },
        ),
        declared(
            "code",
            DataType::String,
            false,
            Constraints {
                pattern: Some("[A-Z]{2}-[0-9]{3}".to_owned()),
                ..Constraints::default()
            },
        ),
        declared(
            "status",
            DataType::String,
            true,
            Constraints {
                allowed_values: vec!["new".into(), "open".into(), "closed".into()],
                ..Constraints::default()
            },
        ),
        declared("region", DataType::String, false, Constraints::default()),
        declared(
            "qty",
            DataType::Int32,
            false,
            bounded(Some("0"), Some("100")),
        ),
        declared(
            "score",
            DataType::Float64,
            true,
            Constraints {
                max_null_percent: Some(25),
                ..Constraints::default()
            },
        ),
        declared("name", DataType::String, false, Constraints::default()),
        declared(
            "day",
            DataType::Date,
            true,
            bounded(Some("2024-01-01"), None),
        ),
        declared("ts", DataType::Timestamp, false, Constraints::default()),
    ]
}

fn orders_files(dirty: bool) -> Vec<(&'static str, Format, Vec<u8>)> {
    let cols = orders(dirty);
    every_format(&record_batch(&cols), Some(&cols))
}

/// Every value violation, in declaration then check order, then the
/// product's.
fn orders_violations() -> Vec<Found> {
    // A declared field no JSON Lines row has is missing, as a column a
    // header leaves out is (a row without a key holds null there only
    // when some other row has it).
    let region = v("region", Check::Missing, 0, &[]);
    vec![
        v("id", Check::Unique, 2, &[5, 9]),
        v("code", Check::Pattern, 2, &[4, 10]),
        v("status", Check::AllowedValues, 2, &[2, 6]),
        region,
        v("qty", Check::Min, 1, &[3]),
        v("qty", Check::Max, 2, &[7, 8]),
        v("score", Check::NullShare, 4, &[]),
        v("name", Check::NotNull, 7, &[2, 3, 5, 6, 8]),
        v("day", Check::Min, 1, &[9]),
        product(Check::Completeness, 0),
        product(Check::Freshness, 0),
    ]
}

#[test]
fn value_violations_are_listed_exactly_in_every_format() {
    let dir = Dir::new();
    let contract = contract(orders_fields(), orders_quality());
    for (label, format, bytes) in orders_files(true) {
        let p = profile(&dir, label, &format, &bytes, &contract);
        assert_eq!(found(&p), orders_violations(), "{label}");
        assert_eq!(p.rows, 12, "{label}");
        // 83 of 9 x 12 declared cells hold a value.
        assert_eq!(p.completeness_percent, Some(76), "{label}");
        assert_eq!(p.more_violations, 0);
        assert!(!p.conforms());
        assert_eq!(
            p.notes,
            vec![r#"column "extra" is not declared"#],
            "{label}"
        );
        assert_eq!(
            detail(&p, None, Check::Freshness),
            "newest ts is 2024-05-30T12:00:00.000000Z, 216000s before publication; \
             at most 86400s promised",
            "{label}"
        );
        assert_eq!(
            detail(&p, None, Check::Completeness),
            "76% of declared cells hold a value; 80% promised"
        );
        assert_eq!(
            detail(&p, Some("score"), Check::NullShare),
            "4 of 12 rows are null; at most 25% may be"
        );
        assert!(detail(&p, Some("code"), Check::Pattern).contains("ab-004"));
        assert!(detail(&p, Some("status"), Check::AllowedValues).contains("pending"));
        assert_eq!(
            detail(&p, Some("qty"), Check::Max),
            "above the maximum 100",
            "{label}"
        );

        let qty = field(&p, "qty");
        assert_eq!(
            (qty.min.as_deref(), qty.max.as_deref()),
            (Some("-5"), Some("500"))
        );
        let id = field(&p, "id");
        assert_eq!((id.distinct, id.distinct_exact), (10, true), "{label}");
        assert_eq!(field(&p, "score").nulls, 4);
        assert_eq!(field(&p, "name").nulls, 7);
        assert_eq!(field(&p, "day").min.as_deref(), Some("2023-12-31"));
        assert_eq!(
            field(&p, "ts").max.as_deref(),
            Some("2024-05-30T12:00:00.000000Z")
        );
    }
}

#[test]
fn the_clean_twin_keeps_every_promise_in_every_format() {
    let dir = Dir::new();
    let contract = contract(orders_fields(), orders_quality());
    for (label, format, bytes) in orders_files(false) {
        let p = profile(&dir, label, &format, &bytes, &contract);
        assert_eq!(found(&p), vec![], "{label}");
        assert!(p.conforms(), "{label}");
        assert_eq!(p.rows, 12, "{label}");
        // 103 of 108: status row 12, score rows 1-3 and day row 5 are null.
        assert_eq!(p.completeness_percent, Some(95), "{label}");
        assert_eq!(
            p.notes,
            vec![r#"column "extra" is not declared"#],
            "{label}"
        );
        // Bounds are inclusive: 0 and 100 are in, 3 of 12 nulls is 25%.
        let qty = field(&p, "qty");
        assert_eq!(
            (qty.min.as_deref(), qty.max.as_deref()),
            (Some("0"), Some("100"))
        );
        assert_eq!(field(&p, "score").nulls, 3);
    }
}

#[test]
fn row_count_bounds_are_product_violations_after_the_fields() {
    let dir = Dir::new();
    for (min, max) in [(Some(13), None), (None, Some(11)), (Some(13), Some(11))] {
        let quality = Quality {
            min_rows: min,
            max_rows: max,
            ..orders_quality()
        };
        let contract = contract(orders_fields(), quality);
        let broken = usize::from(min.is_some()) + usize::from(max.is_some());
        for (label, format, bytes) in orders_files(false) {
            let p = profile(&dir, label, &format, &bytes, &contract);
            assert_eq!(
                found(&p),
                vec![product(Check::RowCount, 12); broken],
                "{label}"
            );
            if let Some(min) = min {
                assert_eq!(
                    p.violations[0].detail,
                    format!("12 rows; at least {min} promised")
                );
            }
            if let Some(max) = max {
                assert_eq!(
                    p.violations[broken - 1].detail,
                    format!("12 rows; at most {max} promised")
                );
            }
        }
        // The dirty table: the row count comes after the field violations
        // and before completeness and freshness.
        for (label, format, bytes) in orders_files(true) {
            let p = profile(&dir, label, &format, &bytes, &contract);
            let mut expected = orders_violations();
            let at = expected.len() - 2;
            for _ in 0..broken {
                expected.insert(at, product(Check::RowCount, 12));
            }
            assert_eq!(found(&p), expected, "{label}");
        }
    }
}

/// Everything but `stored_as`, by name: what a column holds must not depend
/// on the format it was written in.
fn by_name(p: &Profile) -> BTreeMap<String, FieldProfile> {
    p.fields
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.stored_as = None;
            (f.name.clone(), f)
        })
        .collect()
}

#[test]
fn one_table_has_one_profile_whatever_the_format() {
    let dir = Dir::new();
    let contract = contract(orders_fields(), orders_quality());
    for dirty in [true, false] {
        let files = orders_files(dirty);
        let profiles: Vec<(&str, Profile)> = files
            .iter()
            .map(|(label, format, bytes)| (*label, profile(&dir, label, format, bytes, &contract)))
            .collect();
        let (_, csv) = &profiles[0];
        let names: Vec<&str> = csv.fields.iter().map(|f| f.name.as_str()).collect();
        let mut expected = vec![
            "id", "code", "status", "region", "qty", "score", "name", "day", "ts", "extra",
        ];
        if dirty {
            expected.retain(|n| *n != "region");
        }
        assert_eq!(names, expected, "csv keeps file order");
        assert!(csv.fields.iter().all(|f| f.stored_as.is_none()));
        for (label, p) in &profiles[1..] {
            let theirs = by_name(p);
            let mut ours = by_name(csv);
            if *label == "jsonl" {
                assert!(p.fields.iter().all(|f| f.stored_as.is_none()));
                // The field absent from every line is missing, not profiled.
                assert_eq!(theirs.contains_key("region"), !dirty);
            } else {
                let names: Vec<&str> = p.fields.iter().map(|f| f.name.as_str()).collect();
                assert_eq!(names, expected, "{label} keeps file order");
                assert_eq!(field(p, "id").stored_as, Some(DataType::Int64));
                assert_eq!(field(p, "qty").stored_as, Some(DataType::Int32));
                assert_eq!(field(p, "day").stored_as, Some(DataType::Date));
                assert_eq!(field(p, "ts").stored_as, Some(DataType::Timestamp));
            }
            ours.retain(|k, _| theirs.contains_key(k));
            assert_eq!(theirs, ours, "{label} and csv disagree (dirty: {dirty})");
            // Details too: the same words whatever the format.
            assert_eq!(p.violations, csv.violations, "{label}");
            assert_eq!(p.completeness_percent, csv.completeness_percent, "{label}");
        }
    }
}

// ---------------------------------------------------------------------------
// The type checks: cell by cell in the text formats, column by column in the
// typed ones.

fn typed_fields() -> Vec<Field> {
    vec![
        declared("i32", DataType::Int32, true, Constraints::default()),
        declared("dec", DataType::Decimal, true, Constraints::default()),
        declared("d", DataType::Date, true, Constraints::default()),
        declared("t", DataType::Timestamp, true, Constraints::default()),
        declared("b", DataType::Boolean, true, Constraints::default()),
        declared("s", DataType::String, false, Constraints::default()),
    ]
}

fn raw_csv(lines: &[&str]) -> Vec<u8> {
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

#[test]
fn csv_cells_that_are_not_values_of_their_type() {
    let dir = Dir::new();
    let contract = contract(typed_fields(), Quality::default());
    let dirty = raw_csv(&[
        "i32,dec,d,t,b,s",
        "1,1.50,2023-02-29,2024-01-01T00:00:00Z,true,a",
        "3000000000,1.2.3,2024-02-29,2024-01-01 25:00,FALSE,b",
        "-2147483649,-0.5,2024-13-01,2024-01-01 23:59,yes,c",
        "2147483647,abc,2024-12-31,yesterday,1,d",
        "-2147483648,1e5,24-01-01,2024-01-01t10:00:00.5+02:00,True,",
    ]);
    let p = profile(&dir, "types.csv", &Format::Csv, &dirty, &contract);
    assert_eq!(
        found(&p),
        vec![
            v("i32", Check::Type, 2, &[2, 3]),
            v("dec", Check::Type, 3, &[2, 4, 5]),
            v("d", Check::Type, 3, &[1, 3, 5]),
            v("t", Check::Type, 2, &[2, 4]),
            v("b", Check::Type, 2, &[3, 4]),
            v("s", Check::NotNull, 1, &[5]),
        ]
    );
    assert_eq!(
        detail(&p, Some("i32"), Check::Type),
        r#"expected a value of type Int32, found "3000000000""#
    );
    // A value that is not one counts neither as a value nor as a null.
    let i32s = field(&p, "i32");
    assert_eq!(
        (i32s.nulls, i32s.min.as_deref(), i32s.max.as_deref()),
        (0, Some("-2147483648"), Some("2147483647"))
    );
    let t = field(&p, "t");
    assert_eq!(t.min.as_deref(), Some("2024-01-01T00:00:00.000000Z"));
    assert_eq!(t.max.as_deref(), Some("2024-01-01T23:59:00.000000Z"));
    assert_eq!(field(&p, "dec").min.as_deref(), Some("-0.5"));
    // 30 cells: 12 invalid, 1 null.
    assert_eq!(p.completeness_percent, Some(56));

    let clean = raw_csv(&[
        "i32,dec,d,t,b,s",
        "1,1.50,2024-02-29,2024-01-01T00:00:00Z,true,a",
        ",007.50,2024-03-01,2024-01-01 23:00,FALSE,b",
        "-2147483648,-0.5,2024-12-31,2024-01-01T10:00:00.5+02:00,True,c",
    ]);
    let p = profile(&dir, "types-clean.csv", &Format::Csv, &clean, &contract);
    assert_eq!(found(&p), vec![]);
    assert_eq!(field(&p, "dec").max.as_deref(), Some("7.5"));
    assert_eq!(
        field(&p, "t").min.as_deref(),
        Some("2024-01-01T00:00:00.000000Z")
    );
}

#[test]
fn csv_empty_cells_are_nulls_unless_the_dialect_says_otherwise() {
    let dir = Dir::new();
    let fields = vec![
        declared("s", DataType::String, false, Constraints::default()),
        declared("n", DataType::Int64, true, Constraints::default()),
    ];
    let bytes = raw_csv(&["s;n", "a;1", ";NA", "NA;", "b;2"]);
    let with = |null: &str, empty_is_value: bool| {
        let mut c = contract(fields.clone(), Quality::default());
        c.csv = CsvDialect {
            delimiter: b';',
            null: null.to_owned(),
            empty_is_value,
            ..CsvDialect::default()
        };
        let label = format!("dialect-{null}-{empty_is_value}.csv");
        found(&profile(&dir, &label, &Format::Csv, &bytes, &c))
    };
    // "NA" is null and "" a value: an empty string, but not an integer.
    assert_eq!(
        with("NA", true),
        vec![
            v("s", Check::NotNull, 1, &[3]),
            v("n", Check::Type, 1, &[3])
        ]
    );
    // Both "NA" and "" are null.
    assert_eq!(with("NA", false), vec![v("s", Check::NotNull, 2, &[2, 3])]);
    // Only "" is null; "NA" is a string, and not an integer.
    assert_eq!(
        with("", true),
        vec![
            v("s", Check::NotNull, 1, &[2]),
            v("n", Check::Type, 1, &[2])
        ]
    );
    // The clean twin under the first dialect.
    let clean = raw_csv(&["s;n", "a;1", ";NA", "b;2"]);
    let mut c = contract(fields, Quality::default());
    c.csv = CsvDialect {
        delimiter: b';',
        null: "NA".to_owned(),
        empty_is_value: true,
        ..CsvDialect::default()
    };
    let p = profile(&dir, "dialect-clean.csv", &Format::Csv, &clean, &c);
    assert_eq!(found(&p), vec![]);
    assert_eq!(field(&p, "s").min.as_deref(), Some(""));
    assert_eq!(field(&p, "n").nulls, 1);
}

#[test]
fn json_values_that_are_not_values_of_their_type() {
    let dir = Dir::new();
    let contract = contract(typed_fields(), Quality::default());
    let dirty = concat!(
        r#"{"i32":1,"dec":1.5,"d":"2023-02-29","t":"2024-01-01T00:00:00Z","b":true,"s":"a"}"#,
        "\n",
        r#"{"i32":3000000000,"dec":"1.2.3","d":"2024-02-29","t":null,"b":"true","s":"b"}"#,
        "\n",
        r#"{"i32":"5","dec":"2.50","d":"2024-13-01","t":1700000000,"b":false}"#,
        "\n",
        "\n",
        r#"{"i32":-2147483648,"dec":true,"d":20240101,"t":"2024-01-02","b":1,"s":42}"#,
        "\n",
        r#"{"i32":2147483647,"dec":-0.25,"d":"2024-12-31","t":"2024-01-01 23:00","b":null,"s":null}"#,
        "\n",
    );
    let p = profile(
        &dir,
        "types.jsonl",
        &Format::Jsonl,
        dirty.as_bytes(),
        &contract,
    );
    // The blank line is not a row: the rows are 1, 2, 3, 4, 5.
    assert_eq!(p.rows, 5);
    assert_eq!(
        found(&p),
        vec![
            v("i32", Check::Type, 2, &[2, 3]),
            v("dec", Check::Type, 2, &[2, 4]),
            v("d", Check::Type, 3, &[1, 3, 4]),
            v("t", Check::Type, 1, &[3]),
            v("b", Check::Type, 2, &[2, 4]),
            v("s", Check::Type, 1, &[4]),
            v("s", Check::NotNull, 2, &[3, 5]),
        ]
    );
    let dec = field(&p, "dec");
    assert_eq!(
        (dec.min.as_deref(), dec.max.as_deref()),
        (Some("-0.25"), Some("2.5"))
    );
    assert_eq!(field(&p, "t").nulls, 1);
    assert_eq!(field(&p, "b").nulls, 1);

    let clean = concat!(
        r#"{"i32":1,"dec":1.5,"d":"2024-02-29","t":"2024-01-01T00:00:00Z","b":true,"s":"a"}"#,
        "\n",
        r#"{"i32":null,"dec":"007.50","t":"2024-01-02","b":false,"s":""}"#,
        "\n",
    );
    let p = profile(
        &dir,
        "types-clean.jsonl",
        &Format::Jsonl,
        clean.as_bytes(),
        &contract,
    );
    assert_eq!(found(&p), vec![]);
    assert_eq!(field(&p, "dec").max.as_deref(), Some("7.5"));
    assert_eq!(field(&p, "d").nulls, 1);
}

#[test]
fn a_broken_jsonl_line_is_unreadable_and_the_rows_before_it_are_checked() {
    let dir = Dir::new();
    let fields = vec![declared(
        "id",
        DataType::Int64,
        false,
        Constraints::default(),
    )];
    let contract = contract(fields, Quality::default());
    let bytes = b"{\"id\":1}\n{\"id\":null}\n{\"id\":\"x\"}\n{\"id\":4,\n{\"id\":5}\n";
    let p = profile(&dir, "broken.jsonl", &Format::Jsonl, bytes, &contract);
    assert_eq!(
        found(&p),
        vec![
            product(Check::Unreadable, 0),
            v("id", Check::Type, 1, &[3]),
            v("id", Check::NotNull, 1, &[2]),
        ]
    );
    assert_eq!(p.rows, 3);
}

/// The typed table: stored types that do and do not widen to the declared
/// ones.
fn typed_batch(dirty: bool) -> RecordBatch {
    let arrays: Vec<(&str, ArrayRef)> = vec![
        (
            "n64",
            if dirty {
                arc(StringArray::from(vec![
                    Some("1"),
                    Some("2"),
                    None,
                    Some("x"),
                    Some("5"),
                ]))
            } else {
                arc(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    None,
                    Some(4),
                    Some(5),
                ]))
            },
        ),
        (
            "n32",
            if dirty {
                arc(Int64Array::from(vec![
                    Some(1),
                    Some(3_000_000_000),
                    Some(3),
                    None,
                    Some(5),
                ]))
            } else {
                arc(Int16Array::from(vec![
                    Some(1),
                    Some(2),
                    Some(3),
                    None,
                    Some(5),
                ]))
            },
        ),
        (
            "dec",
            if dirty {
                arc(Float64Array::from(vec![1.5, 2.25, -3.0, 4.0, 5.125]))
            } else {
                arc(Decimal128Array::from(vec![150, 225, -300, 400, 513])
                    .with_precision_and_scale(10, 2)
                    .expect("decimal"))
            },
        ),
        (
            "flag",
            if dirty {
                arc(Int32Array::from(vec![1, 0, 1, 0, 1]))
            } else {
                arc(BooleanArray::from(vec![true, false, true, false, true]))
            },
        ),
        ("w_i64", arc(Int32Array::from(vec![1, 2, 3, 4, 5]))),
        ("w_ts", arc(Date32Array::from(vec![0, 1, 2, 3, 19_000]))),
        (
            "w_f64",
            arc(Float32Array::from(vec![0.5, 1.5, 2.5, 3.5, 4.5])),
        ),
        ("w_dec", arc(Int64Array::from(vec![10, 20, 30, 40, 50]))),
        ("w_str", arc(Int64Array::from(vec![7, 8, 9, 10, 11]))),
        (
            "nn",
            arc(Int64Array::from(if dirty {
                vec![Some(1), None, Some(3), None, Some(5)]
            } else {
                vec![Some(1), Some(2), Some(3), Some(4), Some(5)]
            })),
        ),
    ];
    batch_of(arrays)
}

fn arc(array: impl arrow_array::Array + 'static) -> ArrayRef {
    Arc::new(array)
}

fn typed_contract() -> Contract {
    let bounded = |min: &str| Constraints {
        min: Some(min.to_owned()),
        ..Constraints::default()
    };
    contract(
        vec![
            declared("n64", DataType::Int64, true, Constraints::default()),
            declared("n32", DataType::Int32, true, Constraints::default()),
            declared("dec", DataType::Decimal, true, Constraints::default()),
            declared("flag", DataType::Boolean, true, Constraints::default()),
            declared("w_i64", DataType::Int64, false, bounded("1")),
            declared("w_ts", DataType::Timestamp, false, Constraints::default()),
            declared("w_f64", DataType::Float64, false, Constraints::default()),
            // An integer declared decimal compares as a decimal.
            declared("w_dec", DataType::Decimal, false, bounded("9.5")),
            declared("w_str", DataType::String, false, Constraints::default()),
            declared("nn", DataType::Int64, false, Constraints::default()),
        ],
        Quality::default(),
    )
}

#[test]
fn typed_columns_whose_stored_type_does_not_widen_are_one_violation_each() {
    let dir = Dir::new();
    let contract = typed_contract();
    for (label, format, bytes) in every_format(&typed_batch(true), None) {
        let p = profile(&dir, label, &format, &bytes, &contract);
        assert_eq!(
            found(&p),
            vec![
                v("n64", Check::Type, 4, &[1, 2, 4, 5]),
                v("n32", Check::Type, 4, &[1, 2, 3, 5]),
                v("dec", Check::Type, 5, &[1, 2, 3, 4, 5]),
                v("flag", Check::Type, 5, &[1, 2, 3, 4, 5]),
                v("nn", Check::NotNull, 2, &[2, 4]),
            ],
            "{label}"
        );
        assert_eq!(
            detail(&p, Some("n64"), Check::Type),
            r#"expected a value of type Int64, found "a String column""#,
            "{label}"
        );
        let n64 = field(&p, "n64");
        assert_eq!(n64.stored_as, Some(DataType::String), "{label}");
        assert_eq!((n64.nulls, n64.min.as_deref()), (1, None), "{label}");
        assert_eq!(field(&p, "n32").stored_as, Some(DataType::Int64));
        assert_eq!(field(&p, "dec").stored_as, Some(DataType::Float64));
        assert_eq!(field(&p, "flag").stored_as, Some(DataType::Int32));
        // 50 cells: 18 of the wrong stored type, 4 null.
        assert_eq!(p.completeness_percent, Some(56), "{label}");
    }
}

#[test]
fn typed_columns_that_widen_to_the_declared_type_keep_the_contract() {
    let dir = Dir::new();
    let contract = typed_contract();
    for (label, format, bytes) in every_format(&typed_batch(false), None) {
        let p = profile(&dir, label, &format, &bytes, &contract);
        assert_eq!(found(&p), vec![], "{label}");
        assert_eq!(p.notes, Vec::<String>::new(), "{label}");
        assert_eq!(p.completeness_percent, Some(96), "{label}");
        let stored: Vec<Option<DataType>> = p.fields.iter().map(|f| f.stored_as).collect();
        assert_eq!(
            stored,
            [
                DataType::Int64,
                DataType::Int32,
                DataType::Decimal,
                DataType::Boolean,
                DataType::Int32,
                DataType::Date,
                DataType::Float32,
                DataType::Int64,
                DataType::Int64,
                DataType::Int64,
            ]
            .map(Some)
            .to_vec(),
            "{label}"
        );
        let dec = field(&p, "dec");
        assert_eq!(
            (dec.min.as_deref(), dec.max.as_deref()),
            (Some("-3"), Some("5.13"))
        );
        assert_eq!(field(&p, "w_ts").max.as_deref(), Some("2022-01-08"));
        assert_eq!(field(&p, "w_dec").min.as_deref(), Some("10"));
    }
}

#[test]
fn typed_bounds_are_checked_through_widening() {
    let dir = Dir::new();
    let mut contract = typed_contract();
    // w_dec holds 10..50, compared as decimals against 20.5; w_i64 holds
    // 1..5 (Int32 stored) against 3.
    contract.fields[7].constraints.min = Some("20.5".to_owned());
    contract.fields[4].constraints.max = Some("3".to_owned());
    for (label, format, bytes) in every_format(&typed_batch(false), None) {
        let p = profile(&dir, label, &format, &bytes, &contract);
        assert_eq!(
            found(&p),
            vec![
                v("w_i64", Check::Max, 2, &[4, 5]),
                v("w_dec", Check::Min, 2, &[1, 2]),
            ],
            "{label}"
        );
    }
}

#[test]
fn freshness_against_a_date_field_and_without_an_event_time_field() {
    let dir = Dir::new();
    let fields = vec![declared(
        "day",
        DataType::Date,
        true,
        Constraints::default(),
    )];
    let bytes = raw_csv(&["day", "2024-05-30", "", "2024-05-31"]);
    // The newest date is midnight on 2024-05-31: 86400 s before
    // 2024-06-01T00:00Z is just fresh, one second later is not.
    let mut c = contract(
        fields.clone(),
        Quality {
            freshness_secs: Some(86_400),
            event_time_field: Some("day".to_owned()),
            ..Quality::default()
        },
    );
    c.created_at = millis("2024-06-01T00:00:00Z");
    assert_eq!(
        found(&profile(&dir, "fresh.csv", &Format::Csv, &bytes, &c)),
        vec![]
    );
    c.created_at = millis("2024-06-01T00:00:01Z");
    let p = profile(&dir, "stale.csv", &Format::Csv, &bytes, &c);
    assert_eq!(found(&p), vec![product(Check::Freshness, 0)]);
    assert_eq!(
        detail(&p, None, Check::Freshness),
        "newest day is 2024-05-31T00:00:00.000000Z, 86401s before publication; \
         at most 86400s promised"
    );
    // An event-time field with no value shows nothing is fresh.
    let empty = raw_csv(&["day", "", ""]);
    let p = profile(&dir, "novalue.csv", &Format::Csv, &empty, &c);
    assert_eq!(found(&p), vec![product(Check::Freshness, 0)]);
    // Without an event-time field, freshness is not measured, and says so.
    c.quality.event_time_field = None;
    let p = profile(&dir, "unmeasured.csv", &Format::Csv, &bytes, &c);
    assert_eq!(found(&p), vec![]);
    assert_eq!(
        p.notes,
        vec!["freshness is not measured: no event_time_field is declared"]
    );
}

#[test]
fn the_corpus_reads_the_same_from_a_path_as_through_every_reader() {
    // A guard on the corpus itself: every file it writes is readable, so
    // the violations above come from the contract, not from a broken file.
    let dir = Dir::new();
    let mut files = orders_files(true);
    files.extend(orders_files(false));
    files.extend(every_format(&typed_batch(true), None));
    files.extend(every_format(&typed_batch(false), None));
    for (label, format, bytes) in files {
        let path: &Path = &dir.write(label, &bytes);
        let batches = common::read_path(path, &mesh_data::ReadOptions::new(format.clone()))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let rows: usize = batches.iter().map(|b| b.batch.num_rows()).sum();
        assert!(rows == 12 || rows == 5, "{label}: {rows} rows");
    }
}

/// One required int64 field, `id`, declared unique.
fn unique_id_contract() -> Contract {
    let unique = Constraints {
        unique: true,
        ..Constraints::default()
    };
    contract(
        vec![declared("id", DataType::Int64, false, unique)],
        Quality::default(),
    )
}

#[test]
fn unique_is_checked_over_every_value_past_the_memory_buffer() {
    // More rows than the unique check keeps in memory, so it spills sorted
    // runs to the scratch directory and merges them: repeats on both sides
    // of the spill are found, with their rows, and nothing else is.
    let dir = Dir::new();
    let rows = mesh_data::contract::UNIQUE_BUFFER_PAIRS as u64 + 50_000;
    let late = rows - 20_000;
    let mut csv = String::from("id\n");
    for row in 1..=rows {
        let id = match row {
            3 => 1,                     // repeats row 1, in memory
            r if r == late => 2,        // repeats row 2, across runs
            r if r == rows => late - 1, // repeats the row before
            r => r,
        };
        csv.push_str(&id.to_string());
        csv.push('\n');
    }
    let scratch = dir.0.path().join("scratch");
    std::fs::create_dir(&scratch).expect("scratch dir");
    let c = unique_id_contract().with_scratch(scratch.clone());
    let p = profile(&dir, "many.csv", &Format::Csv, csv.as_bytes(), &c);
    assert_eq!(p.rows, rows);
    assert_eq!(
        found(&p),
        vec![(Some("id".into()), Check::Unique, 3, vec![3, late, rows])]
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    // The runs were unnamed files: nothing is left behind.
    assert_eq!(std::fs::read_dir(&scratch).expect("read").count(), 0);
    // A scratch directory that is gone is the checker's failure, not the
    // data's: an error, never a profile.
    std::fs::remove_dir(&scratch).expect("remove");
    let path = dir.write("again.csv", csv.as_bytes());
    assert!(profile_file(&path, &Format::Csv, &c).is_err());
}

#[test]
fn a_repeated_column_name_is_profiled_once() {
    // Two columns named `id`: a header or schema may repeat a name. Only
    // the first is checked against the declared field (and the profile says
    // so); merging both into one column made the violations and the field
    // profile disagree (two nulls reported as `not-null` violations while
    // the field profile counted none, completeness over 100% before the
    // cap) and, in typed formats, let the second column's stored type
    // condemn the first column's values.
    let dir = Dir::new();
    let c = unique_id_contract();
    let ipc = {
        let batch = batch_of(vec![
            ("id", arc(Int64Array::from(vec![1, 2]))),
            ("id", arc(StringArray::from(vec![None, Some("x")]))),
        ]);
        ipc_stream_bytes(&[batch])
    };
    for (label, format, bytes) in [
        (
            "repeated.csv",
            Format::Csv,
            raw_csv(&["id,id", "1,", "2,x"]),
        ),
        ("repeated.arrow", Format::Arrow, ipc),
    ] {
        let p = profile(&dir, label, &format, &bytes, &c);
        assert_eq!(found(&p), vec![], "{label}");
        assert_eq!(p.fields.len(), 1, "{label}");
        assert_eq!(field(&p, "id").nulls, 0, "{label}");
        assert_eq!(field(&p, "id").max.as_deref(), Some("2"), "{label}");
        assert_eq!(p.completeness_percent, Some(100), "{label}");
        assert_eq!(
            p.notes,
            vec![r#"column "id" appears more than once; only the first is profiled"#],
            "{label}"
        );
    }
}
