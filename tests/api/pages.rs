//! The HTML pages over plain HTTP (the browser suite drives them for real).

use crate::helpers::{PASSWORD, client, spawn_app};

#[tokio::test]
async fn the_sign_in_page_has_labelled_fields_with_autocomplete() {
    let app = spawn_app().await;
    let answer = app.get(&client(), "/login").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let html = answer.text().await.unwrap();
    assert!(html.contains(r#"<label for="username">"#));
    // Passkeys are on by default: the browser offers them in the username's autofill.
    assert!(html.contains(r#"autocomplete="username webauthn""#));
    assert!(html.contains(r#"autocomplete="current-password""#));
}

#[tokio::test]
async fn a_form_sign_in_redirects_a_new_user_to_enrolment() {
    let app = spawn_app().await;
    app.create_user("alice", false).await;
    let c = client();
    let answer = c
        .post(app.url("/login"))
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/enrol");
    let enrol = app.get(&c, "/enrol").await.text().await.unwrap();
    assert!(enrol.contains("Protect your account"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_the_reason() {
    let app = spawn_app().await;
    app.create_user("bob", false).await;
    let answer = client()
        .post(app.url("/login"))
        .form(&[("username", "bob"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let html = answer.text().await.unwrap();
    assert!(html.contains("The username or password is wrong."));
    assert!(html.contains(r#"value="bob""#));
}

#[tokio::test]
async fn the_account_page_needs_a_session() {
    let app = spawn_app().await;
    let answer = app.get(&client(), "/account").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login");
}

#[tokio::test]
async fn a_sign_in_finished_by_script_lands_on_the_return_address() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_user_with_totp("carol").await;
    let rd = format!("{}/account?from=proxy", app.address);
    let login = c
        .get(app.url("/login"))
        .query(&[("rd", rd.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "already signed in: straight back");
    assert_eq!(login.headers()["location"].to_str().unwrap(), rd);

    let fresh = client();
    fresh
        .get(app.url("/login"))
        .query(&[("rd", rd.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.get(&fresh, "/login/done").await.headers()["location"],
        "/login"
    );
    let done = app.get(&c, "/login/done").await;
    assert_eq!(done.headers()["location"], "/account");
}

#[tokio::test]
async fn a_foreign_return_address_is_ignored() {
    let app = spawn_app().await;
    let answer = client()
        .get(app.url("/login"))
        .query(&[("rd", "https://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers().get("set-cookie").is_none(),
        "nothing remembered"
    );
}
