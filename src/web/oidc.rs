//! The OpenID Connect provider over HTTP: discovery, JWKS, the
//! authorization endpoint and its consent page, the token, userinfo,
//! revocation and introspection endpoints (form-encoded bodies, RFC error
//! codes) and RP-initiated logout. The rules are `oidc`'s; this file reads
//! requests and writes answers.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use base64::Engine;
use secrecy::SecretString;
use serde::Deserialize;

use super::ApiRoute;
use super::cookies::{self, PENDING_COOKIE, SESSION_COOKIE};
use super::pages::{page, see_other};
use super::principal::SignInCookies;
use super::return_to;
use crate::auth::principal::Credential;
use crate::auth::{Auth, Client, Principal};
use crate::config::OidcClientSettings;
use crate::oidc::authorize::AuthorizeRefusal;
use crate::oidc::{AuthorizeStep, ClientCredentials, OidcError, Provider, TokenGrant};

/// The longest authorization request or form body read (bytes).
const MAX_REQUEST_BYTES: usize = 8 * 1024;
const MAX_PARAM_CHARS: usize = 4096;

/// The provider's endpoints, in the API table (so the OpenAPI document
/// lists them); the consent page's form is a page route.
pub fn api_routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Method::GET, "/.well-known/openid-configuration", |r| {
            r.to(discovery)
        }),
        ApiRoute::new(Method::GET, "/oauth2/jwks", |r| r.to(jwks)),
        ApiRoute::new(Method::GET, "/oauth2/authorize", |r| r.to(authorize)),
        ApiRoute::new(Method::POST, "/oauth2/token", |r| r.to(token)),
        ApiRoute::new(Method::GET, "/oauth2/userinfo", |r| r.to(userinfo)),
        ApiRoute::new(Method::POST, "/oauth2/userinfo", |r| r.to(userinfo_form)),
        ApiRoute::new(Method::POST, "/oauth2/revoke", |r| r.to(revoke)),
        ApiRoute::new(Method::POST, "/oauth2/introspect", |r| r.to(introspect)),
        ApiRoute::new(Method::GET, "/oauth2/logout", |r| r.to(logout)),
    ]
}

pub fn page_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth2/consent", web::post().to(consent));
}

/// The endpoints a relying party calls from its server (or a public client
/// from its page) with its own credentials, never a cookie: exempt from the
/// cross-site guard, which protects cookie-carrying forms.
pub fn is_client_endpoint(path: &str) -> bool {
    matches!(
        path,
        "/oauth2/token" | "/oauth2/userinfo" | "/oauth2/revoke" | "/oauth2/introspect"
    )
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    response
}

/// OpenID Connect Discovery 1.0.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "openid-connect", operation_id = "oidc_discovery",
    responses((status = 200, description = "The provider's metadata (OpenID Connect Discovery 1.0)", body = Object)))]
pub async fn discovery(provider: web::Data<Provider>) -> HttpResponse {
    let issuer = provider.issuer();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
            "jwks_uri": format!("{issuer}/oauth2/jwks"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
            "end_session_endpoint": format!("{issuer}/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": crate::oidc::keys::ALGORITHMS,
            "scopes_supported": crate::config::OIDC_SCOPES,
            "claims_supported": ["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce",
                "amr", "acr", "name", "preferred_username", "groups"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported":
                ["client_secret_basic", "client_secret_post"],
            "prompt_values_supported": ["none", "login", "consent"],
            "acr_values_supported": ["mfa", "phr"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        }))
}

/// The signing keys.
#[utoipa::path(get, path = "/oauth2/jwks", tag = "openid-connect", operation_id = "oidc_jwks",
    responses((status = 200, description = "The JWK Set: the current ES256 and RS256 keys, and retired ones until their tokens expire", body = Object)))]
pub async fn jwks(provider: web::Data<Provider>) -> Result<HttpResponse, OidcError> {
    let set = provider.jwks().await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(set))
}

#[derive(Template)]
#[template(path = "oidc_error.html")]
struct OidcErrorView {
    reason: String,
}

#[derive(Template)]
#[template(path = "oidc_denied.html")]
struct OidcDeniedView {
    client_name: String,
    back: String,
}

