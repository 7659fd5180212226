//! meshd: placeholder until the node lands.
