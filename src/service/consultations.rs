//! Consultations.
