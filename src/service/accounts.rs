//! Accounts: registration, login, tokens, profile, passwords.
