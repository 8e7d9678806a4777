//! Forward-auth: `/api/v1/verify`, which nginx `auth_request` and Traefik
//! `forwardAuth` call on every request to a protected app — 200 naming the
//! user, or 401 saying where to sign in.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::error::ApiError;
use super::return_to;
use crate::auth::{Auth, AuthError, Principal};
use crate::metrics::VerifyDecision;

/// 200 with `Remote-User` and `Remote-Admin` for a live session, else 401.
#[utoipa::path(
    get,
    path = "/api/v1/verify",
    tag = "probes",
    security(("session" = [])),
    responses(
        (status = 200, description = "A live session: `Remote-User` and `Remote-Admin` name the user"),
        (status = 401, description = "unauthenticated; `Location` says where to sign in", body = super::openapi::ErrorBody)
    )
)]
pub async fn verify(
    auth: web::Data<Auth>,
    principal: Result<Principal, AuthError>,
    req: HttpRequest,
) -> HttpResponse {
    let started = Instant::now();
    let (decision, response) = match principal {
        Ok(principal) => (
            VerifyDecision::Allow,
            HttpResponse::Ok()
                .insert_header(("Remote-User", principal.user().username.as_str()))
                .insert_header(("Remote-Admin", principal.user().admin.to_string()))
                .finish(),
        ),
        Err(AuthError::Unauthenticated) => (VerifyDecision::Deny, sign_in_needed(&auth, &req)),
        Err(other) => (
            VerifyDecision::Error,
            ApiError::from(other).error_response(),
        ),
    };
    auth.metrics().verify(decision, started.elapsed());
    response
}

/// The URL the visitor asked the proxy for: nginx sends `X-Original-URL`,
/// Traefik `X-Forwarded-Proto`, `-Host` and `-Uri`.
fn original_url(req: &HttpRequest) -> Option<String> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(url) = header("X-Original-URL") {
        return Some(url.to_owned());
    }
    let host = header("X-Forwarded-Host")?;
    let proto = header("X-Forwarded-Proto").unwrap_or("https");
    let uri = header("X-Forwarded-Uri").unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

/// A 401 that also says where to sign in (`Location`), with the original URL
/// as the return address. A browser gets a small page that goes there by
/// itself (Traefik shows the 401 body as it is); a script gets the JSON error.
fn sign_in_needed(auth: &Auth, req: &HttpRequest) -> HttpResponse {
    let login = return_to::login_url(auth.settings(), original_url(req).as_deref());
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let mut response = ApiError::from(AuthError::Unauthenticated).error_response();
    if let Ok(value) = header::HeaderValue::from_str(&login) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if !wants_html {
        return response;
    }
    let escaped = login
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={escaped}\"><title>Sign in</title></head>\
         <body><p>Please <a href=\"{escaped}\">sign in</a> to continue.</p></body></html>"
    );
    let mut html = HttpResponse::Unauthorized();
    html.insert_header((header::CACHE_CONTROL, "no-store"));
    if let Ok(value) = header::HeaderValue::from_str(&login) {
        html.insert_header((header::LOCATION, value));
    }
    html.content_type("text/html; charset=utf-8").body(page)
}
