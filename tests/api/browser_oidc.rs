//! In a real browser: a small relying party, served by the test on a
//! loopback port, signs a person in through twofold's pages (password, app
//! code, consent) with the `openidconnect` crate and greets them by their
//! `preferred_username`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::{App, HttpResponse, HttpServer, web};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde::Deserialize;
use twofold::config::ConsentMode;

use crate::browser::{Browser, LAPTOP};
use crate::helpers::PASSWORD;
use crate::oidc::{
    CLIENT_SECRET, RelyingParty, grafana, relying_party, rp_http, spawn_provider_with, userinfo,
};

/// The relying party's memory of the sign-ins it started: state → (nonce, verifier).
type Started = Mutex<HashMap<String, (Nonce, PkceCodeVerifier)>>;

struct Rp {
    client: RelyingParty,
    started: Started,
}

/// `/`: off to twofold with a fresh state, nonce and PKCE challenge.
async fn start(rp: web::Data<Rp>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .set_pkce_challenge(challenge)
        .url();
    rp.started
        .lock()
        .unwrap()
        .insert(state.secret().clone(), (nonce, verifier));
    HttpResponse::SeeOther()
        .insert_header(("Location", url.to_string()))
        .finish()
}

#[derive(Deserialize)]
struct Callback {
    code: String,
    state: String,
}

/// `/callback`: the code exchanged, the ID token checked, the person greeted.
async fn callback(rp: web::Data<Rp>, query: web::Query<Callback>) -> HttpResponse {
    let Some((nonce, verifier)) = rp.started.lock().unwrap().remove(&query.state) else {
        return HttpResponse::BadRequest().body("unknown state");
    };
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(query.code.clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http())
        .await
        .expect("the code is exchanged");
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&rp.client.id_token_verifier(), &nonce)
        .expect("the ID token checks out")
        .clone();
    let info = userinfo(
        &rp.client,
        openidconnect::OAuth2TokenResponse::access_token(&tokens),
    )
    .await
    .expect("userinfo answers");
    let name = info
        .preferred_username()
        .map(|u| u.as_str().to_owned())
        .unwrap_or_default();
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str()),
        Some(name.as_str())
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Example app</title></head><body><h1>Hello, {name}</h1>\
             <p id=\"who\">Signed in to the example app as {name}</p></body></html>"
        ))
}

#[tokio::test]
async fn a_relying_party_signs_a_person_in_through_twofolds_pages_and_greets_them() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let rp_origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let callback_url = format!("{rp_origin}/callback");
    let redirect = callback_url.clone();
    let app = spawn_provider_with(move |settings| {
        let mut client = grafana();
        client.name = "Example app".into();
        client.redirect_uris = vec![redirect];
        client.consent = ConsentMode::Once;
        settings.oidc.clients = vec![client];
    })
    .await;
    let (_, secret, _) = app.signed_in_user_with_totp("alice").await;

    let client = relying_party(&app, Some(CLIENT_SECRET))
        .await
        .set_redirect_uri(RedirectUrl::new(callback_url).unwrap());
    let rp = web::Data::new(Rp {
        client,
        started: Mutex::default(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(rp.clone())
            .route("/", web::get().to(start))
            .route("/callback", web::get().to(callback))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let _server = tokio::spawn(server);

    let browser = Browser::launch(&app, "oidc-relying-party", LAPTOP).await;
    browser.open_address(&format!("{rp_origin}/")).await;
    // The app sent the browser to twofold, which asks to sign in first.
    assert_eq!(browser.path().await, "/login");
    browser.fill("Username", "alice").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Continue").await;
    browser.enters_app_code(&app, &secret).await;
    // After both factors: the consent page, naming the app.
    browser.sees("Allow Example app to sign you in?").await;
    browser.sees("See the groups you belong to").await;
    browser.click("Allow").await;
    browser
        .wait_until(
            "document.body && document.body.innerText.includes('Signed in to the example app as alice')",
            "the example app to greet alice",
        )
        .await;
    assert!(browser.text().await.contains("Hello, alice"));

    // Signed in and allowed already: the next visit goes straight through.
    browser.open_address(&format!("{rp_origin}/")).await;
    browser
        .wait_until(
            "location.pathname === '/callback' && document.body.innerText.includes('Hello, alice')",
            "the example app again, without any question",
        )
        .await;
}
