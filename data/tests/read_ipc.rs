//! Arrow IPC reading: file and stream formats, and hostile lengths.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use common::{
    Dir, first_rows, int64s, ipc_file_bytes, ipc_stream_bytes, options, read_bytes, read_path,
    sample_batch, strings,
};
use mesh_data::ReadError;
use mesh_protocol::descriptor::Format;

fn two_batches() -> Vec<arrow_array::RecordBatch> {
    let b = sample_batch();
    vec![b.clone(), b.slice(1, 3)]
}

#[allow(clippy::expect_used, reason = "test helper")]
fn check(batches: &[mesh_data::Batch]) {
    // 5 + 3 rows in batches of at most 2.
    assert_eq!(
        first_rows(batches),
        vec![(1, 2), (3, 2), (5, 1), (6, 2), (8, 1)]
    );
    let ids = int64s(batches, "id");
    assert_eq!(ids, [1, 2, 3, 4, 5, 2, 3, 4].map(Some));
    assert_eq!(strings(batches, "name")[1], None);
    let cat = batches[0].batch.column_by_name("cat").expect("cat");
    let dict = cat.as_dictionary::<Int32Type>();
    assert_eq!(
        dict.values()
            .as_string::<i32>()
            .value(usize::try_from(dict.keys().value(1)).expect("key")),
        "y"
    );
}

#[test]
fn ipc_file_round_trips_by_path_and_as_a_stream() {
    let dir = Dir::new();
    let bytes = ipc_file_bytes(&two_batches());
    let path = dir.write("s.arrow", &bytes);
    check(&read_path(&path, &options(Format::Arrow, 2)).expect("file"));
    // The file format read front to back, for one-pass hashing.
    check(&read_bytes(&bytes, &options(Format::Arrow, 2)).expect("file as stream"));
}

#[test]
fn ipc_stream_round_trips_by_path_and_reader() {
    let dir = Dir::new();
    let bytes = ipc_stream_bytes(&two_batches());
    check(&read_bytes(&bytes, &options(Format::Arrow, 2)).expect("stream"));
    let path = dir.write("s.arrows", &bytes);
    check(&read_path(&path, &options(Format::Arrow, 2)).expect("stream by path"));
}

#[test]
fn ipc_truncated_anywhere_is_an_error() {
    let dir = Dir::new();
    let file = ipc_file_bytes(&two_batches());
    let stream = ipc_stream_bytes(&two_batches());
    for cut in (1..file.len()).step_by(5) {
        let path = dir.write("t.arrow", &file[..cut]);
        assert!(
            read_path(&path, &options(Format::Arrow, 2)).is_err(),
            "file cut at {cut}"
        );
        assert!(
            read_bytes(&file[..cut], &options(Format::Arrow, 2)).is_err(),
            "file stream cut at {cut}"
        );
    }
    // A stream may end without its end-of-stream marker (as arrow allows),
    // but not inside a message.
    let eos = stream.len() - 8;
    for cut in (0..eos).step_by(5).filter(|&c| c != 0) {
        let result = read_bytes(&stream[..cut], &options(Format::Arrow, 2));
        let ended_on_a_message = result.as_ref().is_ok_and(|b| !b.is_empty());
        assert!(result.is_err() || ended_on_a_message, "stream cut at {cut}");
    }
    assert!(
        read_bytes(&[], &options(Format::Arrow, 2)).is_err(),
        "empty stream"
    );
}

/// The metadata and body lengths of the message at `at` in a stream, and
/// the offset of the next one.
#[allow(clippy::expect_used, reason = "test helper")]
fn next_message(bytes: &[u8], at: usize) -> (usize, usize, usize) {
    assert_eq!(bytes[at..at + 4], [0xff; 4]);
    let meta = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
    let message = arrow_ipc::root_as_message(&bytes[at + 8..at + 8 + meta]).expect("message");
    let body = usize::try_from(message.bodyLength()).expect("body");
    (meta, body, at + 8 + meta + body)
}

#[test]
fn ipc_huge_lengths_are_refused_before_allocating() {
    let stream = ipc_stream_bytes(&two_batches());
    // The first message's metadata length claims 2 GiB.
    let mut bad = stream.clone();
    bad[4..8].copy_from_slice(&0x7fff_ffff_u32.to_le_bytes());
    let err = read_bytes(&bad, &options(Format::Arrow, 2)).expect_err("huge metadata");
    assert!(matches!(err, ReadError::Limit { .. }), "{err}");
    assert!(
        err.to_string().contains("claims 2147483647 metadata bytes"),
        "{err}"
    );
    // A negative one.
    bad[4..8].copy_from_slice(&(-8_i32).to_le_bytes());
    assert!(read_bytes(&bad, &options(Format::Arrow, 2)).is_err());

    // The first record batch's body length claims 4 GiB: patch the i64 in
    // its flatbuffer metadata.
    let (_, _, first_batch) = next_message(&stream, 0);
    let (meta, body, _) = next_message(&stream, first_batch);
    let mut bad = stream.clone();
    let region = &mut bad[first_batch + 8..first_batch + 8 + meta];
    let needle = (body as u64).to_le_bytes();
    let pos = region
        .windows(8)
        .position(|w| w == needle)
        .expect("body length in metadata");
    region[pos..pos + 8].copy_from_slice(&(4_u64 << 30).to_le_bytes());
    let err = read_bytes(&bad, &options(Format::Arrow, 2)).expect_err("huge body");
    assert!(
        err.to_string().contains("claims 4294967296 body bytes"),
        "{err}"
    );
}

#[test]
fn ipc_file_footer_and_blocks_are_checked() {
    let dir = Dir::new();
    let mut bytes = ipc_file_bytes(&two_batches());
    let n = bytes.len();
    bytes[n - 10..n - 6].copy_from_slice(&0x7fff_ffff_i32.to_le_bytes());
    let path = dir.write("f.arrow", &bytes);
    let err = read_path(&path, &options(Format::Arrow, 2)).expect_err("huge footer");
    assert!(
        err.to_string()
            .contains("arrow footer claims 2147483647 bytes, file has"),
        "{err}"
    );

    let path = dir.write("g.arrow", &ipc_file_bytes(&two_batches()));
    let mut opts = options(Format::Arrow, 2);
    opts.limits.max_batch_bytes = 64;
    let err = read_path(&path, &opts).expect_err("block over the limit");
    assert!(matches!(err, ReadError::Limit { .. }), "{err}");
    let mut opts = options(Format::Arrow, 2);
    opts.limits.max_columns = 3;
    let err = read_path(&path, &opts).expect_err("too many columns");
    assert!(
        err.to_string().contains("more than max_columns (3)"),
        "{err}"
    );
}

#[test]
fn unsupported_formats_say_so() {
    let err = read_bytes(b"x", &options(Format::Avro, 2)).expect_err("avro");
    assert!(matches!(err, ReadError::Unsupported(Format::Avro)));
    let dir = Dir::new();
    let path = dir.write("x.json", b"{}");
    let err = read_path(&path, &options(Format::Json, 2)).expect_err("json");
    assert_eq!(
        err.to_string(),
        "format json is not readable here (mesh-data reads csv, jsonl, parquet and arrow)"
    );
}
