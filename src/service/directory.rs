//! The public lawyer directory.
