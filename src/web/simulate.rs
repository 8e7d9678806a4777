//! `POST /api/v1/admin/simulate`: how a request would be decided for a user,
//! and which statements matched — the policy author's check before a change.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::ApiRoute;
use super::error::{ApiError, ApiResult};
use super::request::JsonBody;
use crate::access::{Context, Simulation};
use crate::auth::Auth;

/// Longest action or resource the simulator takes.
const MAX_TEXT_CHARS: usize = 2048;

/// Routes inside `/api/v1/admin`.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![ApiRoute::new(Method::POST, "/simulate", |r| r.to(simulate))]
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SimulateRequest {
    username: String,
    /// `http:GET`, `twofold:ResetMfa`, …
    action: String,
    /// `https://app.example.com/path`, `twofold:user/alice`, `*`, …
    resource: String,
    /// Condition keys, e.g. `{"twofold:MfaMethod": "totp"}`; absent keys are absent.
    #[schema(value_type = Option<Object>)]
    context: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MatchedView {
    policy: String,
    sid: Option<String>,
    /// `Allow` or `Deny`.
    effect: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SimulationView {
    /// `allow`, `deny` (an explicit Deny) or `implicit_deny`.
    decision: &'static str,
    /// No statement matched: the default decided.
    by_default: bool,
    /// The user's `admin: true` allowed a `twofold:*` action (an extension).
    by_admin: bool,
    matched: Vec<MatchedView>,
}

impl From<Simulation> for SimulationView {
    fn from(simulation: Simulation) -> Self {
        Self {
            decision: simulation.decision.as_str(),
            by_default: simulation.by_default,
            by_admin: simulation.by_admin,
            matched: simulation
                .matched
                .into_iter()
                .map(|m| MatchedView {
                    policy: m.policy,
                    sid: m.sid,
                    effect: m.effect.as_str(),
                })
                .collect(),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/simulate",
    tag = "admin",
    request_body = SimulateRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "The decision and the statements that matched", body = SimulationView),
        (status = 400, description = "invalid_request: a field or context key", body = super::openapi::ErrorBody),
        (status = 401, description = "unauthenticated: no live session", body = super::openapi::ErrorBody),
        (status = 403, description = "forbidden", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found: no such user", body = super::openapi::ErrorBody)
    )
)]
async fn simulate(
    auth: web::Data<Auth>,
    JsonBody(body): JsonBody<SimulateRequest>,
) -> ApiResult<HttpResponse> {
    for (field, text) in [("action", &body.action), ("resource", &body.resource)] {
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::invalid_request(format!(
                "{field}: at most {MAX_TEXT_CHARS} characters"
            )));
        }
    }
    if body.action.trim().is_empty() {
        return Err(ApiError::invalid_request(
            "action: expected an action such as http:GET",
        ));
    }
    let context = match &body.context {
        Some(given) => Context::from_given(given).map_err(ApiError::invalid_request)?,
        None => Context::new(),
    };
    let simulation = auth
        .simulate(&body.username, &body.action, &body.resource, &context)
        .await?;
    Ok(HttpResponse::Ok().json(SimulationView::from(simulation)))
}
