//! The one place where domain refusals become HTTP answers: each `AuthError`
//! gets its API error code and a deliberate status; a 5xx only for a bug or an
//! unreachable store, logged here and never shown in detail.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::access::management::AccessError;
use crate::auth::AuthError;

/// An API error answer: `{"error": code, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: Option<i64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// A state-changing request another site sent (CSRF): `reason` says
    /// which header gave it away.
    pub fn cross_origin(reason: impl Into<String>) -> Self {
        Self::forbidden(reason)
    }

    /// A request body that did not arrive in time (`server.body_timeout_secs`).
    pub fn request_timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(seconds) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, seconds.max(1).to_string()));
        }
        response.json(ErrorBody {
            error: self.code,
            message: &self.message,
        })
    }
}

/// Status and API code of every domain refusal.
pub fn status_and_code(error: &AuthError) -> (StatusCode, &'static str) {
    match error {
        AuthError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        AuthError::InvalidCode | AuthError::CodeJustUsed => {
            (StatusCode::UNAUTHORIZED, "invalid_code")
        }
        AuthError::InvalidEnrolmentCode => (StatusCode::BAD_REQUEST, "invalid_code"),
        AuthError::InvalidAssertion => (StatusCode::UNAUTHORIZED, "invalid_assertion"),
        AuthError::InvalidAttestation | AuthError::ModelNotAllowed(_) => {
            (StatusCode::BAD_REQUEST, "invalid_attestation")
        }
        AuthError::PasskeysOff => (StatusCode::NOT_FOUND, "not_found"),
        AuthError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        AuthError::Forbidden | AuthError::NotWithTemporaryCredential => {
            (StatusCode::FORBIDDEN, "forbidden")
        }
        AuthError::UnauthenticatedBecause(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        AuthError::InvalidAccessKey => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        AuthError::TooManyAccessKeys(_) => (StatusCode::CONFLICT, "too_many_access_keys"),
        AuthError::ReauthenticationRequired => (StatusCode::FORBIDDEN, "reauthentication_required"),
        AuthError::TooManyDevices(_) => (StatusCode::CONFLICT, "too_many_devices"),
        AuthError::LastFactor => (StatusCode::CONFLICT, "last_factor"),
        AuthError::UsernameTaken => (StatusCode::CONFLICT, "username_taken"),
        AuthError::WeakPassword(_) => (StatusCode::BAD_REQUEST, "weak_password"),
        AuthError::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        AuthError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        AuthError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        AuthError::CannotDisableSelf => (StatusCode::BAD_REQUEST, "invalid_request"),
        AuthError::AccessLimit(_) => (StatusCode::CONFLICT, "limit_exceeded"),
        AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        AuthError::Unexpected(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    }
}

/// What a person may read about an error: the domain's words, except for
/// unexpected failures, whose details go to the log only.
pub fn public_message(error: &AuthError) -> String {
    match error {
        AuthError::Unexpected(inner) => {
            tracing::error!(error = ?inner, "unexpected failure");
            "something went wrong on the server; it has been logged".into()
        }
        other => other.to_string(),
    }
}

impl From<&AuthError> for ApiError {
    fn from(error: &AuthError) -> Self {
        let (status, code) = status_and_code(error);
        let retry_after_secs = match error {
            AuthError::TooManyAttempts { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        Self {
            status,
            code,
            message: public_message(error),
            retry_after_secs,
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::InvalidPolicy(invalid) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_policy",
                invalid.to_string(),
            ),
            AccessError::Auth(error) => error.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::from(&error)
    }
}

/// A domain refusal met by an extractor (`web::principal`) is answered as
/// the API answers it.
impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        status_and_code(self).0
    }

    fn error_response(&self) -> HttpResponse {
        ApiError::from(self).error_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An OpenID Connect / OAuth endpoint's refusal, in the RFCs' shape
/// (`error`, `error_description`; `message` too, as every API error has):
/// 401 with `WWW-Authenticate` for a client that failed to authenticate
/// through `Authorization: Basic` or a bad bearer token, 400 for the rest.
impl ResponseError for crate::oidc::OidcError {
    fn status_code(&self) -> StatusCode {
        use crate::oidc::OidcError;
        match self {
            OidcError::InvalidClient { .. } | OidcError::InvalidToken => StatusCode::UNAUTHORIZED,
            OidcError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            OidcError::Store(crate::store::StoreError::Unavailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            OidcError::Store(_) | OidcError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        use crate::oidc::OidcError;
        let status = self.status_code();
        let description = if status.is_server_error() {
            tracing::error!(error = %self, "an OpenID Connect endpoint failed");
            "the server could not answer; try again shortly".to_owned()
        } else {
            self.to_string()
        };
        let mut response = HttpResponse::build(status);
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        match self {
            OidcError::InvalidClient { basic: true } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"twofold\""));
            }
            OidcError::InvalidToken => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            OidcError::TooManyAttempts { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            _ => {}
        }
        response.json(serde_json::json!({
            "error": self.code(),
            "error_description": description,
            "message": description,
        }))
    }
}
