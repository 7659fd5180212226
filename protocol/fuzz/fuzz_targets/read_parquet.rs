//! Fuzzes mesh-data's Parquet reader with arbitrary bytes (written to a
//! scratch file: Parquet is read footer first, so it needs a path), and
//! schema inference over them. A panic inside the parquet crate that
//! mesh-data does not catch, a hang or an allocation beyond the limits is a
//! finding. Seed the corpus with small valid Parquet files: random bytes
//! rarely get past the `PAR1` magic at both ends.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mesh_protocol::descriptor::Format;

fuzz_target!(|data: &[u8]| {
    let opts = common::options(Format::Parquet);
    let path = common::scratch_file(data);
    common::drain(mesh_data::open(&path, &opts));
    let _ = mesh_data::infer(&path, &opts);
});
