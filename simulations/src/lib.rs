//! # mesh-sim
//!
//! This crate will hold the network simulator. It will start many real nodes
//! from the `mesh-node` library in one process, over libp2p's in-memory
//! transport with injected latency, loss, partitions and churn, and run them
//! in virtual time. It is not built yet, so the crate is empty on purpose.
//! The node already has what the simulator will plug into: the `Store` trait
//! with its in-memory `MemoryStore`, and `mesh_node::start` with injectable
//! options.
