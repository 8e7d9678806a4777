//! The HTTP surface: the JSON API of `shared/API.md`, the HTML pages built on
//! the same domain calls, and the probes for proxies and monitors. Routes are
//! grouped by URL; handlers stay thin.

mod access_admin;
mod access_pages;
mod admin;
mod admin_pages;
pub mod body_deadline;
pub mod cookies;
pub mod error;
mod forwarded;
mod health;
mod login;
mod me;
mod pages;
mod principal;
mod request;
mod resync;
pub mod return_to;
mod security_keys;
mod verify;
// Account protection (issue 4).
mod client_ip;
pub mod connections;
pub mod hardening;
mod protection;
mod security_pages;
mod simulate;
// Pages people use (issue 7).
mod devices;
// Sessions people see and end.
mod session_rows;
mod sessions;
mod user_agent;
// Operations: HTTPS, metrics, the OpenAPI document.
mod metrics;
mod openapi;
pub mod tls;
// Passkeys: passwordless sign-in.
mod passkeys;
// Programmatic access: access keys, temporary credentials, roles.
mod access_key_pages;
mod programmatic;
// The OpenID Connect provider.
pub mod oidc;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{Route, web};

use error::ApiError;

/// One endpoint of the JSON API. Every API route is registered from such a
/// table (`routes` below), so what the server serves can be listed — the
/// OpenAPI document is checked against it.
pub struct ApiRoute {
    pub method: Method,
    /// Relative to the scope the table is registered in.
    pub path: &'static str,
    handler: fn(Route) -> Route,
}

impl ApiRoute {
    fn new(method: Method, path: &'static str, handler: fn(Route) -> Route) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }
}

/// Registers a table: one resource per path, whose other methods answer 405
/// in the API's error shape.
fn register_api_routes(cfg: &mut web::ServiceConfig, table: Vec<ApiRoute>) {
    let mut paths: Vec<&'static str> = Vec::new();
    for route in &table {
        if !paths.contains(&route.path) {
            paths.push(route.path);
        }
    }
    for path in paths {
        let resource = table
            .iter()
            .filter(|route| route.path == path)
            .fold(web::resource(path), |resource, route| {
                resource.route((route.handler)(web::method(route.method.clone())))
            })
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed())
            }));
        cfg.service(resource);
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// Routes outside `/api/v1`: probes for monitors.
fn probe_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/healthz", |r| r.to(health::healthz)),
        ApiRoute::new(Method::GET, "/metrics", |r| r.to(metrics::metrics)),
    ]
}

/// Routes inside `/api/v1` (the administration ones are in `admin`).
fn v1_routes() -> Vec<ApiRoute> {
    let mut table = vec![
        ApiRoute::new(Method::GET, "/openapi.json", |r| r.to(openapi::document)),
        ApiRoute::new(Method::POST, "/login", |r| r.to(login::password)),
        ApiRoute::new(Method::POST, "/login/totp", |r| r.to(login::totp)),
        ApiRoute::new(Method::POST, "/logout", |r| r.to(login::logout)),
        ApiRoute::new(Method::GET, "/verify", |r| r.to(verify::verify)),
        ApiRoute::new(Method::GET, "/me", |r| r.to(me::me)),
        ApiRoute::new(Method::GET, "/me/sessions", |r| r.to(sessions::mine)),
        ApiRoute::new(Method::DELETE, "/me/sessions", |r| {
            r.to(sessions::end_my_others)
        }),
        ApiRoute::new(Method::DELETE, "/me/sessions/{id}", |r| {
            r.to(sessions::end_mine)
        }),
        ApiRoute::new(Method::DELETE, "/me/remembered-browsers/{id}", |r| {
            r.to(sessions::forget_remembered_browser)
        }),
        ApiRoute::new(Method::POST, "/me/totp", |r| r.to(me::start_totp)),
        ApiRoute::new(Method::POST, "/me/totp/{id}/confirm", |r| {
            r.to(me::confirm_totp)
        }),
        ApiRoute::new(Method::DELETE, "/me/devices/{id}", |r| {
            r.to(me::remove_device)
        }),
        ApiRoute::new(Method::PATCH, "/me/devices/{id}", |r| {
            r.to(devices::rename_device)
        }),
        ApiRoute::new(Method::POST, "/me/security-keys/begin", |r| {
            r.to(security_keys::begin_registration)
        }),
        ApiRoute::new(Method::POST, "/me/security-keys/finish", |r| {
            r.to(security_keys::finish_registration)
        }),
        ApiRoute::new(Method::POST, "/login/security-key/begin", |r| {
            r.to(security_keys::begin_login)
        }),
        ApiRoute::new(Method::POST, "/login/security-key/finish", |r| {
            r.to(security_keys::finish_login)
        }),
        ApiRoute::new(Method::POST, "/me/devices/{id}/resync", |r| {
            r.to(resync::resync)
        }),
    ];
    table.extend(protection::api_routes());
    table.extend(passkeys::api_routes());
    table.extend(programmatic::api_routes());
    table
}

/// Every JSON API endpoint the server registers, as `(method, full path)`.
pub fn api_endpoints() -> Vec<(Method, String)> {
    let full = |prefix: &str, table: Vec<ApiRoute>| {
        table
            .into_iter()
            .map(|route| (route.method, format!("{prefix}{}", route.path)))
            .collect::<Vec<_>>()
    };
    let mut endpoints = full("", probe_routes());
    endpoints.extend(full("", oidc::api_routes()));
    endpoints.extend(full("/api/v1", v1_routes()));
    endpoints.extend(full("/api/v1/admin", admin::api_routes()));
    endpoints
}

/// Every route of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    register_api_routes(cfg, probe_routes());
    register_api_routes(cfg, oidc::api_routes());
    cfg.configure(oidc::page_routes);
    cfg.service(
        web::scope("/api/v1")
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((header::CACHE_CONTROL, HeaderValue::from_static("no-store"))),
            )
            .configure(|cfg| register_api_routes(cfg, v1_routes()))
            .configure(admin::routes)
            .default_service(web::to(not_found)),
    )
    .service(web::scope("/api").default_service(web::to(not_found)))
    .configure(pages::routes)
    .configure(security_keys::page_routes)
    .configure(passkeys::page_routes)
    .configure(admin_pages::routes)
    .configure(security_pages::routes)
    .configure(devices::page_routes)
    .configure(verify::page_routes)
    .configure(access_key_pages::routes);
}
