//! Shared by the mesh-data targets (included with `#[path]`, not a target):
//! small limits so hostile lengths hit them quickly, a scratch file for the
//! readers that need a path, and draining a reader to its end.

#![allow(dead_code)]

use std::cell::RefCell;
use std::path::PathBuf;

use mesh_data::{Batches, Limits, ReadError, ReadOptions};
use mesh_protocol::descriptor::Format;

/// Read options for `format` with limits small enough that a hostile
/// length claim is refused rather than allocated.
pub fn options(format: Format) -> ReadOptions {
    let mut o = ReadOptions::new(format);
    o.batch_rows = 64;
    o.limits = Limits {
        max_row_bytes: 64 << 10,
        max_metadata_bytes: 1 << 20,
        max_columns: 256,
        max_batch_bytes: 16 << 20,
    };
    o
}

thread_local! {
    static SCRATCH: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Writes `data` to this thread's scratch file and returns its path (the
/// file is overwritten by the next call).
pub fn scratch_file(data: &[u8]) -> PathBuf {
    SCRATCH.with(|dir| {
        let mut dir = dir.borrow_mut();
        let dir = dir.get_or_insert_with(|| tempfile::tempdir().expect("scratch directory"));
        let path = dir.path().join("input");
        std::fs::write(&path, data).expect("write scratch file");
        path
    })
}

/// Reads every batch; the result is ignored, only a panic fails.
pub fn drain(batches: Result<Batches, ReadError>) {
    if let Ok(batches) = batches {
        for batch in batches {
            if batch.is_err() {
                break;
            }
        }
    }
}
