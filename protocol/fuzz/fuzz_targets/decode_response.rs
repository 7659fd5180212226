//! Fuzzes `wire::decode_response` with arbitrary bytes: it must return, never
//! panic, hang or allocate beyond its limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_protocol::wire;

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode_response(data);
});
