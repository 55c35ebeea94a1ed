//! Integration tests: the real server on random ports, over HTTP.

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod admin;
mod auth;
mod cache;
mod cases;
mod chats;
mod connections;
mod consultations;
mod conventions;
mod documents;
mod import;
mod jobs;
mod lawyers;
mod realtime;
mod recovery;
mod scenario;
