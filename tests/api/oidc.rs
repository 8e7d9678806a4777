//! The OpenID Connect provider over real HTTP, with a real relying-party
//! library (`openidconnect`) as the client: it discovers the provider,
//! builds the authorization request (state, nonce, PKCE) and checks the ID
//! token's signature, issuer, audience and nonce itself. The "browser" is a
//! cookie-keeping HTTP client walking twofold's own sign-in pages.

use std::sync::OnceLock;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthType, AuthenticationContextClass, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use twofold::config::{ConsentMode, OidcClientSettings, Settings};

use crate::helpers::{PASSWORD, TestApp, client, spawn_app_with};

pub const CLIENT_ID: &str = "grafana";
pub const CLIENT_SECRET: &str = "a client secret with enough entropy 0123456789";
pub const REDIRECT_URI: &str = "http://localhost:3000/login/generic_oauth";
pub const LOGGED_OUT_URI: &str = "http://localhost:3000/logged-out";

pub type RelyingParty = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The `groups` claim of userinfo.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Groups {
    groups: Vec<String>,
}
impl AdditionalClaims for Groups {}

/// The Argon2id hash of `CLIENT_SECRET`, as `twofold oidc hash-secret` makes it.
pub fn secret_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        twofold::auth::password::hash_with_default_params(CLIENT_SECRET.as_bytes()).unwrap()
    })
    .clone()
}

/// A confidential client like Grafana: every scope, consent `implicit`.
pub fn grafana() -> OidcClientSettings {
    OidcClientSettings {
        id: CLIENT_ID.into(),
        name: "Grafana".into(),
        secret_hash: secret_hash(),
        redirect_uris: vec![REDIRECT_URI.into()],
        post_logout_redirect_uris: vec![LOGGED_OUT_URI.into()],
        scopes: ["openid", "profile", "email", "groups", "offline_access"]
            .map(String::from)
            .to_vec(),
        consent: ConsentMode::Implicit,
        ..OidcClientSettings::default()
    }
}

pub async fn spawn_provider() -> TestApp {
    spawn_provider_with(|_| {}).await
}

pub async fn spawn_provider_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|settings| {
        settings.oidc.clients = vec![grafana()];
        adjust(settings);
    })
    .await
}

/// The relying party's own HTTP client: never follows redirects.
pub fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Discovers twofold and configures the client.
pub async fn relying_party(app: &TestApp, secret: Option<&str>) -> RelyingParty {
    let issuer = IssuerUrl::new(app.address.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &rp_http())
        .await
        .expect("the provider metadata is discovered");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(CLIENT_ID.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
}

/// One authorization request as the relying party makes it.
pub struct Attempt {
    pub url: url::Url,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

pub fn attempt(rp: &RelyingParty, extra: &[(&str, &str)]) -> Attempt {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge);
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.url();
    Attempt {
        url,
        state,
        nonce,
        verifier,
    }
}

/// Where a browser request ended.
#[derive(Debug)]
pub enum Landing {
    /// Back at the client's redirect URI, with these query parameters.
    Client(Vec<(String, String)>),
    /// Sent to the sign-in page.
    SignIn(String),
    /// A twofold page, with its status and text.
    Page(u16, String),
}

fn absolute(app: &TestApp, location: &str) -> String {
    if location.starts_with('/') {
        app.url(location)
    } else {
        location.to_owned()
    }
}

/// Follows the browser from `url` through twofold (answering a consent
/// page with `decision`) until it lands somewhere a person must act, or
/// back at the client.
pub async fn follow(
    app: &TestApp,
    browser: &reqwest::Client,
    url: &str,
    decision: Option<&str>,
) -> Landing {
    let mut next = url.to_owned();
    for _ in 0..10 {
        let answer = browser.get(&next).send().await.unwrap();
        let status = answer.status().as_u16();
        if status == 303 || status == 302 {
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            let location = absolute(app, &location);
            if location.starts_with(REDIRECT_URI) || location.starts_with(LOGGED_OUT_URI) {
                let url = url::Url::parse(&location).unwrap();
                return Landing::Client(url.query_pairs().into_owned().collect());
            }
            if location.contains("/login") {
                return Landing::SignIn(location);
            }
            next = location;
            continue;
        }
        let text = answer.text().await.unwrap();
        if status == 200
            && text.contains("action=\"/oauth2/consent\"")
            && let Some(decision) = decision
        {
            let request = hidden_value(&text, "request");
            let answer = browser
                .post(app.url("/oauth2/consent"))
                .header("Origin", &app.address)
                .form(&[("request", request.as_str()), ("decision", decision)])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            let url = url::Url::parse(&absolute(app, &location)).unwrap();
            if location.starts_with(REDIRECT_URI) {
                return Landing::Client(url.query_pairs().into_owned().collect());
            }
            next = url.into();
            continue;
        }
        return Landing::Page(status, text);
    }
    panic!("too many redirects from {url}");
}

/// The (HTML-unescaped) value of the hidden input `name` of a page.
pub fn hidden_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("the hidden input") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    unescape_html(&page[start..end])
}

