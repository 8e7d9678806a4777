//! `POST /api/v1/me/devices/{id}/resync`: a signed-in user finds one of their
//! TOTP devices again after its clock drifted, with two consecutive codes.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiResult;
use super::request::{JsonBody, client, session_token};
use crate::auth::Auth;
use crate::auth::totp::STEP_SECS;

#[derive(Deserialize)]
pub struct ResyncRequest {
    code: String,
    next_code: String,
}

#[tracing::instrument(skip_all)]
pub async fn resync(
    auth: web::Data<Auth>,
    req: HttpRequest,
    id: web::Path<String>,
    JsonBody(body): JsonBody<ResyncRequest>,
) -> ApiResult<HttpResponse> {
    let account = auth.signed_in(session_token(&req).as_ref()).await?;
    let resynced = auth
        .resync_totp(&account, &id, &body.code, &body.next_code, &client(&req))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": id.as_str(),
        "status": "resynchronised",
        "offset_secs": resynced.offset_steps * STEP_SECS,
    })))
}
