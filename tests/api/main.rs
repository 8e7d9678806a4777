//! Integration tests: a real server on a loopback port, a real SQLite file per
//! test, real TOTP codes computed from the secrets the API hands out.

mod cli;
mod enrolment;
mod errors;
mod helpers;
mod login;
mod pages;
mod restart;
mod sessions;
// Account protection (issue 4).
mod encryption;
mod hardening;
mod password_policy;
mod protection_helpers;
mod recovery;
mod step_up;
mod throttle;