/// Text as written in an HTML attribute, read back (named and numeric
/// character references).
pub fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Signs in through twofold's HTML pages (password, then the app's code)
/// from the sign-in address a redirect gave; returns where the last page
/// sent the browser.
pub async fn sign_in_through_pages(
    app: &TestApp,
    browser: &reqwest::Client,
    login_url: &str,
    username: &str,
    secret: &str,
) -> String {
    let page = browser.get(login_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "the sign-in page");
    let answer = browser
        .post(app.url("/login"))
        .header("Origin", &app.address)
        .form(&[("username", username), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login/second-factor");
    app.next_time_step();
    let code = app.totp_code(secret);
    let answer = browser
        .post(app.url("/login/totp"))
        .header("Origin", &app.address)
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    absolute(app, answer.headers()["location"].to_str().unwrap())
}

/// The code a landing at the client carries, after checking its `state`
/// and `iss` (RFC 9207).
pub fn code_of(app: &TestApp, landing: Landing, attempt: &Attempt) -> AuthorizationCode {
    let Landing::Client(params) = landing else {
        panic!("expected a return to the client, got {landing:?}");
    };
    assert_eq!(
        param(&params, "state"),
        Some(attempt.state.secret().as_str())
    );
    assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
    AuthorizationCode::new(param(&params, "code").expect("a code").to_owned())
}

pub type Tokens = openidconnect::core::CoreTokenResponse;

pub async fn exchange(rp: &RelyingParty, code: AuthorizationCode, attempt: Attempt) -> Tokens {
    rp.exchange_code(code)
        .unwrap()
        .set_pkce_verifier(attempt.verifier)
        .request_async(&rp_http())
        .await
        .expect("the code is exchanged")
}

pub fn id_claims(rp: &RelyingParty, tokens: &Tokens, nonce: &Nonce) -> CoreIdTokenClaims {
    tokens
        .id_token()
        .expect("an ID token")
        .claims(&rp.id_token_verifier(), nonce)
        .expect("the ID token checks out")
        .clone()
}

pub async fn userinfo(
    rp: &RelyingParty,
    access_token: &openidconnect::AccessToken,
) -> Result<UserInfoClaims<Groups, CoreGenderClaim>, String> {
    rp.user_info(access_token.clone(), None)
        .unwrap()
        .request_async(&rp_http())
        .await
        .map_err(|e| format!("{e:?}"))
}

fn amr_of(claims: &CoreIdTokenClaims) -> Vec<String> {
    claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|m| m.to_string())
        .collect()
}

/// A user signed in with password + TOTP in `browser` who then went through
/// the whole code flow; the tokens, and the attempt's nonce.
pub async fn signed_in_to_client(
    app: &TestApp,
    rp: &RelyingParty,
    username: &str,
) -> (reqwest::Client, String, Tokens, Nonce) {
    let (_, secret, _) = app.signed_in_user_with_totp(username).await;
    let browser = client();
    let try_ = attempt(rp, &[]);
    let Landing::SignIn(login) = follow(app, &browser, try_.url.as_str(), Some("allow")).await
    else {
        panic!("a person not signed in is sent to sign in first");
    };
    let back = sign_in_through_pages(app, &browser, &login, username, &secret).await;
    let landing = follow(app, &browser, &back, Some("allow")).await;
    let code = code_of(app, landing, &try_);
    let nonce = try_.nonce.clone();
    let tokens = exchange(rp, code, try_).await;
    (browser, secret, tokens, nonce)
}

#[tokio::test]
async fn a_person_signs_in_to_an_app_with_password_and_totp_through_the_sign_in_pages() {
    let app = spawn_provider().await;
    let (admin, _, _) = app.signed_in_admin_with_totp("root").await;
    let put = app
        .call(&admin, "PUT", "/api/v1/admin/groups/ops", None)
        .await;
    assert_eq!(put.status(), 201);
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;

    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;
    let add = app
        .call(
            &admin,
            "PUT",
            "/api/v1/admin/groups/ops/members/alice",
            None,
        )
        .await;
    assert_eq!(add.status(), 204);
    let browser = client();
    let try_ = attempt(&rp, &[]);
    // Not signed in: to the sign-in page, which returns to the request.
    let Landing::SignIn(login) = follow(&app, &browser, try_.url.as_str(), None).await else {
        panic!("expected the sign-in page");
    };
    assert!(login.contains("rd="), "{login}");
    let back = sign_in_through_pages(&app, &browser, &login, "alice", &secret).await;
    assert!(
        back.starts_with(&format!("{}/oauth2/authorize?", app.address)),
        "after both factors the pages return to the authorization request: {back}"
    );
    let landing = follow(&app, &browser, &back, None).await;
    let code = code_of(&app, landing, &try_);
    let nonce = try_.nonce.clone();
    let tokens = exchange(&rp, code, try_).await;

    let claims = id_claims(&rp, &tokens, &nonce);
    assert_eq!(claims.issuer().as_str(), app.address);
    assert_ne!(
        claims.subject().as_str(),
        "alice",
        "sub is not the username"
    );
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some("alice")
    );
    assert_eq!(amr_of(&claims), ["pwd", "otp"]);
    assert_eq!(
        claims.auth_context_ref(),
        Some(&AuthenticationContextClass::new("mfa".into()))
    );
    assert!(claims.auth_time().is_some());
    assert_eq!(
        tokens.id_token().unwrap().signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
    assert!(
        tokens.refresh_token().is_some(),
        "offline_access gives a refresh token"
    );

    let info = userinfo(&rp, tokens.access_token()).await.unwrap();
    assert_eq!(info.subject(), claims.subject(), "the same stable subject");
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));
    assert_eq!(info.additional_claims().groups, ["ops"]);

    // The subject stays the same at the next sign-in.
    let try_ = attempt(&rp, &[]);
    let landing = follow(&app, &browser, try_.url.as_str(), None).await;
    let code = code_of(&app, landing, &try_);
    let nonce = try_.nonce.clone();
    let again = exchange(&rp, code, try_).await;
    assert_eq!(id_claims(&rp, &again, &nonce).subject(), claims.subject());

    let audit = app.get(&admin, "/api/v1/admin/audit?username=alice").await;
    let audit: Value = audit.json().await.unwrap();
    let events: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"oidc_sign_in"), "{events:?}");
    assert!(events.contains(&"oidc_token_issued"), "{events:?}");
}

