//! JSON Lines reading: Arrow batches and raw objects, errors by row.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::{DataType, Field, Schema};
use common::{first_rows, int64s, options, read_bytes, strings};
use mesh_data::{Limits, Location, ReadError, jsonl_values};
use mesh_protocol::descriptor::Format;

const SAMPLE: &[u8] = b"{\"a\":1,\"b\":\"x\",\"c\":{\"d\":true}}\n\n{\"a\":2,\"b\":null}\r\n   \n{\"a\":3,\"b\":\"z\",\"c\":{\"d\":false}}\n{\"a\":4}\n{\"a\":5,\"b\":\"w\"}";

#[test]
fn jsonl_round_trips_with_an_inferred_schema() {
    let batches = read_bytes(SAMPLE, &options(Format::Jsonl, 2)).expect("read");
    // Blank lines are not rows.
    assert_eq!(first_rows(&batches), vec![(1, 2), (3, 2), (5, 1)]);
    assert_eq!(
        int64s(&batches, "a"),
        vec![Some(1), Some(2), Some(3), Some(4), Some(5)]
    );
    let b = strings(&batches, "b");
    assert_eq!(
        b,
        vec![
            Some("x".into()),
            None,
            Some("z".into()),
            None,
            Some("w".into())
        ]
    );
    let c = batches[1].batch.column_by_name("c").expect("c").as_struct();
    assert!(!c.column(0).as_boolean().value(0));
    assert!(c.is_null(1));
}

#[test]
fn jsonl_reads_with_a_given_schema() {
    let mut opts = options(Format::Jsonl, 10);
    opts.json_schema = Some(Arc::new(Schema::new(vec![Field::new(
        "a",
        DataType::Int64,
        false,
    )])));
    let batches = read_bytes(SAMPLE, &opts).expect("read");
    assert_eq!(batches[0].batch.num_columns(), 1);
    assert_eq!(
        batches[0]
            .batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec(),
        [1, 2, 3, 4, 5]
    );
    // A value of the wrong type is an error naming the batch's rows.
    let mut opts = options(Format::Jsonl, 2);
    opts.json_schema = Some(Arc::new(Schema::new(vec![Field::new(
        "a",
        DataType::Int64,
        true,
    )])));
    let err =
        read_bytes(b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":\"x\"}\n", &opts).expect_err("type");
    assert_eq!(err.location(), Some(Location::rows(3, 4)));
}

#[test]
fn jsonl_line_errors_name_the_row() {
    let cases: [(&[u8], u64, &str); 5] = [
        (b"{\"a\":1}\n[1]\n", 2, "row 2 is not a JSON object"),
        (
            b"{\"a\":1}\n\n{\"a\":2} {\"a\":3}\n",
            2,
            "row 2: trailing characters",
        ),
        (b"{\"a\":1}\n{\"a\":\n2}\n", 2, "row 2: EOF while parsing"),
        (b"{\"a\":1}\n{\"a\":\"\xff\"}\n", 2, "row 2: invalid UTF-8"),
        (b"{\"a\":1}\n{\"a\":1,,}\n", 2, "row 2: "),
    ];
    let mut opts = options(Format::Jsonl, 10);
    opts.json_schema = Some(Arc::new(Schema::new(vec![Field::new(
        "a",
        DataType::Int64,
        true,
    )])));
    for (text, row, message) in cases {
        let err = read_bytes(text, &opts).expect_err("bad row");
        assert_eq!(err.location().and_then(|l| l.row), Some(row), "{err}");
        assert!(err.to_string().contains(message), "{err}");
    }
}

#[test]
fn jsonl_long_line_is_a_limit_error() {
    let mut opts = options(Format::Jsonl, 10);
    opts.limits.max_row_bytes = 64;
    let mut text = b"{\"a\":1}\n{\"a\":\"".to_vec();
    text.extend(std::iter::repeat_n(b'x', 1 << 20));
    text.extend(b"\"}\n");
    let err = read_bytes(&text, &opts).expect_err("too long");
    assert!(matches!(err, ReadError::Limit { .. }), "{err}");
    assert_eq!(err.location(), Some(Location::row_at(2, 8)));
}

#[test]
fn jsonl_values_yield_objects_and_go_on_after_bad_rows() {
    let limits = Limits {
        max_row_bytes: 32,
        ..Limits::default()
    };
    let mut long = b"{\"k\":\"".to_vec();
    long.extend(std::iter::repeat_n(b'y', 100));
    long.extend(b"\"}");
    let mut text = b"{\"k\":1}\n\nnot json\n\"str\"\n".to_vec();
    text.extend(&long);
    text.extend(b"\n{\"k\":{\"n\":[1,2]}}");
    let got: Vec<Result<u64, u64>> = jsonl_values(Cursor::new(text), limits)
        .map(|r| match r {
            Ok((row, _)) => Ok(row),
            Err(e) => Err(e.location().and_then(|l| l.row).expect("row")),
        })
        .collect();
    assert_eq!(got, vec![Ok(1), Err(2), Err(3), Err(4), Ok(5)]);
    let last = jsonl_values(Cursor::new(b"{\"k\":{\"n\":[1,2]}}".to_vec()), limits)
        .next()
        .expect("one")
        .expect("ok");
    assert_eq!(last.1["k"]["n"][1], 2);
}

#[test]
fn jsonl_schema_inference_is_bounded() {
    // Rows beyond json_infer_rows do not shape the schema; their extra
    // fields are ignored.
    let mut opts = options(Format::Jsonl, 10);
    opts.json_infer_rows = 1;
    let batches = read_bytes(b"{\"a\":1}\n{\"a\":2,\"b\":\"new\"}\n", &opts).expect("read");
    assert_eq!(batches[0].batch.num_columns(), 1);
    assert_eq!(batches[0].batch.num_rows(), 2);
}
