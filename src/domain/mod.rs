//! Types and rules every layer shares, with no I/O: query parameters and pagination, and the
//! closed sets and access rules of cases.

pub mod case;
pub mod page;