#[derive(Template)]
#[template(path = "oidc_consent.html")]
struct OidcConsentView {
    client_name: String,
    username: String,
    scopes: Vec<&'static str>,
    request: String,
}

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct OidcLogoutView {
    signed_out: bool,
    signed_in: bool,
}

fn error_page(reason: &str) -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        &OidcErrorView {
            reason: reason.to_owned(),
        },
    )
}

/// What a scope lets the client learn, as the consent page says it.
fn scope_words(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are when you sign in",
        "profile" => "See your user name",
        "email" => "See your email address",
        "groups" => "See the groups you belong to",
        "offline_access" => "Stay signed in to you while you are away",
        _ => "Something twofold does not know",
    }
}

/// The browser's session, and only that: a bearer credential does not sign
/// a person in to an app.
async fn browser_principal(auth: &Auth, cookies: &SignInCookies) -> Option<Principal> {
    let account = auth.signed_in(cookies.session.as_ref()).await.ok()?;
    Some(Principal {
        user: account.user,
        credential: Credential::Session(account.session),
    })
}

fn query_pairs(text: &str) -> Option<Vec<(String, String)>> {
    if text.len() > MAX_REQUEST_BYTES {
        return None;
    }
    Some(
        url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect(),
    )
}

/// Where the browser goes for a step.
fn step_response(auth: &Auth, step: AuthorizeStep, username: Option<&str>) -> HttpResponse {
    match step {
        AuthorizeStep::SignIn {
            return_query,
            again,
        } => {
            let target = format!(
                "{}/oauth2/authorize?{return_query}",
                auth.settings().server.origin
            );
            let mut login = return_to::login_url(auth.settings(), Some(&target));
            if again {
                login.push_str(if login.contains('?') { "&" } else { "?" });
                login.push_str("prompt=login");
            }
            see_other(&login)
        }
        AuthorizeStep::Denied { client_name, back } => {
            page(StatusCode::FORBIDDEN, &OidcDeniedView { client_name, back })
        }
        AuthorizeStep::Consent {
            client_name,
            scopes,
            request_query,
        } => page(
            StatusCode::OK,
            &OidcConsentView {
                client_name,
                username: username.unwrap_or_default().to_owned(),
                scopes: scopes.iter().map(|s| scope_words(s)).collect(),
                request: request_query,
            },
        ),
        AuthorizeStep::Redirect(url) => see_other(&url),
    }
}

fn refusal_response(provider: &Provider, refusal: AuthorizeRefusal) -> HttpResponse {
    match refusal {
        AuthorizeRefusal::Page(reason) => error_page(&reason),
        AuthorizeRefusal::Redirect(error) => see_other(&error.url(provider.issuer())),
    }
}

