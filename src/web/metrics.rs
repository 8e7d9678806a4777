//! `GET /metrics` for Prometheus, readable only from `metrics.allowed_ips`,
//! and the one-line helpers handlers use to count what they answered.

use std::net::IpAddr;

use actix_web::{HttpRequest, HttpResponse, web};

use super::client_ip::client_ip;
use super::error::{ApiError, ApiResult};
use crate::auth::{Auth, AuthError, AuthResult};
use crate::config::{Settings, parse_proxy};
use crate::metrics::{SignInMethod, SignInOutcome};

/// OpenMetrics text, which Prometheus reads natively (typed counters,
/// histograms with units).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    responses(
        (status = 200, description = "Prometheus series (OpenMetrics text)", content_type = "application/openmetrics-text", body = String),
        (status = 403, description = "forbidden: not from metrics.allowed_ips", body = super::openapi::ErrorBody)
    )
)]
pub async fn metrics(auth: web::Data<Auth>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let settings = auth.settings();
    let client = client_ip(&req, &settings.server.trusted_proxies);
    if !client.is_some_and(|ip| may_read_metrics(settings, ip)) {
        return Err(ApiError::forbidden(
            "metrics are readable only from the addresses in metrics.allowed_ips",
        ));
    }
    let text = auth.metrics_text().await?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

/// Whether `ip` (the client as `server.trusted_proxies` resolves it) is in
/// `metrics.allowed_ips`.
fn may_read_metrics(settings: &Settings, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    settings
        .metrics
        .allowed_ips
        .iter()
        .filter_map(|allowed| parse_proxy(allowed))
        .any(|net| net.contains(&ip))
}

/// Counts a sign-in step by how it ended, and hands its result on.
pub fn counted<T>(auth: &Auth, method: SignInMethod, result: AuthResult<T>) -> AuthResult<T> {
    let outcome = match &result {
        Ok(_) => SignInOutcome::Success,
        Err(AuthError::TooManyAttempts { .. }) => SignInOutcome::Throttled,
        Err(AuthError::Unexpected(_)) => SignInOutcome::Error,
        Err(_) => SignInOutcome::Failure,
    };
    auth.metrics().sign_in(method, outcome);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_ips_are_addresses_and_ranges() {
        let mut settings = Settings::default();
        assert!(may_read_metrics(&settings, "127.0.0.1".parse().unwrap()));
        assert!(may_read_metrics(
            &settings,
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        assert!(!may_read_metrics(&settings, "192.0.2.1".parse().unwrap()));
        settings.metrics.allowed_ips = vec!["10.1.0.0/16".into()];
        assert!(may_read_metrics(&settings, "10.1.2.3".parse().unwrap()));
        assert!(!may_read_metrics(&settings, "127.0.0.1".parse().unwrap()));
    }
}