#[tokio::test]
async fn a_user_without_groups_gets_an_empty_groups_list_and_client_secret_post_works() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET))
        .await
        .set_auth_type(AuthType::RequestBody);
    let (_, _, tokens, _) = signed_in_to_client(&app, &rp, "bob").await;
    let info = userinfo(&rp, tokens.access_token()).await.unwrap();
    assert!(info.additional_claims().groups.is_empty());
    // The raw answer has the list, not a missing claim.
    let raw: Value = client()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["groups"], json!([]));
    assert_eq!(raw["preferred_username"], "bob");
}

#[tokio::test]
async fn a_passkey_sign_in_says_hwk_and_user_and_phishing_resistant() {
    use crate::soft_passkey::{Passkey, sign_in_with_passkey};
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let mut passkey = Passkey::new();
    crate::passkeys::user_with_passkey(&app, "carol", &mut passkey).await;
    let (browser, answer) = sign_in_with_passkey(&app, &mut passkey).await;
    assert_eq!(answer.status(), 200);

    let try_ = attempt(&rp, &[]);
    let landing = follow(&app, &browser, try_.url.as_str(), None).await;
    let code = code_of(&app, landing, &try_);
    let nonce = try_.nonce.clone();
    let tokens = exchange(&rp, code, try_).await;
    let claims = id_claims(&rp, &tokens, &nonce);
    assert_eq!(amr_of(&claims), ["hwk", "user"]);
    assert_eq!(
        claims.auth_context_ref(),
        Some(&AuthenticationContextClass::new("phr".into()))
    );
}

