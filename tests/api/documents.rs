//! Integration tests: documents.
