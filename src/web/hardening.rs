//! Web hardening on every response: security headers (a CSP without inline
//! script, no framing, no referrer, no caching unless a handler says so), and
//! the cross-origin guard that refuses state-changing requests sent by other
//! sites (CSRF), by `Sec-Fetch-Site`, else `Origin`, else `Referer`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpResponse, ResponseError, web};

use super::error::ApiError;
use crate::auth::Auth;
use crate::config::Settings;

/// Pages use only their own stylesheet and scripts; the QR code is a data: image.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The policy with `form-action` also allowing the origins of the
/// OpenID Connect clients' redirect URIs: a sign-in or consent form's answer
/// may end in a redirect back to the app, and browsers hold a form's whole
/// redirect chain to `form-action`.
pub fn content_security_policy(settings: &Settings) -> String {
    let mut origins: Vec<String> = settings
        .oidc
        .clients
        .iter()
        .flat_map(|client| &client.redirect_uris)
        .filter_map(|uri| url::Url::parse(uri).ok())
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin != "null")
        .collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() {
        return CONTENT_SECURITY_POLICY.to_owned();
    }
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'self';",
        &format!("form-action 'self' {};", origins.join(" ")),
    )
}

/// Headers added to every response that does not set them itself.
pub fn security_headers(settings: &Settings) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(settings),
        ))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add(("cross-origin-opener-policy", "same-origin"))
        .add(("cross-origin-resource-policy", "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"));
    if settings.secure_cookies() {
        headers = headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
    }
    headers
}

/// `scheme://host[:port]`, lower-case, without a default port or a trailing slash.
fn normalise_origin(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        if origin.starts_with(scheme)
            && let Some(stripped) = origin.strip_suffix(port)
        {
            return stripped.to_owned();
        }
    }
    origin
}

/// The origin part of a URL (`https://a.example/x?y` → `https://a.example`).
fn origin_of_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    normalise_origin(&format!("{scheme}://{authority}"))
}

/// Why a request must be refused as cross-site, if it must. Safe methods and
/// clients that are not browsers (no `Sec-Fetch-Site`, `Origin` or `Referer`)
/// pass.
pub fn cross_origin_refusal(
    method: &Method,
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    referer: Option<&str>,
    our_origin: &str,
) -> Option<String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let ours = normalise_origin(our_origin);
    if let Some(site) = sec_fetch_site {
        return match site.trim().to_ascii_lowercase().as_str() {
            "same-origin" | "none" => None,
            other => Some(format!(
                "this request came from another site (Sec-Fetch-Site: {other}); \
                 twofold accepts it only from {ours}"
            )),
        };
    }
    if let Some(origin) = origin {
        return (normalise_origin(origin) != ours).then(|| {
            format!(
                "this request came from another site (Origin: {origin}); \
                 twofold accepts it only from {ours} (server.origin)"
            )
        });
    }
    if let Some(referer) = referer {
        return (origin_of_url(referer) != ours).then(|| {
            format!(
                "this request came from another site (Referer); \
                 twofold accepts it only from {ours} (server.origin)"
            )
        });
    }
    None
}

/// The middleware: a cross-site state change gets 403 — the API's JSON
/// error under `/api/`, plain text elsewhere.
pub async fn cross_origin_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let our_origin = req
        .app_data::<web::Data<Auth>>()
        .map(|auth| auth.settings().server.origin.clone())
        .unwrap_or_default();
    let refusal = cross_origin_refusal(
        req.method(),
        header_text(header::HeaderName::from_static("sec-fetch-site")).as_deref(),
        header_text(header::ORIGIN).as_deref(),
        header_text(header::REFERER).as_deref(),
        &our_origin,
    );
    // The client endpoints take a client's or a bearer's credentials, never
    // a cookie: a cross-site call there is how public clients work.
    let refusal = refusal.filter(|_| !super::oidc::is_client_endpoint(req.path()));
    let Some(reason) = refusal else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    tracing::warn!(path = req.path(), method = %req.method(), "refused a cross-site request");
    let error = ApiError::cross_origin(reason);
    let response = if req.path().starts_with("/api/") {
        error.error_response()
    } else {
        HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body(error.message)
    };
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "https://auth.example.com";

    fn refused(sfs: Option<&str>, origin: Option<&str>, referer: Option<&str>) -> bool {
        cross_origin_refusal(&Method::POST, sfs, origin, referer, OURS).is_some()
    }

    #[test]
    fn fetch_metadata_decides_when_the_browser_sends_it() {
        assert!(!refused(Some("same-origin"), Some("null"), None));
        assert!(!refused(Some("none"), None, None));
        assert!(refused(Some("same-site"), None, None));
        assert!(refused(Some("cross-site"), Some(OURS), None));
    }

    #[test]
    fn otherwise_the_origin_must_be_ours() {
        assert!(!refused(None, Some("https://auth.example.com"), None));
        assert!(!refused(None, Some("HTTPS://auth.example.com:443"), None));
        assert!(refused(None, Some("https://evil.example"), None));
        assert!(refused(None, Some("null"), None));
        assert!(refused(
            None,
            Some("https://auth.example.com.evil.example"),
            None
        ));
    }

    #[test]
    fn then_the_referer() {
        assert!(!refused(
            None,
            None,
            Some("https://auth.example.com/login?x=1")
        ));
        assert!(refused(
            None,
            None,
            Some("https://evil.example/auth.example.com")
        ));
    }

    #[test]
    fn non_browsers_and_safe_methods_pass() {
        assert!(!refused(None, None, None));
        assert!(cross_origin_refusal(&Method::GET, Some("cross-site"), None, None, OURS).is_none());
    }
}
