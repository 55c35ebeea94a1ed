//! Queries and disputes with their requests and offers.
