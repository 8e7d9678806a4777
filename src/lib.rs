//! twofold: a sign-in server with two real factors — a password, then an
//! authenticator-app code or a security key. `web` speaks HTTP, `auth` holds
//! the rules, `store` keeps the state.

pub mod access;
pub mod auth;
pub mod cli;
pub mod config;
pub mod export_file;
pub mod metrics;
pub mod model;
pub mod oidc;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
