//! What every integration test binary shares: [`harness`] (ports, scratch folders, a fresh
//! database per test, the app in process, the `nyaya` binary as a child process) and [`smtp`]
//! (a real SMTP server). Top-level test files mount it with `mod support;`, the API suite with
//! `#[path = "../support/mod.rs"] mod support;`.
#![allow(dead_code)] // each test binary uses part of it

pub mod harness;
pub mod smtp;
