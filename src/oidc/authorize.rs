//! The authorization endpoint's rules (code flow only): the request is
//! checked in RFC 6749's order — an unknown client or an unregistered
//! redirect URI gets an error page and is never redirected to; every later
//! error goes back to the client's redirect URI with `state`. Then sign-in
//! (`prompt=login`, `max_age`), `oidc:Authorize`, consent, and the code.

use std::collections::HashSet;

use super::claims::has_scope;
use super::{CODE_TTL_SECS, MAX_CODES_PER_USER, OidcResult, Provider};
use crate::auth::audit::AuditEvent;
use crate::auth::clock::Timestamp;
use crate::auth::session::{Token, new_handle};
use crate::auth::{Client, Principal};
use crate::config::{ConsentMode, OidcClientSettings};
use crate::store::CodeRecord;

/// Our own parameter on the way back from the sign-in pages: the person
/// must have passed their second factor at or after this time (it stands
/// for `prompt=login` / an exceeded `max_age` that sent them there).
pub const AUTH_AFTER: &str = "auth_after";

const MAX_CLIENT_ID: usize = 128;
const MAX_REDIRECT_URI: usize = 2048;
const MAX_SCOPE: usize = 512;
const MAX_STATE: usize = 1024;
const MAX_NONCE: usize = 512;
const MAX_PROMPT: usize = 64;

/// An error sent back to the client's redirect URI (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone)]
pub struct RedirectError {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub error: &'static str,
    pub description: String,
}

/// Why the request can't go on.
#[derive(Debug, Clone)]
pub enum AuthorizeRefusal {
    /// Unknown client or unregistered redirect URI: an error page, never a
    /// redirect (the sentence says which).
    Page(String),
    Redirect(RedirectError),
}

/// `prompt`'s values this provider honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The scopes asked for, each once, in the order asked.
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub auth_after: Option<Timestamp>,
}

/// What the person (or their browser) is to see next.
#[derive(Debug, Clone)]
pub enum AuthorizeStep {
    /// Sign in with both factors, then come back to `return_query`
    /// (`/oauth2/authorize?...`); `again` when a session exists but is not
    /// fresh enough (`prompt=login`, `max_age`).
    SignIn { return_query: String, again: bool },
    /// `oidc:Authorize` refused: a page saying so, linking back to the
    /// client with `access_denied`.
    Denied { client_name: String, back: String },
    /// Ask the person to allow the client.
    Consent {
        client_name: String,
        scopes: Vec<String>,
        request_query: String,
    },
    /// Back to the client: a code, or an error.
    Redirect(String),
}

impl RedirectError {
    fn new(request: &AuthorizeRequest, error: &'static str, description: &str) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error,
            description: description.to_owned(),
        }
    }

    /// The redirect URI with `error`, `error_description`, `state`, `iss`.
    pub fn url(&self, issuer: &str) -> String {
        let mut pairs = vec![
            ("error", self.error),
            ("error_description", self.description.as_str()),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        with_query(&self.redirect_uri, &pairs)
    }
}

/// `uri` with `pairs` added to its query (a registered URI may have one).
fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.into()
        }
        // Registered URIs were checked at start; this can't happen.
        Err(_) => uri.to_owned(),
    }
}

fn too_long(value: &str, max: usize) -> bool {
    value.len() > max
}

/// A PKCE S256 challenge: base64url of a SHA-256, 43 characters.
fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The browser session behind a principal: the authorization endpoint
/// reads only the session cookie, never a bearer credential.
fn session_of(principal: &Principal) -> &crate::store::SessionRecord {
    principal
        .session()
        .expect("the authorization endpoint reads only the browser's session")
}

