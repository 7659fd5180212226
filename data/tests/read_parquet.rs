//! Parquet reading: round trip, and hostile files giving errors.

mod common;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use common::{Dir, first_rows, int64s, options, parquet_bytes, read_path, sample_batch, strings};
use mesh_data::ReadError;
use mesh_protocol::descriptor::Format;

#[test]
fn parquet_round_trips_in_numbered_batches() {
    let dir = Dir::new();
    // Row groups of 3 rows, batches of 2: batches do not cross row groups.
    let path = dir.write("s.parquet", &parquet_bytes(&sample_batch(), 3));
    let batches = read_path(&path, &options(Format::Parquet, 2)).expect("read");
    let rows = first_rows(&batches);
    assert_eq!(rows.iter().map(|r| r.1).sum::<usize>(), 5);
    let mut next = 1;
    for (first, len) in &rows {
        assert_eq!(*first, next);
        next += *len as u64;
    }
    assert_eq!(
        int64s(&batches, "id"),
        vec![Some(1), Some(2), Some(3), Some(4), Some(5)]
    );
    assert_eq!(
        strings(&batches, "name"),
        vec![
            Some("ann".into()),
            None,
            Some("cy".into()),
            Some("dee".into()),
            Some("ed".into())
        ]
    );
    let info = batches[0]
        .batch
        .column_by_name("info")
        .expect("info")
        .as_struct();
    assert_eq!(info.column(0).as_primitive::<Int32Type>().value(0), 1);
    assert!(info.column(0).is_null(1));
    let tags = batches[1]
        .batch
        .column_by_name("tags")
        .expect("tags")
        .as_list::<i32>();
    assert_eq!(tags.value(0).as_string::<i32>().value(1), "c");
}

#[test]
fn parquet_needs_a_path() {
    let err = mesh_data::from_reader(
        std::io::Cursor::new(Vec::new()),
        &options(Format::Parquet, 2),
    )
    .expect_err("needs seek");
    assert!(matches!(err, ReadError::NeedsSeek(Format::Parquet)));
}

#[test]
fn parquet_truncated_anywhere_is_an_error() {
    let dir = Dir::new();
    let bytes = parquet_bytes(&sample_batch(), 3);
    for cut in (0..bytes.len())
        .step_by(7)
        .chain([bytes.len() - 1, bytes.len() - 8])
    {
        let path = dir.write("t.parquet", &bytes[..cut]);
        assert!(
            read_path(&path, &options(Format::Parquet, 2)).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn parquet_footer_length_is_checked_before_allocating() {
    let dir = Dir::new();
    let mut bytes = parquet_bytes(&sample_batch(), 3);
    let n = bytes.len();
    bytes[n - 8..n - 4].copy_from_slice(&0x7fff_ffff_u32.to_le_bytes());
    let path = dir.write("f.parquet", &bytes);
    let err = read_path(&path, &options(Format::Parquet, 2)).expect_err("huge footer");
    assert_eq!(
        err.to_string(),
        format!(
            "parquet byte {}: parquet footer claims 2147483647 bytes, file has {n}",
            n - 8
        )
    );

    let good = dir.write("g.parquet", &parquet_bytes(&sample_batch(), 3));
    let mut opts = options(Format::Parquet, 2);
    opts.limits.max_metadata_bytes = 64;
    let err = read_path(&good, &opts).expect_err("footer over the limit");
    assert!(matches!(err, ReadError::Limit { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("more than max_metadata_bytes (64)"),
        "{err}"
    );
}

#[test]
fn parquet_pages_over_the_limit_are_refused() {
    use std::sync::Arc;
    // 2000 rows of 20-byte strings: narrow rows, one big page.
    let values: Vec<String> = (0..2000).map(|i| format!("{i:020}")).collect();
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "s",
        Arc::new(arrow_array::StringArray::from(values)) as arrow_array::ArrayRef,
    )])
    .expect("batch");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props))
        .expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    let dir = Dir::new();
    let path = dir.write("p.parquet", &bytes);
    assert_eq!(
        read_path(&path, &options(Format::Parquet, 512))
            .expect("read")
            .len(),
        4
    );
    let mut opts = options(Format::Parquet, 512);
    opts.limits.max_batch_bytes = 8192;
    let err = read_path(&path, &opts).expect_err("page too big");
    assert!(
        err.to_string()
            .contains("uncompressed bytes, more than max_batch_bytes (8192)"),
        "{err}"
    );
}

#[test]
fn parquet_column_and_row_limits_apply() {
    let dir = Dir::new();
    let path = dir.write("c.parquet", &parquet_bytes(&sample_batch(), 3));
    let mut opts = options(Format::Parquet, 2);
    opts.limits.max_columns = 4;
    let err = read_path(&path, &opts).expect_err("too many columns");
    assert!(
        err.to_string().contains("more than max_columns (4)"),
        "{err}"
    );
    let mut opts = options(Format::Parquet, 2);
    opts.limits.max_batch_bytes = 16;
    let err = read_path(&path, &opts).expect_err("rows too wide");
    assert!(err.to_string().contains("a row decodes to about"), "{err}");
}
