//! Schema inference over whole files of each format.

mod common;

use common::{
    Dir, ipc_file_bytes, ipc_stream_bytes, options, parquet_bytes, read_path, sample_batch,
};
use mesh_data::{InferredField, infer};
use mesh_protocol::descriptor::{DataType, Format};

fn field(name: &str, data_type: DataType, nulls_seen: bool) -> InferredField {
    InferredField {
        name: name.into(),
        data_type,
        nulls_seen,
        children: Vec::new(),
    }
}

fn with(mut f: InferredField, children: Vec<InferredField>) -> InferredField {
    f.children = children;
    f
}

#[test]
fn infer_csv_picks_the_narrowest_type_of_every_cell() {
    let text = "b,i32,i64,f,d,ts,s,empty,mixed_dt\n\
                TRUE,1,1,1,2024-01-01,2024-01-01T10:00:00Z,x,,2024-01-01\n\
                false,-2,9000000000,2.5,2024-02-29,2024-01-01 10:00,1,,2024-01-01T00:00:00+02:00\n\
                ,3,,1e3,,2024-01-01T10:00:00.5,,,\n";
    let dir = Dir::new();
    let path = dir.write("i.csv", text.as_bytes());
    let got = infer(&path, &options(Format::Csv, 2)).expect("infer");
    assert_eq!(got.rows, 3);
    assert_eq!(
        got.fields,
        vec![
            field("b", DataType::Boolean, true),
            field("i32", DataType::Int32, false),
            field("i64", DataType::Int64, true),
            field("f", DataType::Float64, false),
            field("d", DataType::Date, true),
            field("ts", DataType::Timestamp, false),
            field("s", DataType::String, true),
            field("empty", DataType::String, true),
            field("mixed_dt", DataType::Timestamp, true),
        ]
    );
}

#[test]
fn infer_jsonl_from_every_value() {
    let text = br#"{"i":1,"big":1,"huge":1,"f":1,"d":"2024-01-01","t":"2024-01-01","s":"2024-01-01","m":1,"o":{"x":1,"y":"a"},"a":[1,2]}
{"i":2,"big":5000000000,"huge":18446744073709551615,"f":1.5,"d":"2024-01-02","t":"2024-01-02T03:04:05Z","s":"hello","m":"1","o":{"x":null},"a":[]}
{"i":3,"big":null,"huge":2,"f":2,"d":"2024-01-03","t":"2024-01-03","s":"x","m":true,"a":[3,null]}
"#;
    let dir = Dir::new();
    let path = dir.write("i.jsonl", text);
    let got = infer(&path, &options(Format::Jsonl, 2)).expect("infer");
    assert_eq!(got.rows, 3);
    assert_eq!(
        got.fields,
        // serde_json sorts an object's keys: fields come in key order.
        vec![
            with(
                field("a", DataType::Array, false),
                vec![field("items", DataType::Int32, true)]
            ),
            field("big", DataType::Int64, true),
            field("d", DataType::Date, false),
            field("f", DataType::Float64, false),
            field("huge", DataType::Decimal, false),
            field("i", DataType::Int32, false),
            field("m", DataType::String, false),
            // Missing in row 3: nullable; "y" missing in row 2.
            with(
                field("o", DataType::Object, true),
                vec![
                    field("x", DataType::Int32, true),
                    field("y", DataType::String, true)
                ]
            ),
            field("s", DataType::String, false),
            field("t", DataType::Timestamp, false),
        ]
    );
    // The inferred schema reads the file back as Arrow.
    // (Without the decimal, which arrow-json decodes from numbers only with
    // the scale it is given, and the mixed field, stored as a string.)
    let mut opts = options(Format::Jsonl, 10);
    let mut narrower = got.clone();
    narrower
        .fields
        .retain(|f| f.name != "huge" && f.name != "m");
    opts.json_schema = Some(std::sync::Arc::new(narrower.arrow_schema()));
    let batches = read_path(&path, &opts).expect("read with inferred schema");
    assert_eq!(batches[0].batch.num_rows(), 3);
}

#[test]
fn infer_jsonl_bad_row_is_an_error_naming_it() {
    let dir = Dir::new();
    let path = dir.write("b.jsonl", b"{\"a\":1}\n{\"a\":\n");
    let err = infer(&path, &options(Format::Jsonl, 2)).expect_err("bad row");
    assert_eq!(err.location().and_then(|l| l.row), Some(2));
    let mut opts = options(Format::Jsonl, 2);
    opts.limits.max_columns = 2;
    let path = dir.write("w.jsonl", b"{\"a\":1,\"b\":{\"c\":1}}\n");
    let err = infer(&path, &opts).expect_err("too many fields");
    assert!(
        err.to_string()
            .contains("more than max_columns (2) distinct fields"),
        "{err}"
    );
}

fn expected_arrow_fields() -> Vec<InferredField> {
    vec![
        field("id", DataType::Int64, false),
        field("name", DataType::String, true),
        field("score", DataType::Float64, false),
        field("day", DataType::Date, false),
        with(
            field("tags", DataType::Array, false),
            vec![field("items", DataType::String, false)],
        ),
        with(
            field("info", DataType::Object, false),
            vec![field("x", DataType::Int32, true)],
        ),
        field("cat", DataType::String, false),
    ]
}

#[test]
fn infer_parquet_and_ipc_map_the_file_schema() {
    let dir = Dir::new();
    let files = [
        (
            Format::Parquet,
            dir.write("i.parquet", &parquet_bytes(&sample_batch(), 2)),
        ),
        (
            Format::Arrow,
            dir.write("i.arrow", &ipc_file_bytes(&[sample_batch()])),
        ),
        (
            Format::Arrow,
            dir.write("i.arrows", &ipc_stream_bytes(&[sample_batch()])),
        ),
    ];
    for (format, path) in files {
        let got = infer(&path, &options(format.clone(), 2)).expect("infer");
        assert_eq!(got.rows, 5, "{format}");
        assert_eq!(got.fields, expected_arrow_fields(), "{format}");
    }
}