/// The authorization endpoint (code flow).
#[utoipa::path(get, path = "/oauth2/authorize", tag = "openid-connect", operation_id = "oidc_authorize",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query, description = "A configured client"),
        ("redirect_uri" = String, Query, description = "One of the client's redirect URIs, exactly"),
        ("scope" = String, Query, description = "Space-separated, with `openid`"),
        ("state" = Option<String>, Query, description = "Returned as given"),
        ("nonce" = Option<String>, Query, description = "Put in the ID token"),
        ("code_challenge" = Option<String>, Query, description = "PKCE S256 challenge (required unless the client has `require_pkce = false`)"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256`"),
        ("prompt" = Option<String>, Query, description = "`none`, `login`, `consent`"),
        ("max_age" = Option<i64>, Query, description = "Seconds since the second factor at most")
    ),
    responses(
        (status = 303, description = "To sign in, or back to the client with `code` (or `error`), `state` and `iss`"),
        (status = 200, description = "The consent page"),
        (status = 400, description = "An error page: unknown client or unregistered redirect URI (never redirected)"),
        (status = 403, description = "`oidc:Authorize` refused: a page linking back to the client with `access_denied`")
    ))]
pub async fn authorize(
    provider: web::Data<Provider>,
    req: HttpRequest,
    cookies: SignInCookies,
    client: Client,
) -> HttpResponse {
    let Some(params) = query_pairs(req.query_string()) else {
        return error_page("The request is too long.");
    };
    let request = match provider.parse_request(&params) {
        Ok(request) => request,
        Err(refusal) => return refusal_response(&provider, refusal),
    };
    let auth = provider.auth();
    let principal = browser_principal(auth, &cookies).await;
    match provider
        .authorize(&request, principal.as_ref(), &client)
        .await
    {
        Ok(step) => step_response(
            auth,
            step,
            principal.as_ref().map(|p| p.user().username.as_str()),
        ),
        Err(error) => error.error_response(),
    }
}

#[derive(Deserialize)]
struct ConsentForm {
    request: String,
    decision: String,
}

/// The consent page's answer: the request is checked again from scratch.
async fn consent(
    provider: web::Data<Provider>,
    cookies: SignInCookies,
    client: Client,
    form: web::Form<ConsentForm>,
) -> HttpResponse {
    let Some(params) = query_pairs(&form.request) else {
        return error_page("The request is too long.");
    };
    let request = match provider.parse_request(&params) {
        Ok(request) => request,
        Err(refusal) => return refusal_response(&provider, refusal),
    };
    let auth = provider.auth();
    let Some(principal) = browser_principal(auth, &cookies).await else {
        return step_response(
            auth,
            AuthorizeStep::SignIn {
                return_query: request.query(None),
                again: false,
            },
            None,
        );
    };
    let allowed = form.decision == "allow";
    match provider
        .answer_consent(&request, &principal, allowed, &client)
        .await
    {
        Ok(step) => step_response(auth, step, Some(&principal.user().username)),
        Err(error) => error.error_response(),
    }
}

/// A form-encoded body, each parameter at most once (RFC 6749 §3.2).
fn form_params(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, OidcError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !body.is_empty()
        && !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OidcError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    }
    if body.len() > MAX_REQUEST_BYTES {
        return Err(OidcError::InvalidRequest("the body is too long".into()));
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    for (index, (name, value)) in params.iter().enumerate() {
        if params[..index].iter().any(|(other, _)| other == name) {
            return Err(OidcError::InvalidRequest(format!("{name} is given twice")));
        }
        if value.chars().count() > MAX_PARAM_CHARS {
            return Err(OidcError::InvalidRequest(format!("{name} is too long")));
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// `Authorization: Basic` (id and secret form-encoded, RFC 6749 §2.3.1)
/// or `client_id` / `client_secret` in the body, never both.
fn client_credentials(
    req: &HttpRequest,
    params: &[(String, String)],
) -> Result<ClientCredentials, OidcError> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..6)
                .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
                .map(|_| v[6..].trim().to_owned())
        });
    let body_id = param(params, "client_id");
    let body_secret = param(params, "client_secret");
    if let Some(encoded) = basic {
        if body_secret.is_some() {
            return Err(OidcError::InvalidRequest(
                "use one client authentication method, not two".into(),
            ));
        }
        let refused = OidcError::InvalidClient { basic: true };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(OidcError::InvalidClient { basic: true })?;
        let (id, secret) = decoded.split_once(':').ok_or(refused)?;
        let decode = |text: &str| {
            url::form_urlencoded::parse(format!("x={text}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (decode(id), decode(secret));
        if body_id.is_some_and(|body| body != id) {
            return Err(OidcError::InvalidRequest(
                "client_id differs from the Authorization header's".into(),
            ));
        }
        return Ok(ClientCredentials {
            client_id: id,
            secret: Some(SecretString::from(secret)),
            basic: true,
        });
    }
    let Some(id) = body_id else {
        return Err(OidcError::InvalidClient { basic: false });
    };
    Ok(ClientCredentials {
        client_id: id.to_owned(),
        secret: body_secret.map(|s| SecretString::from(s.to_owned())),
        basic: false,
    })
}

/// The token endpoint: `authorization_code` and `refresh_token`.
#[utoipa::path(post, path = "/oauth2/token", tag = "openid-connect", operation_id = "oidc_token",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`grant_type`, `code`, `redirect_uri`, `code_verifier` | `refresh_token`; `client_id` / `client_secret` unless `Authorization: Basic`", content = Object),
    responses(
        (status = 200, description = "`access_token`, `token_type`, `expires_in`, `id_token`, `refresh_token` (with `offline_access`), `scope`", body = Object),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unsupported_grant_type`", body = Object),
        (status = 401, description = "`invalid_client`", body = Object)
    ))]
