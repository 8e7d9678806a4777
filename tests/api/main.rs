//! Integration tests: a real server on a loopback port, a real SQLite file per
//! test, real TOTP codes computed from the secrets the API hands out.

mod cli;
mod enrolment;
mod errors;
mod helpers;
mod login;
mod nginx;
mod pages;
mod restart;
mod security_keys;
mod sessions;
