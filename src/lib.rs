//! nyaya: the backend of a legal-aid platform. See README.md for the architecture.

pub mod backup;
pub mod cache;
pub mod cluster;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod notify;
pub mod realtime;
pub mod security;
pub mod seed;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod validate;