pub async fn token(
    provider: web::Data<Provider>,
    req: HttpRequest,
    client: Client,
    body: web::Bytes,
) -> Result<HttpResponse, OidcError> {
    let params = form_params(&req, &body)?;
    let grant = match param(&params, "grant_type") {
        Some("authorization_code") => TokenGrant::AuthorizationCode {
            code: param(&params, "code")
                .ok_or_else(|| OidcError::InvalidRequest("code is missing".into()))?
                .to_owned(),
            redirect_uri: param(&params, "redirect_uri").map(str::to_owned),
            code_verifier: param(&params, "code_verifier").map(str::to_owned),
        },
        Some("refresh_token") => TokenGrant::RefreshToken {
            refresh_token: param(&params, "refresh_token")
                .ok_or_else(|| OidcError::InvalidRequest("refresh_token is missing".into()))?
                .to_owned(),
        },
        Some(_) => return Err(OidcError::UnsupportedGrantType),
        None => return Err(OidcError::InvalidRequest("grant_type is missing".into())),
    };
    let credentials = client_credentials(&req, &params)?;
    let settings = provider.authenticate_client(&credentials, &client).await?;
    let answer = provider.exchange(settings, grant, &client).await?;
    Ok(no_store(HttpResponse::Ok().json(answer)))
}

/// The access token from `Authorization: Bearer`, or (POST) the body.
fn bearer_token(req: &HttpRequest, body: &[u8]) -> Result<String, OidcError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim().to_owned())
        });
    if let Some(token) = header {
        return Ok(token);
    }
    if req.method() == Method::POST && !body.is_empty() {
        let params = form_params(req, body)?;
        if let Some(token) = param(&params, "access_token") {
            return Ok(token.to_owned());
        }
    }
    Err(OidcError::InvalidToken)
}

/// Who the access token's person is.
#[utoipa::path(get, path = "/oauth2/userinfo", tag = "openid-connect", operation_id = "oidc_userinfo",
    security(("oidc_access_token" = [])),
    responses(
        (status = 200, description = "`sub`, `preferred_username`, `groups` (always a list)", body = Object),
        (status = 401, description = "`invalid_token` (with `WWW-Authenticate: Bearer`)", body = Object)
    ))]
pub async fn userinfo(
    provider: web::Data<Provider>,
    req: HttpRequest,
) -> Result<HttpResponse, OidcError> {
    answer_userinfo(&provider, &req, &[]).await
}

/// The same, the token possibly in a form-encoded body (`access_token`).
#[utoipa::path(post, path = "/oauth2/userinfo", tag = "openid-connect", operation_id = "oidc_userinfo_form",
    security(("oidc_access_token" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", description = "`access_token`, when not in `Authorization: Bearer`", content = Object),
    responses(
        (status = 200, description = "`sub`, `preferred_username`, `groups` (always a list)", body = Object),
        (status = 401, description = "`invalid_token` (with `WWW-Authenticate: Bearer`)", body = Object)
    ))]
pub async fn userinfo_form(
    provider: web::Data<Provider>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OidcError> {
    answer_userinfo(&provider, &req, &body).await
}

async fn answer_userinfo(
    provider: &Provider,
    req: &HttpRequest,
    body: &[u8],
) -> Result<HttpResponse, OidcError> {
    let token = bearer_token(req, body)?;
    let info = provider.userinfo(&token).await?;
    Ok(no_store(HttpResponse::Ok().json(info)))
}

/// RFC 7009 token revocation.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "openid-connect", operation_id = "oidc_revoke",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token`, `token_type_hint`?; client authentication as at the token endpoint", content = Object),
    responses(
        (status = 200, description = "Revoked (or not the client's, or unknown: the same answer)"),
        (status = 400, description = "`invalid_request`", body = Object),
        (status = 401, description = "`invalid_client`", body = Object)
    ))]