#[tokio::test]
async fn a_client_configured_for_rs256_gets_rs256_id_tokens() {
    let app = spawn_provider_with(|s| {
        s.oidc.clients[0].id_token_signed_response_alg = "RS256".into();
    })
    .await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (_, _, tokens, nonce) = signed_in_to_client(&app, &rp, "dave").await;
    assert_eq!(
        tokens.id_token().unwrap().signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );
    id_claims(&rp, &tokens, &nonce);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_family() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (_, _, tokens, _) = signed_in_to_client(&app, &rp, "erin").await;
    let first = tokens.refresh_token().unwrap().clone();

    let refreshed = rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&rp_http())
        .await
        .expect("the refresh token works once");
    let second = refreshed
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    assert_ne!(second.secret(), first.secret(), "rotated");
    assert_ne!(
        refreshed.access_token().secret(),
        tokens.access_token().secret()
    );
    userinfo(&rp, refreshed.access_token()).await.unwrap();

    // The old one again: refused, and everything of the family is revoked.
    let replay = rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&rp_http())
        .await;
    let error = format!("{:?}", replay.expect_err("a used refresh token is refused"));
    assert!(error.contains("invalid_grant"), "{error}");
    let newest = rp
        .exchange_refresh_token(&second)
        .unwrap()
        .request_async(&rp_http())
        .await;
    assert!(
        newest.is_err(),
        "the newest refresh token died with its family"
    );
    assert!(userinfo(&rp, refreshed.access_token()).await.is_err());
    assert!(userinfo(&rp, tokens.access_token()).await.is_err());
}

