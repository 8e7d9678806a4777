//! A deadline on reading a request body: the whole body must arrive within
//! `server.body_timeout_secs` of its headers, else 408 and the connection is
//! closed. Headers have their own deadline (actix-web's, 5 s); without this
//! one a body trickling a byte at a time would hold its connection forever.

use std::time::Duration;

use actix_web::body::{BodyStream, EitherBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};

use super::error::ApiError;
use crate::access::management::AccessError;
use crate::access::{InvalidPolicy, Problem};
use crate::auth::Auth;

/// Largest body read (actix-web's own default for its extractors); each
/// handler's extractor applies its own, smaller limit.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Whether the request announces a body (HTTP/1.1: a length or chunks).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().map_or("?", str::trim));
    headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|v| v != "0")
}

/// The answer to a body that is refused: the API's JSON error under `/api/`,
/// plain text for pages; the connection is closed (its body is unread).
fn refusal(req: ServiceRequest, error: ApiError) -> ServiceResponse {
    let mut response = if req.path().starts_with("/api/") {
        error.error_response()
    } else {
        HttpResponse::build(error.status)
            .content_type("text/plain; charset=utf-8")
            .body(error.message.clone())
    };
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    req.into_response(response)
}

/// A body over the limit. A policy document's route answers as its own
/// validation would (the contract: any document over 10 KiB is 400
/// `invalid_policy`), so a huge one reads the same as a slightly large one.
fn too_large(path: &str) -> ApiError {
    if path.starts_with(POLICY_ROUTE) {
        let problem = InvalidPolicy {
            at: "document".into(),
            problem: Problem::TooLarge,
        };
        return AccessError::InvalidPolicy(problem).into();
    }
    ApiError::invalid_request("the request body is too large")
}

const POLICY_ROUTE: &str = "/api/v1/admin/policies/";

/// Reads the whole body within the deadline, then hands the request on with
/// the body it read.
pub async fn read_body_in_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if !has_body(&req) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let deadline = req
        .app_data::<web::Data<Auth>>()
        .map_or(10, |auth| auth.settings().server.body_timeout_secs);
    let body = BodyStream::new(req.take_payload());
    let read = tokio::time::timeout(
        Duration::from_secs(deadline),
        to_bytes_limited(body, MAX_BODY_BYTES),
    )
    .await;
    let error = match read {
        Ok(Ok(Ok(bytes))) => {
            req.set_payload(Payload::from(bytes));
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body);
        }
        Ok(Ok(Err(e))) => {
            ApiError::invalid_request(format!("the request body could not be read: {e}"))
        }
        Ok(Err(_)) => too_large(req.path()),
        Err(_) => {
            tracing::debug!(path = req.path(), "request body not received in time");
            ApiError::request_timeout(format!(
                "the request body did not arrive within {deadline} s"
            ))
        }
    };
    Ok(refusal(req, error).map_into_right_body())
}
