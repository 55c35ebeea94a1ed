//! Integration tests: lawyers.
