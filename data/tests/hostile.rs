//! Hostile input: arbitrary bytes, and valid small files truncated and
//! corrupted, fed to every reader and drained. Nothing may panic (a panic
//! fails the property) and nothing may allocate what a length claims.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use common::{Dir, drain, ipc_file_bytes, ipc_stream_bytes, options, parquet_bytes, sample_batch};
use mesh_data::{Limits, ReadOptions, from_reader, infer, jsonl_values, open};
use mesh_protocol::descriptor::Format;
use proptest::prelude::*;

const CSV: &[u8] = b"a,b,c\n1,\"x,y\",3\n4,\"multi\nline\",6\n7,8,9\n";
const JSONL: &[u8] = b"{\"a\":1,\"b\":\"x\",\"c\":[1,2],\"d\":{\"e\":null}}\n{\"a\":2,\"b\":\"y\",\"c\":[],\"d\":{\"e\":1.5}}\n{\"a\":3}\n";

/// Small limits, so hostile lengths hit them quickly.
fn opts(format: Format) -> ReadOptions {
    let mut o = options(format, 2);
    o.limits = Limits {
        max_row_bytes: 4096,
        max_metadata_bytes: 1 << 16,
        max_columns: 64,
        max_batch_bytes: 1 << 20,
    };
    o
}

/// `bytes` cut at `cut` with some bytes overwritten.
fn mutate(bytes: &[u8], cut: usize, edits: &[(usize, u8)]) -> Vec<u8> {
    let mut out = bytes[..cut.min(bytes.len())].to_vec();
    if !out.is_empty() {
        let n = out.len();
        for &(i, b) in edits {
            out[i % n] = b;
        }
    }
    out
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>()), 0..8)
}

/// Every reader over `bytes` as `format`, streamed and from a file.
fn read_all_ways(dir: &Dir, format: &Format, bytes: &[u8]) {
    let o = opts(format.clone());
    if *format != Format::Parquet {
        drain(from_reader(Cursor::new(bytes.to_vec()), &o));
    }
    let path = dir.write("f", bytes);
    drain(open(&path, &o));
    let _ = infer(&path, &o);
    if *format == Format::Jsonl {
        for _ in jsonl_values(Cursor::new(bytes.to_vec()), o.limits) {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let dir = Dir::new();
        for format in [Format::Csv, Format::Jsonl, Format::Parquet, Format::Arrow] {
            read_all_ways(&dir, &format, &bytes);
        }
        // With the right magic at both ends, the structure parsers run.
        let mut parquet = b"PAR1".to_vec();
        parquet.extend(&bytes);
        parquet.extend(b"PAR1");
        read_all_ways(&dir, &Format::Parquet, &parquet);
        let mut arrow = b"ARROW1\0\0".to_vec();
        arrow.extend(&bytes);
        arrow.extend(b"ARROW1");
        read_all_ways(&dir, &Format::Arrow, &arrow);
    }

    #[test]
    fn corrupt_csv_and_jsonl_never_panic(cut in 0usize..200, edits in edits()) {
        let dir = Dir::new();
        read_all_ways(&dir, &Format::Csv, &mutate(CSV, cut, &edits));
        read_all_ways(&dir, &Format::Jsonl, &mutate(JSONL, cut, &edits));
    }

    #[test]
    fn corrupt_parquet_never_panics(cut in 0usize..4000, edits in edits()) {
        let valid = PARQUET.with(Clone::clone);
        let dir = Dir::new();
        read_all_ways(&dir, &Format::Parquet, &mutate(&valid, valid.len() - cut % valid.len(), &[]));
        read_all_ways(&dir, &Format::Parquet, &mutate(&valid, valid.len(), &edits));
    }

    #[test]
    fn corrupt_ipc_never_panics(cut in 0usize..4000, edits in edits()) {
        let dir = Dir::new();
        for valid in [IPC_FILE.with(Clone::clone), IPC_STREAM.with(Clone::clone)] {
            read_all_ways(&dir, &Format::Arrow, &mutate(&valid, valid.len() - cut % valid.len(), &[]));
            read_all_ways(&dir, &Format::Arrow, &mutate(&valid, valid.len(), &edits));
        }
    }
}

thread_local! {
    static PARQUET: Vec<u8> = parquet_bytes(&sample_batch(), 2);
    static IPC_FILE: Vec<u8> = ipc_file_bytes(&[sample_batch()]);
    static IPC_STREAM: Vec<u8> = ipc_stream_bytes(&[sample_batch()]);
}

#[test]
fn the_valid_seeds_read_cleanly() {
    let dir = Dir::new();
    let files: [(Format, Arc<Vec<u8>>); 5] = [
        (Format::Csv, Arc::new(CSV.to_vec())),
        (Format::Jsonl, Arc::new(JSONL.to_vec())),
        (Format::Parquet, Arc::new(PARQUET.with(Clone::clone))),
        (Format::Arrow, Arc::new(IPC_FILE.with(Clone::clone))),
        (Format::Arrow, Arc::new(IPC_STREAM.with(Clone::clone))),
    ];
    for (format, bytes) in files {
        let path = dir.write("seed", &bytes);
        assert!(!drain(open(&path, &opts(format.clone()))), "{format}");
    }
}
