//! Integration tests: consultations.