/// Posts a form to a client endpoint with the client's Basic credentials.
pub async fn post_as_client(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(app.url(path))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A code for a signed-in browser, with the attempt that asked for it.
async fn fresh_code(
    app: &TestApp,
    rp: &RelyingParty,
    browser: &reqwest::Client,
) -> (String, Attempt) {
    let try_ = attempt(rp, &[]);
    let landing = follow(app, browser, try_.url.as_str(), None).await;
    let code = code_of(app, landing, &try_);
    (code.secret().clone(), try_)
}

fn code_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_its_first_use_issued() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, _, _) = signed_in_to_client(&app, &rp, "frank").await;
    let (code, try_) = fresh_code(&app, &rp, &browser).await;
    let verifier = try_.verifier.secret().clone();
    let first = post_as_client(&app, "/oauth2/token", &code_form(&code, &verifier)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first: Value = first.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap();
    let before = client()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 200);

    let second = post_as_client(&app, "/oauth2/token", &code_form(&code, &verifier)).await;
    assert_eq!(second.status(), 400);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let after = client()
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        401,
        "the first use's access token is revoked"
    );
    assert!(
        after.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn a_code_raced_by_many_requests_yields_one_token_set() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, _, _) = signed_in_to_client(&app, &rp, "grace").await;
    let (code, try_) = fresh_code(&app, &rp, &browser).await;
    let verifier = try_.verifier.secret().clone();
    let token_url = app.url("/oauth2/token");
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (url, code, verifier) = (token_url.clone(), code.clone(), verifier.clone());
        racers.spawn(async move {
            client()
                .post(url)
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                .form(&code_form(&code, &verifier))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = racers.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let browser = client();
    let try_ = attempt(&rp, &[]);
    for (name, value) in [
        ("redirect_uri", "http://localhost:3000/elsewhere"),
        ("redirect_uri", "http://localhost:3000/login/generic_oauth/"),
        ("redirect_uri", "https://evil.example/login/generic_oauth"),
        ("client_id", "nobody"),
    ] {
        let mut url = try_.url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .map(|(n, v)| {
                if n == name {
                    (n, value.to_owned())
                } else {
                    (n, v)
                }
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        let answer = browser.get(url.as_str()).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{name}={value}");
        assert!(
            answer.headers().get("location").is_none(),
            "never a redirect"
        );
        let text = answer.text().await.unwrap();
        assert!(text.contains("This sign-in can"), "{text}");
    }
}

#[tokio::test]
async fn pkce_is_required_and_a_wrong_verifier_is_refused() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, _, _) = signed_in_to_client(&app, &rp, "heidi").await;

    // Without a challenge: back to the client with invalid_request.
    let (url, state, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let Landing::Client(params) = follow(&app, &browser, url.as_str(), None).await else {
        panic!("errors after the redirect URI is known go back to the client");
    };
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert_eq!(param(&params, "state"), Some(state.secret().as_str()));
    assert!(param(&params, "code").is_none());

    // plain is refused too.
    let plain = attempt(&rp, &[]);
    let mut url = plain.url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(n, v)| {
            if n == "code_challenge_method" {
                (n, "plain".to_owned())
            } else {
                (n, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let Landing::Client(params) = follow(&app, &browser, url.as_str(), None).await else {
        panic!("back to the client");
    };
    assert_eq!(param(&params, "error"), Some("invalid_request"));

    // A wrong verifier, and a missing one.
    let (code, _) = fresh_code(&app, &rp, &browser).await;
    let wrong = PkceCodeChallenge::new_random_sha256().1;
    let answer = post_as_client(&app, "/oauth2/token", &code_form(&code, wrong.secret())).await;
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let (code, _) = fresh_code(&app, &rp, &browser).await;
    let answer = post_as_client(
        &app,
        "/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn prompt_login_asks_for_both_factors_again() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, secret, tokens, nonce) = signed_in_to_client(&app, &rp, "ivan").await;
    let first_auth_time = id_claims(&rp, &tokens, &nonce).auth_time().unwrap();

    app.clock.advance(120);
    let try_ = attempt(&rp, &[("prompt", "login")]);
    let Landing::SignIn(login) = follow(&app, &browser, try_.url.as_str(), None).await else {
        panic!("prompt=login sends a signed-in person to sign in again");
    };
    assert!(login.contains("prompt=login"), "{login}");
    // The sign-in page shows its form although a session exists.
    let back = sign_in_through_pages(&app, &browser, &login, "ivan", &secret).await;
    let landing = follow(&app, &browser, &back, None).await;
    let code = code_of(&app, landing, &try_);
    let nonce = try_.nonce.clone();
    let tokens = exchange(&rp, code, try_).await;
    let auth_time = id_claims(&rp, &tokens, &nonce).auth_time().unwrap();
    assert!(
        auth_time > first_auth_time,
        "auth_time moved to the new sign-in"
    );

    // max_age: an old second factor is asked again too.
    app.clock.advance(600);
    let try_ = attempt(&rp, &[("max_age", "300")]);
    assert!(matches!(
        follow(&app, &browser, try_.url.as_str(), None).await,
        Landing::SignIn(_)
    ));
    // prompt=none with nothing fresh enough: login_required to the client.
    let try_ = attempt(&rp, &[("prompt", "none"), ("max_age", "300")]);
    let Landing::Client(params) = follow(&app, &browser, try_.url.as_str(), None).await else {
        panic!("prompt=none never shows a page");
    };
    assert_eq!(param(&params, "error"), Some("login_required"));
}

#[tokio::test]
async fn introspection_and_revocation_follow_their_rfcs() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (_, _, tokens, _) = signed_in_to_client(&app, &rp, "judy").await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();

    let answer = post_as_client(&app, "/oauth2/introspect", &[("token", &access)]).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["username"], "judy");
    assert_eq!(body["iss"], app.address);

    // Without the client's secret: invalid_client, 401.
    let answer = client()
        .post(app.url("/oauth2/introspect"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("token", &access)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert!(answer.headers().contains_key("www-authenticate"));
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // Revoking the refresh token ends the access token of its family too.
    let answer = post_as_client(&app, "/oauth2/revoke", &[("token", &refresh)]).await;
    assert_eq!(answer.status(), 200);
    for token in [&access, &refresh] {
        let answer = post_as_client(&app, "/oauth2/introspect", &[("token", token)]).await;
        assert_eq!(
            answer.json::<Value>().await.unwrap(),
            json!({"active": false})
        );
    }
    // An unknown token: revocation still answers 200.
    let answer = post_as_client(&app, "/oauth2/revoke", &[("token", "no-such-token")]).await;
    assert_eq!(answer.status(), 200);
    // A JSON body is not what the RFCs take.
    let answer = client()
        .post(app.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let answer = post_as_client(&app, "/oauth2/token", &[("grant_type", "password")]).await;
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn logout_with_an_id_token_hint_ends_the_session_and_returns_with_state() {
    let app = spawn_provider().await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, tokens, _) = signed_in_to_client(&app, &rp, "mallory").await;
    let hint = tokens.id_token().unwrap().to_string();

    // A post-logout URI not registered: signed out, but no redirect there.
    let mut url = url::Url::parse(&app.url("/oauth2/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &hint)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .append_pair("state", "s1");
    let answer = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let me = app.get(&browser, "/api/v1/me").await;
    assert_eq!(me.status(), 401, "the session ended");

    // Signed in again, a registered URI: back there with state.
    let (browser, _, tokens, _) = signed_in_to_client(&app, &rp, "oscar").await;
    let hint = tokens.id_token().unwrap().to_string();
    let mut url = url::Url::parse(&app.url("/oauth2/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &hint)
        .append_pair("post_logout_redirect_uri", LOGGED_OUT_URI)
        .append_pair("state", "s2");
    let Landing::Client(params) = follow(&app, &browser, url.as_str(), None).await else {
        panic!("back to the registered post-logout URI");
    };
    assert_eq!(param(&params, "state"), Some("s2"));
    assert_eq!(app.get(&browser, "/api/v1/me").await.status(), 401);

    // Without a hint, a signed-in person is asked first.
    let (browser2, _, _, _) = signed_in_to_client(&app, &rp, "peggy").await;
    let answer = browser2
        .get(app.url("/oauth2/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("Sign out of twofold?")
    );
    assert_eq!(app.get(&browser2, "/api/v1/me").await.status(), 200);
}

#[tokio::test]
async fn a_person_a_policy_denies_sees_a_page_and_the_client_gets_access_denied() {
    let app = spawn_provider().await;
    let (admin, _, _) = app.signed_in_admin_with_totp("root").await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, _) = app.signed_in_user_with_totp("trent").await;
    let policy = json!({"Version": "2026-12-01", "Statement": [{"Sid": "NoGrafana",
        "Effect": "Deny", "Action": "oidc:Authorize", "Resource": "twofold:client/grafana"}]});
    let put = app
        .call(
            &admin,
            "PUT",
            "/api/v1/admin/policies/no-grafana",
            Some(&policy),
        )
        .await;
    assert_eq!(put.status(), 201);
    let attach = app
        .call(
            &admin,
            "PUT",
            "/api/v1/admin/users/trent/policies/no-grafana",
            None,
        )
        .await;
    assert_eq!(attach.status(), 204);

    let try_ = attempt(&rp, &[]);
    let Landing::Page(status, text) = follow(&app, &browser, try_.url.as_str(), None).await else {
        panic!("a denied person sees a page");
    };
    assert_eq!(status, 403);
    assert!(text.contains("You don't have access to Grafana"), "{text}");
    let back = hidden_href(&text, "back-to-client");
    let back = url::Url::parse(&back).unwrap();
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(back.as_str().starts_with(REDIRECT_URI));
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some(try_.state.secret().as_str()));

    let audit: Value = app
        .get(&admin, "/api/v1/admin/audit?username=trent")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "access_denied"
                && e["detail"].as_str().unwrap().contains("oidc:Authorize"))
    );
}

/// The `href` of the element with `id` (HTML-unescaped).
fn hidden_href(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\" href=\"");
    let start = page.find(&marker).expect("the link") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    unescape_html(&page[start..end])
}

#[tokio::test]
async fn consent_is_asked_once_and_a_refusal_sends_access_denied() {
    let app = spawn_provider_with(|s| s.oidc.clients[0].consent = ConsentMode::Once).await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, _) = app.signed_in_user_with_totp("uma").await;

    let try_ = attempt(&rp, &[]);
    let Landing::Page(200, text) = follow(&app, &browser, try_.url.as_str(), None).await else {
        panic!("the consent page");
    };
    assert!(text.contains("Allow Grafana to sign you in?"), "{text}");
    assert!(text.contains("See the groups you belong to"));
    let Landing::Client(params) = follow(&app, &browser, try_.url.as_str(), Some("deny")).await
    else {
        panic!("a refusal goes back to the client");
    };
    assert_eq!(param(&params, "error"), Some("access_denied"));

    let try_ = attempt(&rp, &[]);
    let landing = follow(&app, &browser, try_.url.as_str(), Some("allow")).await;
    code_of(&app, landing, &try_);
    // Remembered: the next sign-in goes straight back with a code.
    let try_ = attempt(&rp, &[]);
    let landing = follow(&app, &browser, try_.url.as_str(), None).await;
    code_of(&app, landing, &try_);
    // prompt=consent asks again.
    let try_ = attempt(&rp, &[("prompt", "consent")]);
    assert!(matches!(
        follow(&app, &browser, try_.url.as_str(), None).await,
        Landing::Page(200, _)
    ));
}

#[tokio::test]
async fn discovery_and_jwks_publish_es256_and_rs256_keys() {
    let app = spawn_provider().await;
    let discovery: Value = client()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.address);
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let jwks: Value = client()
        .get(app.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs.len(), 2, "{jwks}");
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"));
    for key in jwks["keys"].as_array().unwrap() {
        assert!(key.get("d").is_none(), "never a private part");
        assert!(key["kid"].is_string());
    }
}

#[tokio::test]
async fn a_public_client_signs_in_with_pkce_and_no_secret() {
    let app = spawn_provider_with(|s| {
        s.oidc.clients[0].secret_hash = String::new();
    })
    .await;
    let rp = relying_party(&app, None).await;
    let (_, _, tokens, _) = signed_in_to_client(&app, &rp, "victor").await;
    userinfo(&rp, tokens.access_token()).await.unwrap();
    // A secret where none is registered is refused.
    let answer = post_as_client(
        &app,
        "/oauth2/token",
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!(answer.status(), 401);
}

#[tokio::test]
async fn a_code_from_one_instance_is_exchanged_and_refreshed_on_another() {
    let app = spawn_provider().await;
    let other = crate::helpers::spawn_instance_beside(&app).await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (browser, _, _, _) = signed_in_to_client(&app, &rp, "walter").await;
    let (code, try_) = fresh_code(&app, &rp, &browser).await;
    let verifier = try_.verifier.secret().clone();
    // Exchanged at the other instance; the same code back at the first is a replay.
    let answer = post_as_client(&other, "/oauth2/token", &code_form(&code, &verifier)).await;
    assert_eq!(answer.status(), 200);
    let tokens: Value = answer.json().await.unwrap();
    let replay = post_as_client(&app, "/oauth2/token", &code_form(&code, &verifier)).await;
    assert_eq!(replay.status(), 400);
    let gone = client()
        .get(other.url("/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401, "revoked on every instance");
    // Both instances publish the same keys.
    let keys = |a: &TestApp| client().get(a.url("/oauth2/jwks")).send();
    let (one, two): (Value, Value) = (
        keys(&app).await.unwrap().json().await.unwrap(),
        keys(&other).await.unwrap().json().await.unwrap(),
    );
    assert_eq!(one, two);
}

#[tokio::test]
async fn a_disabled_users_tokens_stop_working_at_once() {
    let app = spawn_provider().await;
    let (admin, _, _) = app.signed_in_admin_with_totp("root").await;
    let rp = relying_party(&app, Some(CLIENT_SECRET)).await;
    let (_, _, tokens, _) = signed_in_to_client(&app, &rp, "xavier").await;
    userinfo(&rp, tokens.access_token()).await.unwrap();
    let disable = app
        .post(&admin, "/api/v1/admin/users/xavier/disable", json!({}))
        .await;
    assert_eq!(disable.status(), 204);
    assert!(userinfo(&rp, tokens.access_token()).await.is_err());
    let refresh = rp
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&rp_http())
        .await;
    assert!(refresh.is_err());
    let answer = post_as_client(
        &app,
        "/oauth2/introspect",
        &[("token", tokens.access_token().secret())],
    )
    .await;
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn guessing_a_client_secret_is_throttled() {
    let app = spawn_provider().await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let answer = client()
            .post(app.url("/oauth2/token"))
            .basic_auth(CLIENT_ID, Some("a guess"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        statuses.push(status);
        if status == 429 {
            assert!(answer.headers().contains_key("retry-after"));
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["error"], "too_many_attempts");
            return;
        }
        assert_eq!(status, 401);
    }
    panic!("never throttled: {statuses:?}");
}
