//! Integration tests: a real server on a loopback port, a real SQLite file per
//! test, real TOTP codes computed from the secrets the API hands out.

mod access_admin;
mod access_cli;
mod access_decisions;
mod admin;
mod admin_cli;
mod admin_pages;
mod audit;
mod cli;
mod enrolment;
mod errors;
mod forward_auth;
mod helpers;
mod login;
mod nginx;
mod pages;
mod restart;
mod resync;
mod secrets_rotation;
mod security_keys;
mod sessions;
// Account protection (issue 4).
mod encryption;
mod hardening;
mod password_policy;
mod protection_helpers;
mod recovery;
mod step_up;
mod throttle;
// Closing the gaps between the parallel branches.
mod database_file;
mod soft_key;
mod soft_passkey;
mod step_up_keys;
// The storage seam: what every store promises.
mod store_conformance;
// Several instances on one PostgreSQL database, and its outages.
mod database_outages;
mod several_instances;
// Moving between stores, and backups: export and import.
mod export_import;
// Pages in a real browser (issue 7).
mod browser;
mod browser_access;
mod browser_account;
mod browser_admin;
mod browser_security_keys;
mod browser_sign_in;
mod device_names;
// The security review (attacks replayed over HTTP).
mod admin_step_up;
mod attacks;
// Sessions people see and end, remembered browsers.
mod browser_rough_edges;
mod browser_sessions;
mod session_list;
// Enrolment rules under concurrency.
mod enrolment_races;
// Programmatic access: access keys, temporary credentials, roles.
mod browser_access_keys;
mod programmatic_access;
// Operations: HTTPS, metrics, the OpenAPI document.
mod metrics;
mod openapi;
mod tls;
// Floods and slow clients: bounds on what a client without an account costs.
mod audit_bounds;
mod last_factor;
mod replays;
mod return_addresses;
// One principal for every credential.
mod principal;
mod slow_clients;
// What a new user meets first: start messages, settings errors, the docs.
mod docs;
mod first_start;
mod settings_errors;
// Passkeys: passwordless sign-in.
mod browser_passkeys;
mod passkeys;
// The OpenID Connect provider.
mod browser_oidc;
mod oidc;
mod oidc_cli;
