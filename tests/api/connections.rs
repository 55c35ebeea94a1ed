//! Integration tests: connections.
