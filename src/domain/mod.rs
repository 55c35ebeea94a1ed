//! Types and rules every layer shares, with no I/O: query parameters and pagination.

pub mod page;
