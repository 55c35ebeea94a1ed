//! Admin dashboards, user management and lawyer verification.
