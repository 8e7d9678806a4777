//! Forward-auth's answers for a signed-in person, once the policies have
//! judged the original request: 200 with the `Remote-*` headers, 401 to the
//! step-up page with `require=`, or 403 `forbidden` — and for a browser, the
//! "you don't have access" page (Traefik shows that body; nginx is pointed
//! at `/no-access` with `error_page 403`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use super::error::ApiError;
use super::forwarded::original_request;
use super::pages::page;
use super::return_to;
use crate::access::{Access, StepUp};
use crate::auth::authorization::ForwardRequest;
use crate::auth::{Account, Auth, Client};
use crate::metrics::VerifyDecision;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/no-access", web::get().to(no_access_page));
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

/// The page a browser sees when a policy keeps it out of an app.
async fn no_access_page(auth: web::Data<Auth>, query: web::Query<NoAccessQuery>) -> HttpResponse {
    let url = query
        .rd
        .as_deref()
        .and_then(|rd| return_to::allowed(auth.settings(), rd));
    page(StatusCode::FORBIDDEN, &NoAccessView { url })
}

/// Judges the original request for a signed-in person and answers the proxy.
pub async fn answer(
    auth: &Auth,
    account: &Account,
    credential_type: &str,
    client: &Client,
    req: &HttpRequest,
) -> (VerifyDecision, HttpResponse) {
    let original = match original_request(req) {
        Ok(original) => original,
        Err(error) => return (VerifyDecision::Error, error.error_response()),
    };
    let request = ForwardRequest {
        method: &original.method,
        url: &original.resource,
    };
    let decision = match auth
        .forward_auth(account, credential_type, request, client)
        .await
    {
        Ok(decision) => decision,
        Err(error) => {
            return (
                VerifyDecision::Error,
                ApiError::from(error).error_response(),
            );
        }
    };
    match decision.access {
        Access::Allowed => (
            VerifyDecision::Allow,
            HttpResponse::Ok()
                .insert_header(("Remote-User", account.user.username.as_str()))
                .insert_header(("Remote-Groups", decision.groups.join(",")))
                .insert_header(("Remote-Admin", account.user.admin.to_string()))
                .finish(),
        ),
        Access::StepUp(require) => (
            VerifyDecision::StepUp,
            step_up_needed(auth, req, original.url.as_deref(), require),
        ),
        Access::Forbidden(_) => (
            VerifyDecision::Forbidden,
            forbidden(auth, req, original.url.as_deref()),
        ),
    }
}

fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `/reauthenticate?rd=<url>&require=<what>` on twofold's origin (`rd`
/// only when it is an address we may send people back to).
pub fn step_up_url(auth: &Auth, original: Option<&str>, require: StepUp) -> String {
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

/// 401 with `Location` to the step-up page; a browser gets a page that goes
/// there by itself, a script the JSON error.
fn step_up_needed(
    auth: &Auth,
    req: &HttpRequest,
    original: Option<&str>,
    require: StepUp,
) -> HttpResponse {
    let location = step_up_url(auth, original, require);
    let message = match require {
        StepUp::Recent => "confirm it's you with a second factor to reach this address",
        StepUp::SecurityKey => "confirm it's you with a security key to reach this address",
    };
    let mut response = if wants_html(req) {
        let escaped = escape(&location);
        HttpResponse::Unauthorized()
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta http-equiv=\"refresh\" content=\"0;url={escaped}\"><title>Confirm it's you</title></head>\
                 <body><p>Please <a href=\"{escaped}\">confirm it's you</a> to continue.</p></body></html>"
            ))
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "reauthentication_required",
            message,
        )
        .error_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    response
}

/// 403 `forbidden`; a browser gets the "you don't have access" page.
fn forbidden(auth: &Auth, req: &HttpRequest, original: Option<&str>) -> HttpResponse {
    if !wants_html(req) {
        return ApiError::forbidden("you don't have access to this address").error_response();
    }
    let url = original.and_then(|url| return_to::allowed(auth.settings(), url));
    page(StatusCode::FORBIDDEN, &NoAccessView { url })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}
