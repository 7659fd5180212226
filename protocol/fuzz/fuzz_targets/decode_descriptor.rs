//! Fuzzes decoding a signed descriptor from arbitrary bytes, then checking
//! its signature and structure: none of it may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_protocol::descriptor::Descriptor;
use mesh_protocol::encoding;
use mesh_protocol::signed::Signed;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = encoding::from_bytes::<Signed<Descriptor>>(data, 256 * 1024) {
        let _ = signed.verify();
        let _ = signed.value.validate();
    }
});