pub async fn revoke(
    provider: web::Data<Provider>,
    req: HttpRequest,
    client: Client,
    body: web::Bytes,
) -> Result<HttpResponse, OidcError> {
    let (settings, token, _) = token_about(&provider, &req, &client, body.as_ref()).await?;
    provider.revoke(settings, &token, &client).await?;
    Ok(no_store(HttpResponse::Ok().finish()))
}

/// RFC 7662 token introspection (confidential clients).
#[utoipa::path(post, path = "/oauth2/introspect", tag = "openid-connect", operation_id = "oidc_introspect",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token`; client authentication with the client's secret", content = Object),
    responses(
        (status = 200, description = "`{\"active\": true, ...}` for the client's own live token, else `{\"active\": false}`", body = Object),
        (status = 401, description = "`invalid_client`", body = Object)
    ))]
pub async fn introspect(
    provider: web::Data<Provider>,
    req: HttpRequest,
    client: Client,
    body: web::Bytes,
) -> Result<HttpResponse, OidcError> {
    let (settings, token, credentials) =
        token_about(&provider, &req, &client, body.as_ref()).await?;
    if settings.is_public() {
        return Err(OidcError::InvalidClient {
            basic: credentials.basic,
        });
    }
    let answer = provider.introspect(settings, &token).await?;
    Ok(no_store(HttpResponse::Ok().json(answer)))
}

/// A revocation or introspection request read: the authenticated client,
/// the `token` it asks about, and how it authenticated (for its errors).
async fn token_about<'a>(
    provider: &'a Provider,
    req: &HttpRequest,
    client: &Client,
    body: &[u8],
) -> Result<(&'a OidcClientSettings, String, ClientCredentials), OidcError> {
    let params = form_params(req, body)?;
    let token = param(&params, "token")
        .ok_or_else(|| OidcError::InvalidRequest("token is missing".into()))?
        .to_owned();
    let credentials = client_credentials(req, &params)?;
    let settings = provider.authenticate_client(&credentials, client).await?;
    Ok((settings, token, credentials))
}

#[derive(Deserialize)]
struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// RP-initiated logout.
#[utoipa::path(get, path = "/oauth2/logout", tag = "openid-connect", operation_id = "oidc_logout",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token this provider issued to the person signed in"),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "One of the hint's client's post_logout_redirect_uris, exactly"),
        ("state" = Option<String>, Query, description = "Returned as given")
    ),
    responses(
        (status = 303, description = "Signed out; back to `post_logout_redirect_uri` with `state`"),
        (status = 200, description = "A page: signed out, or (without a valid hint) a button to sign out")
    ))]
pub async fn logout(
    provider: web::Data<Provider>,
    req: HttpRequest,
    cookies: SignInCookies,
    client: Client,
) -> HttpResponse {
    let query = match web::Query::<LogoutQuery>::from_query(req.query_string()) {
        Ok(query) if req.query_string().len() <= MAX_REQUEST_BYTES => query.into_inner(),
        _ => return error_page("The sign-out request can't be read."),
    };
    let auth = provider.auth();
    let principal = browser_principal(auth, &cookies).await;
    let outcome = match provider
        .logout(
            query.id_token_hint.as_deref(),
            query.post_logout_redirect_uri.as_deref(),
            query.state.as_deref(),
            principal.as_ref().map(Principal::user),
        )
        .await
    {
        Ok(outcome) => outcome,
        Err(error) => return error.error_response(),
    };
    if !outcome.end_session && principal.is_some() {
        // Not proven to come from this person's app: ask first.
        return page(
            StatusCode::OK,
            &OidcLogoutView {
                signed_out: false,
                signed_in: true,
            },
        );
    }
    if outcome.end_session {
        let _ = auth
            .logout(cookies.session.as_ref(), cookies.pending.as_ref(), &client)
            .await;
    }
    let mut response = match outcome.redirect {
        Some(url) => see_other(&url),
        None => page(
            StatusCode::OK,
            &OidcLogoutView {
                signed_out: true,
                signed_in: false,
            },
        ),
    };
    let _ = response.add_cookie(&cookies::removal(auth.settings(), SESSION_COOKIE));
    let _ = response.add_cookie(&cookies::removal(auth.settings(), PENDING_COOKIE));
    response
}
