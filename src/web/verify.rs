//! Forward-auth: `/api/v1/verify`, which nginx `auth_request` and Traefik
//! `forwardAuth` call on every request to a protected app. It judges the
//! original request by the policies: 200 naming the user and groups, 401 to
//! sign in or to step up (`require=`), or 403 `forbidden` — for a browser,
//! the "you don't have access" page (Traefik shows that body; nginx is
//! pointed at `/no-access` with `error_page 403`).

use std::time::Instant;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use super::error::ApiError;
use super::forwarded::{OriginalRequest, original_request};
use super::pages::page;
use super::principal::forwarded_credential;
use super::return_to;
use crate::access::{Access, StepUp};
use crate::auth::authorization::ForwardRequest;
use crate::auth::{Auth, AuthError, Client, Principal};
use crate::metrics::VerifyDecision;

pub fn page_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/no-access", web::get().to(no_access_page));
}

/// 200 with `Remote-User`, `Remote-Groups` and `Remote-Admin` when the
/// policies allow the original request; 401 to sign in or step up; 403.
#[utoipa::path(
    get,
    path = "/api/v1/verify",
    tag = "probes",
    security(("session" = []), ("bearer" = []), ("access_key" = [])),
    params(
        ("X-Original-URL" = Option<String>, Header, description = "nginx: the URL asked for"),
        ("X-Original-Method" = Option<String>, Header, description = "nginx: its method"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "Traefik: the method"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "Traefik: the scheme"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "Traefik: the host"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "Traefik: the path and query")
    ),
    responses(
        (status = 200, description = "Allowed: `Remote-User`, `Remote-Groups` (comma-separated) and `Remote-Admin` name the user; `Remote-Role` the role of a role's temporary credential"),
        (status = 400, description = "invalid_request: a forwarded URL or method that can't be read", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated (`Location` to sign in), or reauthentication_required (`Location` to /reauthenticate?rd=&require=recent|security_key)", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden: a policy denies, or nothing allows under access.default_decision = deny", body = super::openapi::ErrorBody)
    )
)]
pub async fn verify(auth: web::Data<Auth>, client: Client, req: HttpRequest) -> HttpResponse {
    let started = Instant::now();
    let presented = forwarded_credential(&req);
    let principal = auth.verify_principal(presented.as_ref(), &client).await;
    let (decision, response) = match (principal, original_request(&req)) {
        (Ok(principal), Ok(original)) => answer(&auth, &principal, &client, &req, &original).await,
        // nginx's auth_request passes on 401 and 403 alone: every refused
        // credential (a wrong key, a throttled one, an expired token) is 401.
        (
            Err(
                AuthError::Unauthenticated
                | AuthError::UnauthenticatedBecause(_)
                | AuthError::InvalidAccessKey
                | AuthError::TooManyAttempts { .. },
            ),
            original,
        ) => {
            let url = original.ok().and_then(|original| original.url);
            (
                VerifyDecision::Deny,
                sign_in_needed(&auth, &req, url.as_deref()),
            )
        }
        (Ok(_), Err(error)) => (VerifyDecision::Error, error.error_response()),
        (Err(other), _) => (
            VerifyDecision::Error,
            ApiError::from(other).error_response(),
        ),
    };
    auth.metrics().verify(decision, started.elapsed());
    response
}

