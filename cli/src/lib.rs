//! # mesh-cli
//!
//! This crate will hold `mesh`, the user's command-line tool. `mesh` talks to
//! a running `meshd` only through the node's local HTTP API, so it arrives
//! together with that API. Until then the crate is empty on purpose. It is a
//! workspace member so the workspace already has its final layout.
