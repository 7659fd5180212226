//! Fuzzes mesh-data's CSV reader with arbitrary bytes, streamed and from a
//! file, and schema inference over them: none of it may panic, hang or
//! allocate beyond its limits.

#![no_main]

#[path = "common.rs"]
mod common;

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mesh_protocol::descriptor::Format;

fuzz_target!(|data: &[u8]| {
    let opts = common::options(Format::Csv);
    common::drain(mesh_data::from_reader(Cursor::new(data.to_vec()), &opts));
    let path = common::scratch_file(data);
    common::drain(mesh_data::open(&path, &opts));
    let _ = mesh_data::infer(&path, &opts);
});
