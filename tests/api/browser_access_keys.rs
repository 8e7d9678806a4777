//! Access keys on the account page in a real browser: made after a fresh
//! second factor, the secret shown once with a copy button and a warning,
//! listed with its last use, deactivated, activated and deleted.

use base64::Engine;
use serde_json::json;

use crate::browser::{Browser, PHONE};
use crate::helpers::{client, spawn_app};

async fn session_token_status(app: &crate::helpers::TestApp, id: &str, secret: &str) -> u16 {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    client()
        .post(app.url("/api/v1/sts/session-token"))
        .header("Authorization", format!("Basic {basic}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_access_key_is_made_shown_once_used_and_retired_from_the_account_page() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("kim").await;
    let browser = Browser::launch(&app, "access-keys", PHONE).await;
    browser.sign_in_with_app(&app, "kim", &secret).await;
    browser.sees("Access keys").await;

    // After a while, making a key asks for a second factor first.
    app.clock.advance(11 * 60);
    browser.click("Create an access key").await;
    browser.sees("The secret is shown once").await;
    browser.click("Create access key").await;
    browser.confirms_its_you(&app, &secret).await;
    assert_eq!(browser.path().await, "/account/access-keys/new");
    browser.click("Create access key").await;
    browser.sees("The secret is shown only now").await;
    browser.check_manners("a key was made").await;
    let id = browser.text_of("#access-key-id").await.trim().to_owned();
    let key_secret = browser
        .text_of("#access-key-secret")
        .await
        .trim()
        .to_owned();
    assert!(id.starts_with("TFAK") && id.len() == 20, "{id}");

    // The copy button works from the page's own script (no inline code).
    browser.press("Copy").await;
    browser
        .wait_until(
            "Array.from(document.querySelectorAll('button[data-copy]')).some(b => b.innerText.startsWith('Copied') || b.innerText.startsWith('Selected'))",
            "the copy button to say what it did",
        )
        .await;

    browser.click("I have saved it").await;
    browser.sees(&id).await;
    browser.sees("Not used yet").await;
    assert!(
        !browser.text().await.contains(&key_secret),
        "shown only once"
    );

    // Used by a script: the page shows when.
    assert_eq!(session_token_status(&app, &id, &key_secret).await, 200);
    browser.open("/account").await;
    browser.sees("Last used").await;

    browser.click(&format!("Deactivate {id}")).await;
    browser.sees("The access key is inactive").await;
    assert_eq!(session_token_status(&app, &id, &key_secret).await, 401);
    browser.click(&format!("Activate {id}")).await;
    browser.sees("The access key is active again").await;
    assert_eq!(session_token_status(&app, &id, &key_secret).await, 200);
    browser.click(&format!("Delete {id}")).await;
    browser.sees("The access key is deleted").await;
    assert!(!browser.text().await.contains(&id));
    assert_eq!(session_token_status(&app, &id, &key_secret).await, 401);
    browser.check_manners("a key was deleted").await;
}
