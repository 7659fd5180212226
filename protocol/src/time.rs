//! Time as the protocol sees it: a number handed in by the driver.
//!
//! The protocol never reads a clock. Every operation that depends on time
//! (expiry of node bindings, grants and proposals) takes `now` as an argument,
//! which is what lets the simulator run nodes in virtual time.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// This timestamp moved forward by `millis`, saturating.
    #[must_use]
    pub fn plus_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
