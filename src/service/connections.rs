//! Direct citizen-lawyer connections.
