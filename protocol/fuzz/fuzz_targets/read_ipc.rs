//! Fuzzes mesh-data's Arrow IPC readers with arbitrary bytes: read front to
//! back as a stream, and from a file (footer first for the file format).
//! A panic inside arrow-ipc that mesh-data does not catch, a hang or an
//! allocation beyond the limits is a finding.

#![no_main]

#[path = "common.rs"]
mod common;

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use mesh_protocol::descriptor::Format;

fuzz_target!(|data: &[u8]| {
    let opts = common::options(Format::Arrow);
    common::drain(mesh_data::from_reader(Cursor::new(data.to_vec()), &opts));
    let path = common::scratch_file(data);
    common::drain(mesh_data::open(&path, &opts));
    let _ = mesh_data::infer(&path, &opts);
});
