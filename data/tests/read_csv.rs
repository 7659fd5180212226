//! CSV reading: text columns, row numbers, and errors that name the row.

mod common;

use common::{Dir, first_rows, options, read_bytes, read_path, strings};
use mesh_data::{Location, ReadError};
use mesh_protocol::descriptor::Format;

const SAMPLE: &[u8] = b"id,name,note\r\n1,ann,\n2,\"b, with comma\",x\n\n3,cy,\"two\nlines\"\n4,dee,\"say \"\"hi\"\"\"\n5,ed,last";

#[test]
fn csv_round_trips_as_text_in_numbered_batches() {
    let dir = Dir::new();
    let path = dir.write("s.csv", SAMPLE);
    let batches = read_path(&path, &options(Format::Csv, 2)).expect("read");
    assert_eq!(first_rows(&batches), vec![(1, 2), (3, 2), (5, 1)]);
    let schema = batches[0].batch.schema();
    for (field, name) in schema.fields().iter().zip(["id", "name", "note"]) {
        assert_eq!(field.name(), name);
        assert_eq!(field.data_type(), &arrow_schema::DataType::Utf8);
        assert!(field.is_nullable());
    }
    let s = |v: &[&str]| v.iter().map(|x| Some((*x).to_string())).collect::<Vec<_>>();
    assert_eq!(strings(&batches, "id"), s(&["1", "2", "3", "4", "5"]));
    assert_eq!(
        strings(&batches, "name"),
        s(&["ann", "b, with comma", "cy", "dee", "ed"])
    );
    // Empty cells stay "" (never null); quotes and newlines are decoded.
    assert_eq!(
        strings(&batches, "note"),
        s(&["", "x", "two\nlines", "say \"hi\"", "last"])
    );
    // The same bytes streamed give the same batches.
    let streamed = read_bytes(SAMPLE, &options(Format::Csv, 2)).expect("stream");
    assert_eq!(first_rows(&streamed), first_rows(&batches));
    assert_eq!(strings(&streamed, "note"), strings(&batches, "note"));
}

#[test]
fn csv_dialect_is_honoured() {
    let mut opts = options(Format::Csv, 10);
    opts.csv = mesh_data::CsvDialect {
        delimiter: b';',
        quote: b'\'',
    };
    let batches = read_bytes(b"a;b\n'x;y';2\n", &opts).expect("read");
    assert_eq!(strings(&batches, "a"), vec![Some("x;y".to_string())]);
    assert_eq!(strings(&batches, "b"), vec![Some("2".to_string())]);
}

#[test]
fn csv_header_only_has_a_schema_and_no_rows() {
    let batches = mesh_data::from_reader(
        std::io::Cursor::new(b"a,b,a,\n".to_vec()),
        &options(Format::Csv, 2),
    )
    .expect("open");
    let names: Vec<String> = batches
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    // Duplicate and empty names are kept as read.
    assert_eq!(names, ["a", "b", "a", ""]);
    assert_eq!(batches.count(), 0);
}

#[test]
fn csv_empty_file_is_an_error() {
    let err = read_bytes(b"", &options(Format::Csv, 2)).expect_err("empty");
    assert!(err.to_string().contains("header row is required"), "{err}");
}

#[test]
fn csv_wrong_cell_count_names_the_row() {
    let text = b"a,b\n1,2\n3,4\n5\n7,8\n";
    let mut batches = mesh_data::from_reader(
        std::io::Cursor::new(text.to_vec()),
        &options(Format::Csv, 1),
    )
    .expect("open");
    assert_eq!(batches.next().expect("row 1").expect("ok").first_row, 1);
    assert_eq!(batches.next().expect("row 2").expect("ok").first_row, 2);
    let err = batches.next().expect("row 3").expect_err("short row");
    assert_eq!(err.location(), Some(Location::row_at(3, 12)));
    assert_eq!(
        err.to_string(),
        "csv row 3 (byte 12): row 3 has 1 cells; the header has 2"
    );
    assert!(batches.next().is_none(), "stops after an error");

    let err = read_bytes(b"a,b\n1,2,3\n", &options(Format::Csv, 2)).expect_err("long row");
    assert!(
        err.to_string()
            .contains("row 1 has 3 cells; the header has 2"),
        "{err}"
    );
    let err = read_bytes(b"a,b\n1,2,3,4,5\n", &options(Format::Csv, 2)).expect_err("long row");
    assert!(
        err.to_string().contains("row 1 has more than 2 cells"),
        "{err}"
    );
}

#[test]
fn csv_invalid_utf8_names_the_row_and_column() {
    let err =
        read_bytes(b"a,b\n1,2\n3,\xff\xfe\n", &options(Format::Csv, 10)).expect_err("bad utf-8");
    assert!(matches!(err, ReadError::Invalid { .. }));
    assert_eq!(err.location().and_then(|l| l.row), Some(2));
    assert!(
        err.to_string()
            .contains("row 2, column 2 (\"b\"): invalid UTF-8"),
        "{err}"
    );
    let err = read_bytes(b"a,\xff\n1,2\n", &options(Format::Csv, 10)).expect_err("bad header");
    assert!(
        err.to_string().contains("header, column 2: invalid UTF-8"),
        "{err}"
    );
}

#[test]
fn csv_row_over_the_limit_is_an_error_not_a_buffer() {
    let mut opts = options(Format::Csv, 10);
    opts.limits.max_row_bytes = 100;
    // An unclosed quote would swallow the rest of the file.
    let mut text = b"a,b\n1,\"".to_vec();
    text.extend(std::iter::repeat_n(b'x', 1 << 20));
    let err = read_bytes(&text, &opts).expect_err("too long");
    assert!(matches!(err, ReadError::Limit { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("row 1 is longer than max_row_bytes (100 bytes)"),
        "{err}"
    );
    // A row of exactly the limit is fine.
    let mut ok = b"a\n".to_vec();
    ok.extend(std::iter::repeat_n(b'y', 100));
    assert_eq!(read_bytes(&ok, &opts).expect("at the limit").len(), 1);

    opts.limits.max_columns = 3;
    let err = read_bytes(b"a,b,c,d\n", &opts).expect_err("too many columns");
    assert!(matches!(err, ReadError::Limit { .. }), "{err}");
}

#[test]
fn csv_batches_are_cut_by_bytes() {
    let mut opts = options(Format::Csv, 100);
    opts.limits.max_batch_bytes = 200;
    let mut text = b"a\n".to_vec();
    for i in 0..10 {
        text.extend(format!("{i:040}\n").bytes());
    }
    let batches = read_bytes(&text, &opts).expect("read");
    // A 40-byte cell costs 48 bytes: four rows fit under 200.
    assert_eq!(first_rows(&batches), vec![(1, 4), (5, 4), (9, 2)]);
    assert_eq!(strings(&batches, "a").len(), 10);
}
