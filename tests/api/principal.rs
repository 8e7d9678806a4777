//! Who is asking, judged once for every route: a session that has ended is
//! refused alike by the JSON API (401 `unauthenticated`), forward-auth (401
//! with where to sign in) and the pages (sent to `/login`).

use crate::helpers::{PASSWORD, assert_error, client, spawn_app};

/// Pages that need a signed-in person.
const SIGNED_IN_PAGES: &[&str] = &[
    "/account",
    "/account/password",
    "/reauthenticate",
    "/enrol",
    "/enrol/security-key",
    "/admin",
    "/login/done",
];

#[tokio::test]
async fn an_ended_session_is_refused_by_the_api_and_sent_to_sign_in_by_the_pages() {
    let app = spawn_app().await;
    let (c, _, _) = app.signed_in_admin_with_totp("olga").await;
    for page in SIGNED_IN_PAGES {
        let answer = app.get(&c, page).await;
        assert_ne!(
            answer
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap()),
            Some("/login"),
            "{page} while signed in"
        );
    }
    assert_eq!(app.get(&c, "/api/v1/admin/users").await.status(), 200);

    app.clock.advance(31 * 60);
    for path in ["/api/v1/me", "/api/v1/admin/users"] {
        assert_error(app.get(&c, path).await, 401, "unauthenticated").await;
    }
    let verify = app.get(&c, "/api/v1/verify").await;
    assert_eq!(verify.status(), 401);
    assert!(verify.headers().contains_key("location"));
    for page in SIGNED_IN_PAGES {
        let answer = app.get(&c, page).await;
        assert_eq!(answer.status(), 303, "{page}");
        assert_eq!(answer.headers()["location"], "/login", "{page}");
    }
    let form = c
        .post(app.url("/account/recovery-codes"))
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 303);
    assert_eq!(form.headers()["location"], "/login");
}

#[tokio::test]
async fn an_expired_pending_login_sends_the_second_factor_pages_back_to_sign_in() {
    let app = spawn_app().await;
    app.signed_in_user_with_totp("piotr").await;
    let c = client();
    app.login(&c, "piotr", PASSWORD).await;
    for page in ["/login/second-factor", "/login/recovery-code"] {
        assert_eq!(app.get(&c, page).await.status(), 200, "{page}");
    }
    app.clock.advance(5 * 60 + 1);
    for page in ["/login/second-factor", "/login/recovery-code"] {
        let answer = app.get(&c, page).await;
        assert_eq!(answer.status(), 303, "{page}");
        assert_eq!(answer.headers()["location"], "/login", "{page}");
    }
    assert_error(
        app.post(
            &c,
            "/api/v1/login/security-key/begin",
            serde_json::json!({}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
}
