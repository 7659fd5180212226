//! meshd binary.
fn main() {}
