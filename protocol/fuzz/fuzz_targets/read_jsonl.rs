//! Fuzzes mesh-data's JSON Lines readers (Arrow batches and the raw value
//! path the contract check uses) with arbitrary bytes, and schema inference
//! over them: none of it may panic, hang or allocate beyond its limits.

#![no_main]

#[path = "common.rs"]
mod common;

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mesh_protocol::descriptor::Format;

fuzz_target!(|data: &[u8]| {
    let opts = common::options(Format::Jsonl);
    common::drain(mesh_data::from_reader(Cursor::new(data.to_vec()), &opts));
    for line in mesh_data::jsonl_values(Cursor::new(data.to_vec()), opts.limits) {
        if line.is_err() {
            break;
        }
    }
    let path = common::scratch_file(data);
    common::drain(mesh_data::open(&path, &opts));
    let _ = mesh_data::infer(&path, &opts);
});
