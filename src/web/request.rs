//! A JSON request body as handlers read it: absent, empty and `{}` all mean
//! "no fields"; anything malformed is 400 `invalid_request`. (Who is asking
//! is `web::principal`'s.)

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest JSON body accepted (a WebAuthn credential is a few KiB).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| {
                ApiError::invalid_request(format!("the request body could not be read: {e}"))
            })?;
            decode_json_body(&bytes).map(JsonBody)
        })
    }
}

/// A body as `T`: blank means `{}`; too large or malformed is 400 `invalid_request`.
fn decode_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::invalid_request("the request body is too large"));
    }
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::invalid_request(format!("the JSON body is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;
    use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

    use super::decode_json_body;
    use crate::web::admin::NewUserRequest;
    use crate::web::devices::RenameRequest;
    use crate::web::login::{CodeRequest, LoginRequest};
    use crate::web::me::{ConfirmRequest, NewTotpRequest};
    use crate::web::protection::{
        PasswordChangeRequest, ReauthenticateRequest, RecoveryCodeRequest,
    };
    use crate::web::resync::ResyncRequest;
    use crate::web::security_keys::NewKeyRequest;

    /// The field names the API's bodies use, so generated objects reach
    /// past "unknown field" into the type checks of the real ones.
    const FIELDS: &[&str] = &[
        "username",
        "password",
        "admin",
        "code",
        "next_code",
        "recovery_code",
        "name",
        "secret",
        "current_password",
        "new_password",
        "id",
        "rawId",
        "type",
        "response",
        "clientDataJSON",
        "authenticatorData",
        "signature",
        "userHandle",
        "attestationObject",
        "extensions",
        "transports",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[A-Za-z0-9_-]{0,80}".prop_map(Value::String),
            "[0-9 ]{0,10}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            proptest::sample::select(FIELDS).prop_map(str::to_owned),
                            any::<String>()
                        ],
                        inner
                    ),
                    0..8
                )
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Runs `bytes` through the decoder of every JSON body type the API takes;
    /// how many accepted it.
    fn decode_as_every_body(bytes: &[u8]) -> usize {
        macro_rules! accepted {
            ($($body:ty),+ $(,)?) => {
                0 $(+ usize::from(decode_json_body::<$body>(bytes).is_ok()))+
            };
        }
        accepted!(
            LoginRequest,
            CodeRequest,
            RecoveryCodeRequest,
            NewTotpRequest,
            ConfirmRequest,
            NewKeyRequest,
            RenameRequest,
            ResyncRequest,
            PasswordChangeRequest,
            ReauthenticateRequest,
            NewUserRequest,
            PublicKeyCredential,
            RegisterPublicKeyCredential,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn random_text_that_is_not_json_is_refused_by_every_body(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..512),
                any::<String>().prop_map(String::into_bytes),
            ]
        ) {
            let accepted = decode_as_every_body(&bytes);
            let blank = bytes.iter().all(u8::is_ascii_whitespace);
            // serde skips ignored fields' strings without checking their
            // UTF-8: only valid text is sure to be refused by the parser.
            let text_not_json = std::str::from_utf8(&bytes)
                .is_ok_and(|text| serde_json::from_str::<Value>(text).is_err());
            if !blank && text_not_json {
                prop_assert_eq!(accepted, 0);
            }
        }

        #[test]
        fn arbitrary_json_never_panics_and_scalars_are_refused(value in json_value()) {
            let bytes = serde_json::to_vec(&value).unwrap();
            let accepted = decode_as_every_body(&bytes);
            if !matches!(value, Value::Object(_) | Value::Array(_)) {
                prop_assert_eq!(accepted, 0, "{}", value);
            }
        }
    }

    #[test]
    fn a_body_over_the_limit_is_refused_before_it_is_parsed() {
        let big = format!("{{\"name\": \"{}\"}}", "a".repeat(super::MAX_BODY_BYTES));
        assert_eq!(decode_as_every_body(big.as_bytes()), 0);
        assert_eq!(decode_as_every_body(b"  \n"), decode_as_every_body(b"{}"));
    }
}