impl AuthorizeRequest {
    /// The query that asks for this request again (the sign-in pages come
    /// back to it): `prompt=login` and `max_age` become `auth_after`.
    pub fn query(&self, auth_after: Option<Timestamp>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("response_type", "code");
        query.append_pair("client_id", &self.client_id);
        query.append_pair("redirect_uri", &self.redirect_uri);
        query.append_pair("scope", &self.scopes.join(" "));
        for (name, value) in [
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        if self.code_challenge.is_some() {
            query.append_pair("code_challenge_method", "S256");
        }
        if self.prompt.consent {
            query.append_pair("prompt", "consent");
        }
        if let Some(at) = auth_after.or(self.auth_after) {
            query.append_pair(AUTH_AFTER, &at.to_string());
        } else if let Some(max_age) = self.max_age {
            query.append_pair("max_age", &max_age.to_string());
        }
        query.finish()
    }

    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

impl Provider {
    /// Checks an authorization request's parameters (as sent, in order).
    pub fn parse_request(
        &self,
        params: &[(String, String)],
    ) -> Result<AuthorizeRequest, AuthorizeRefusal> {
        let page = |text: &str| AuthorizeRefusal::Page(text.to_owned());
        let mut seen = HashSet::new();
        let mut duplicate = None;
        for (name, _) in params {
            if !seen.insert(name.as_str()) {
                duplicate = Some(name.clone());
            }
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        // 1. Who asks, and where the answer goes: without both, no redirect.
        let client_id = get("client_id").unwrap_or_default();
        if client_id.is_empty() {
            return Err(page(
                "The request names no application (client_id is missing).",
            ));
        }
        if too_long(client_id, MAX_CLIENT_ID) || duplicate.as_deref() == Some("client_id") {
            return Err(page("The request's client_id is not one twofold knows."));
        }
        let Some(client) = self.client(client_id) else {
            return Err(page(
                "The application that sent you here is not one twofold knows.",
            ));
        };
        let redirect_uri = get("redirect_uri").unwrap_or_default();
        if redirect_uri.is_empty() {
            return Err(page(
                "The request does not say where to return (redirect_uri is missing).",
            ));
        }
        if too_long(redirect_uri, MAX_REDIRECT_URI)
            || duplicate.as_deref() == Some("redirect_uri")
            || !client.redirect_uris.iter().any(|uri| uri == redirect_uri)
        {
            return Err(page(
                "The address this application asked to return to is not registered for it, \
                 so twofold will not send you there.",
            ));
        }
        let state = get("state").map(str::to_owned);
        let mut request = AuthorizeRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes: Vec::new(),
            state: state.filter(|s| !too_long(s, MAX_STATE)),
            nonce: None,
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            auth_after: None,
        };
        let refuse = |request: &AuthorizeRequest, error, text: &str| {
            Err(AuthorizeRefusal::Redirect(RedirectError::new(
                request, error, text,
            )))
        };
        // 2. Everything else goes back to the client.
        if let Some(name) = duplicate {
            return refuse(
                &request,
                "invalid_request",
                &format!("{name} is given twice"),
            );
        }
        if get("state").is_some_and(|s| too_long(s, MAX_STATE)) {
            return refuse(&request, "invalid_request", "state is too long");
        }
        if get("request").is_some() {
            return refuse(
                &request,
                "request_not_supported",
                "request objects are not supported",
            );
        }
        if get("request_uri").is_some() {
            return refuse(
                &request,
                "request_uri_not_supported",
                "request_uri is not supported",
            );
        }
        match get("response_type") {
            Some("code") => {}
            None => return refuse(&request, "invalid_request", "response_type is missing"),
            Some(_) => {
                return refuse(
                    &request,
                    "unsupported_response_type",
                    "only the authorization code flow (response_type=code) is offered",
                );
            }
        }
        if get("response_mode").is_some_and(|mode| mode != "query") {
            return refuse(
                &request,
                "invalid_request",
                "only response_mode=query is offered",
            );
        }
        let scope = get("scope").unwrap_or_default();
        if too_long(scope, MAX_SCOPE) {
            return refuse(&request, "invalid_scope", "scope is too long");
        }
        for asked in scope.split(' ').filter(|s| !s.is_empty()) {
            if !client.scopes.iter().any(|allowed| allowed == asked) {
                return refuse(
                    &request,
                    "invalid_scope",
                    &format!("scope {asked:?} is not offered to this client"),
                );
            }
            if !request.scopes.iter().any(|s| s == asked) {
                request.scopes.push(asked.to_owned());
            }
        }
        if !request.scopes.iter().any(|s| s == "openid") {
            return refuse(&request, "invalid_scope", "scope must include openid");
        }
        if let Some(nonce) = get("nonce") {
            if too_long(nonce, MAX_NONCE) {
                return refuse(&request, "invalid_request", "nonce is too long");
            }
            request.nonce = Some(nonce.to_owned());
        }
        match (get("code_challenge"), get("code_challenge_method")) {
            (None, None) if client.needs_pkce() => {
                return refuse(
                    &request,
                    "invalid_request",
                    "this client must use PKCE: code_challenge (S256) is missing",
                );
            }
            (None, None) => {}
            (None, Some(_)) => {
                return refuse(&request, "invalid_request", "code_challenge is missing");
            }
            (Some(challenge), method) => {
                if method != Some("S256") {
                    return refuse(
                        &request,
                        "invalid_request",
                        "code_challenge_method must be S256",
                    );
                }
                if !is_s256_challenge(challenge) {
                    return refuse(
                        &request,
                        "invalid_request",
                        "code_challenge must be a base64url SHA-256 (43 characters)",
                    );
                }
                request.code_challenge = Some(challenge.to_owned());
            }
        }
        if let Some(prompt) = get("prompt") {
            if too_long(prompt, MAX_PROMPT) {
                return refuse(&request, "invalid_request", "prompt is too long");
            }
            for value in prompt.split(' ').filter(|s| !s.is_empty()) {
                match value {
                    "none" => request.prompt.none = true,
                    "login" => request.prompt.login = true,
                    "consent" => request.prompt.consent = true,
                    // Only one account per browser: nothing to select.
                    "select_account" => {}
                    other => {
                        return refuse(
                            &request,
                            "invalid_request",
                            &format!("prompt {other:?} is not known"),
                        );
                    }
                }
            }
            if request.prompt.none && (request.prompt.login || request.prompt.consent) {
                return refuse(
                    &request,
                    "invalid_request",
                    "prompt=none can't be combined with other values",
                );
            }
        }
        for name in ["max_age", AUTH_AFTER] {
            let Some(text) = get(name) else { continue };
            let value = match text.parse::<i64>() {
                Ok(value) if (0..=i64::from(u32::MAX)).contains(&value) => value,
                _ => {
                    return refuse(
                        &request,
                        "invalid_request",
                        &format!("{name} must be a number of seconds"),
                    );
                }
            };
            if name == AUTH_AFTER {
                request.auth_after = Some(value);
            } else {
                request.max_age = Some(value);
            }
        }
        Ok(request)
    }

    /// The next step of a checked request for whoever holds the browser.
    pub async fn authorize(
        &self,
        request: &AuthorizeRequest,
        principal: Option<&Principal>,
        client: &Client,
    ) -> OidcResult<AuthorizeStep> {
        let settings = self
            .client(&request.client_id)
            .expect("a checked request names a known client");
        let redirect = |error, text: &str| {
            AuthorizeStep::Redirect(RedirectError::new(request, error, text).url(self.issuer()))
        };
        let Some(principal) = principal else {
            if request.prompt.none {
                return Ok(redirect("login_required", "nobody is signed in"));
            }
            return Ok(AuthorizeStep::SignIn {
                return_query: request.query(None),
                again: false,
            });
        };
        if let Some(step) = self.authorize_checks(request, principal, client).await? {
            return Ok(step);
        }
        if self.needs_consent(request, settings, principal).await? {
            if request.prompt.none {
                return Ok(redirect(
                    "consent_required",
                    "the person has not allowed this client",
                ));
            }
            return Ok(AuthorizeStep::Consent {
                client_name: settings.display_name().to_owned(),
                scopes: request.scopes.clone(),
                request_query: request.query(None),
            });
        }
        Ok(AuthorizeStep::Redirect(
            self.issue_code(request, principal, client).await?,
        ))
    }

    async fn needs_consent(
        &self,
        request: &AuthorizeRequest,
        settings: &OidcClientSettings,
        principal: &Principal,
    ) -> OidcResult<bool> {
        if request.prompt.consent {
            return Ok(true);
        }
        Ok(match settings.consent {
            ConsentMode::Implicit => false,
            ConsentMode::Always => true,
            ConsentMode::Once => {
                let granted = self
                    .auth
                    .store
                    .consent(principal.user().id, &request.client_id)
                    .await?;
                !granted.is_some_and(|granted| {
                    request
                        .scopes
                        .iter()
                        .all(|scope| has_scope(&granted, scope))
                })
            }
        })
    }

    /// The person answered the consent page for `request`.
    pub async fn answer_consent(
        &self,
        request: &AuthorizeRequest,
        principal: &Principal,
        allowed: bool,
        client: &Client,
    ) -> OidcResult<AuthorizeStep> {
        let username = principal.user().username.clone();
        let detail = format!("client={} scope={}", request.client_id, request.scope());
        if !allowed {
            self.auth
                .audit(
                    AuditEvent::OidcConsentRefused,
                    Some(&username),
                    client,
                    &detail,
                )
                .await;
            return Ok(AuthorizeStep::Redirect(
                RedirectError::new(request, "access_denied", "the person did not allow it")
                    .url(self.issuer()),
            ));
        }
        // The rules are checked again: the page may have waited a while.
        let mut asked = request.clone();
        asked.prompt.consent = false;
        match self.authorize_checks(&asked, principal, client).await? {
            Some(step) => Ok(step),
            None => {
                self.auth
                    .store
                    .put_consent(
                        principal.user().id,
                        &request.client_id,
                        &request.scope(),
                        self.auth.clock.now(),
                    )
                    .await?;
                self.auth
                    .audit(
                        AuditEvent::OidcConsentGiven,
                        Some(&username),
                        client,
                        &detail,
                    )
                    .await;
                Ok(AuthorizeStep::Redirect(
                    self.issue_code(request, principal, client).await?,
                ))
            }
        }
    }

    /// Freshness and `oidc:Authorize` for a signed-in person.
    async fn authorize_checks(
        &self,
        request: &AuthorizeRequest,
        principal: &Principal,
        client: &Client,
    ) -> OidcResult<Option<AuthorizeStep>> {
        let now = self.auth.clock.now();
        let passed_at = session_of(principal).second_factor_at;
        let fresh = request.auth_after.is_some_and(|after| passed_at >= after);
        let too_old = request.max_age.is_some_and(|max| now - passed_at > max);
        if (request.prompt.login || too_old) && !fresh {
            if request.prompt.none {
                return Ok(Some(AuthorizeStep::Redirect(
                    RedirectError::new(request, "login_required", "a fresh sign-in is needed")
                        .url(self.issuer()),
                )));
            }
            return Ok(Some(AuthorizeStep::SignIn {
                return_query: request.query(Some(now)),
                again: true,
            }));
        }
        if !self
            .auth
            .may_sign_in_to_client(principal, &request.client_id, client)
            .await?
        {
            let settings = self
                .client(&request.client_id)
                .expect("a checked request names a known client");
            return Ok(Some(AuthorizeStep::Denied {
                client_name: settings.display_name().to_owned(),
                back: RedirectError::new(
                    request,
                    "access_denied",
                    "you are not allowed to sign in to this application",
                )
                .url(self.issuer()),
            }));
        }
        Ok(None)
    }

    /// A code for the signed-in person, and the redirect that carries it.
    async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        principal: &Principal,
        client: &Client,
    ) -> OidcResult<String> {
        let now = self.auth.clock.now();
        let code = Token::generate();
        let session = session_of(principal);
        self.auth
            .store
            .insert_code(
                CodeRecord {
                    code_hash: code.hash(),
                    family: new_handle(),
                    client_id: request.client_id.clone(),
                    user_id: principal.user().id,
                    redirect_uri: request.redirect_uri.clone(),
                    scope: request.scope(),
                    nonce: request.nonce.clone(),
                    code_challenge: request.code_challenge.clone(),
                    auth_time: session.second_factor_at,
                    method: session.method.clone(),
                    created_at: now,
                    expires_at: now + CODE_TTL_SECS,
                },
                MAX_CODES_PER_USER,
            )
            .await?;
        let detail = format!("client={} method={}", request.client_id, session.method);
        self.auth
            .audit(
                AuditEvent::OidcSignIn,
                Some(&principal.user().username),
                client,
                &detail,
            )
            .await;
        let mut pairs = vec![("code", code.as_str())];
        if let Some(state) = &request.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", self.issuer()));
        Ok(with_query(&request.redirect_uri, &pairs))
    }
}