/// Judges the original request for a signed-in person.
async fn answer(
    auth: &Auth,
    principal: &Principal,
    client: &Client,
    req: &HttpRequest,
    original: &OriginalRequest,
) -> (VerifyDecision, HttpResponse) {
    let request = ForwardRequest {
        method: &original.method,
        url: &original.resource,
    };
    let decision = match auth.forward_auth(principal, request, client).await {
        Ok(decision) => decision,
        Err(error) => {
            return (
                VerifyDecision::Error,
                ApiError::from(error).error_response(),
            );
        }
    };
    let url = original.url.as_deref();
    match decision.access {
        Access::Allowed => {
            let mut allowed = HttpResponse::Ok();
            allowed
                .insert_header(("Remote-User", principal.user().username.as_str()))
                .insert_header(("Remote-Groups", decision.groups))
                .insert_header((
                    "Remote-Admin",
                    if principal.is_admin() {
                        "true"
                    } else {
                        "false"
                    },
                ));
            if let Some(role) = principal.role() {
                allowed.insert_header(("Remote-Role", role));
            }
            (VerifyDecision::Allow, allowed.finish())
        }
        Access::StepUp(require) => (
            VerifyDecision::StepUp,
            step_up_needed(auth, req, url, require),
        ),
        Access::Forbidden(_) => (VerifyDecision::Forbidden, forbidden(auth, req, url)),
    }
}

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A 401 that also says where to go (`Location`). A browser gets a small
/// page that goes there by itself (Traefik shows the 401 body as it is); a
/// script gets the JSON error.
fn redirecting_401(
    req: &HttpRequest,
    error: ApiError,
    location: &str,
    (title, link): (&str, &str),
) -> HttpResponse {
    let mut response = if wants_html(req) {
        let escaped = location
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;");
        HttpResponse::Unauthorized()
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta http-equiv=\"refresh\" content=\"0;url={escaped}\"><title>{title}</title></head>\
                 <body><p>Please <a href=\"{escaped}\">{link}</a> to continue.</p></body></html>"
            ))
    } else {
        error.error_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Ok(value) = header::HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    response
}

/// To the sign-in page, with the original URL as the return address.
fn sign_in_needed(auth: &Auth, req: &HttpRequest, original: Option<&str>) -> HttpResponse {
    let login = return_to::login_url(auth.settings(), original);
    let error = ApiError::from(AuthError::Unauthenticated);
    redirecting_401(req, error, &login, ("Sign in", "sign in"))
}

/// `/reauthenticate?rd=<url>&require=<what>` on twofold's origin (`rd`
/// only when it is an address we may send people back to).
fn step_up_url(auth: &Auth, original: Option<&str>, require: StepUp) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(rd) = original.and_then(|url| return_to::allowed(auth.settings(), url)) {
        query.append_pair("rd", &rd);
    }
    query.append_pair("require", require.as_str());
    format!(
        "{}/reauthenticate?{}",
        auth.settings().server.origin,
        query.finish()
    )
}

/// To the step-up page, asking for what the request lacks.
fn step_up_needed(
    auth: &Auth,
    req: &HttpRequest,
    original: Option<&str>,
    require: StepUp,
) -> HttpResponse {
    let message = match require {
        StepUp::Recent => "confirm it's you with a second factor to reach this address",
        StepUp::SecurityKey => "confirm it's you with a security key to reach this address",
    };
    let error = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "reauthentication_required",
        message,
    );
    let location = step_up_url(auth, original, require);
    redirecting_401(
        req,
        error,
        &location,
        ("Confirm it's you", "confirm it's you"),
    )
}

#[derive(Template)]
#[template(path = "no_access.html")]
struct NoAccessView {
    /// The address refused, when it is one we may name back.
    url: Option<String>,
}

#[derive(Deserialize)]
struct NoAccessQuery {
    rd: Option<String>,
}

/// 403 `forbidden`; a browser gets the "you don't have access" page.
fn forbidden(auth: &Auth, req: &HttpRequest, original: Option<&str>) -> HttpResponse {
    if !wants_html(req) {
        return ApiError::forbidden("you don't have access to this address").error_response();
    }
    let url = original.and_then(|url| return_to::allowed(auth.settings(), url));
    page(StatusCode::FORBIDDEN, &NoAccessView { url })
}

/// The page nginx's `error_page 403` sends a refused browser to.
async fn no_access_page(auth: web::Data<Auth>, query: web::Query<NoAccessQuery>) -> HttpResponse {
    let url = query
        .rd
        .as_deref()
        .and_then(|rd| return_to::allowed(auth.settings(), rd));
    page(StatusCode::FORBIDDEN, &NoAccessView { url })
}
