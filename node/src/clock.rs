//! The node's one source of wall-clock time, handed to mesh-protocol as
//! [`Timestamp`]s (the protocol reads no clock itself).

use std::time::{SystemTime, UNIX_EPOCH};

use mesh_protocol::Timestamp;

/// Now, in milliseconds since the Unix epoch.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp(millis)
}
