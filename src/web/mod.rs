//! The HTTP surface: the JSON API of `shared/API.md`, the HTML pages built on
//! the same domain calls, and the probes for proxies and monitors. Routes are
//! grouped by URL; handlers stay thin.

mod admin;
mod admin_pages;
pub mod cookies;
pub mod error;
mod health;
mod login;
mod me;
mod pages;
mod request;
mod resync;
pub mod return_to;
mod security_keys;
// Account protection (issue 4).
mod client_ip;
pub mod hardening;
mod protection;
mod security_pages;
// Pages people use (issue 7).
mod devices;
// Sessions people see and end.
mod session_rows;
mod sessions;
mod user_agent;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{Route, web};

use error::ApiError;

/// A resource whose other methods answer 405 in the API's error shape.
fn api_resource(path: &str, routes: Vec<Route>) -> impl HttpServiceFactory + use<> {
    routes
        .into_iter()
        .fold(web::resource(path), |resource, route| resource.route(route))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed())
        }))
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// Every route of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(api_resource(
        "/healthz",
        vec![web::get().to(health::healthz)],
    ))
    .service(
        web::scope("/api/v1")
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((header::CACHE_CONTROL, HeaderValue::from_static("no-store"))),
            )
            .service(api_resource(
                "/login",
                vec![web::post().to(login::password)],
            ))
            .service(api_resource(
                "/login/totp",
                vec![web::post().to(login::totp)],
            ))
            .service(api_resource("/logout", vec![web::post().to(login::logout)]))
            .service(api_resource("/verify", vec![web::get().to(health::verify)]))
            .service(api_resource("/me", vec![web::get().to(me::me)]))
            .service(api_resource(
                "/me/sessions",
                vec![
                    web::get().to(sessions::mine),
                    web::delete().to(sessions::end_my_others),
                ],
            ))
            .service(api_resource(
                "/me/sessions/{id}",
                vec![web::delete().to(sessions::end_mine)],
            ))
            .service(api_resource(
                "/me/remembered-browsers/{id}",
                vec![web::delete().to(sessions::forget_remembered_browser)],
            ))
            .service(api_resource(
                "/me/totp",
                vec![web::post().to(me::start_totp)],
            ))
            .service(api_resource(
                "/me/totp/{id}/confirm",
                vec![web::post().to(me::confirm_totp)],
            ))
            .service(api_resource(
                "/me/devices/{id}",
                vec![
                    web::delete().to(me::remove_device),
                    web::patch().to(devices::rename_device),
                ],
            ))
            .service(api_resource(
                "/me/security-keys/begin",
                vec![web::post().to(security_keys::begin_registration)],
            ))
            .service(api_resource(
                "/me/security-keys/finish",
                vec![web::post().to(security_keys::finish_registration)],
            ))
            .service(api_resource(
                "/login/security-key/begin",
                vec![web::post().to(security_keys::begin_login)],
            ))
            .service(api_resource(
                "/login/security-key/finish",
                vec![web::post().to(security_keys::finish_login)],
            ))
            .service(api_resource(
                "/me/devices/{id}/resync",
                vec![web::post().to(resync::resync)],
            ))
            .configure(admin::routes)
            .configure(protection::api_routes)
            .default_service(web::to(not_found)),
    )
    .service(web::scope("/api").default_service(web::to(not_found)))
    .configure(pages::routes)
    .configure(security_keys::page_routes)
    .configure(admin_pages::routes)
    .configure(security_pages::routes)
    .configure(devices::page_routes);
}
