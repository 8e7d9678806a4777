//! `POST /api/v1/me/devices/{id}/resync`: a signed-in user finds one of their
//! TOTP devices again after its clock drifted, with two consecutive codes.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiResult;
use super::request::JsonBody;
use crate::auth::totp::STEP_SECS;
use crate::auth::{Account, Auth, Client};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ResyncRequest {
    code: String,
    next_code: String,
}

#[tracing::instrument(skip_all)]
#[utoipa::path(
    post,
    path = "/api/v1/me/devices/{id}/resync",
    tag = "account",
    request_body = ResyncRequest,
    params(("id" = String, Path, description = "The device id")),
    security(("session" = [])),
    responses(
        (status = 200, description = "The device's clock drift is learned", body = super::openapi::DeviceStatus),
        (status = 400, description = "invalid_request", body = super::openapi::ErrorBody),
        (status = 401, description = "invalid_code or unauthenticated", body = super::openapi::ErrorBody),
        (status = 404, description = "not_found", body = super::openapi::ErrorBody),
        (status = 429, description = "too_many_attempts", body = super::openapi::ErrorBody)
    )
)]
pub async fn resync(
    auth: web::Data<Auth>,
    account: Account,
    client: Client,
    id: web::Path<String>,
    JsonBody(body): JsonBody<ResyncRequest>,
) -> ApiResult<HttpResponse> {
    let resynced = auth
        .resync_totp(&account, &id, &body.code, &body.next_code, &client)
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": id.as_str(),
        "status": "resynchronised",
        "offset_secs": resynced.offset_steps * STEP_SECS,
    })))
}
