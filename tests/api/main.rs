//! Integration tests: the real server on random ports, over HTTP.

mod helpers;
mod conventions;
