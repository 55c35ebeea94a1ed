//! Documents and their access lists.
