//! Journeys in a real browser on the account page: recovery codes made,
//! shown once and used; devices added, renamed and removed, with the step-up
//! a removal asks for after a while. None of it needs JavaScript.

use crate::browser::{Browser, PHONE};
use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn recovery_codes_are_shown_once_and_each_signs_in_once() {
    let app = spawn_app().await;
    let (_, secret, _) = app.signed_in_user_with_totp("frank").await;
    let browser = Browser::launch(&app, "recovery-codes", PHONE).await;
    browser.without_javascript().await;

    browser.sign_in_with_app(&app, "frank", &secret).await;
    browser.sees("You have no recovery codes").await;
    browser.click("Make recovery codes").await;
    browser.sees("They are shown only now").await;
    let codes: Vec<String> = browser
        .text_of("#recovery-codes")
        .await
        .lines()
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    browser.click("I have saved them").await;
    browser.sees("You have 10 unused recovery codes").await;
    assert!(
        !browser.text().await.contains(&codes[0]),
        "the codes are shown only once"
    );

    browser.sign_out().await;
    browser.sign_in_at("/login", "frank", PASSWORD).await;
    browser.click("Use a recovery code").await;
    browser.fill("Recovery code", &codes[0]).await;
    browser.click("Sign in").await;
    assert_eq!(browser.path().await, "/account");
    browser.sees("You signed in with a recovery code").await;
    browser.sees("You have 9 unused recovery codes").await;

    browser.sign_out().await;
    browser.sign_in_at("/login", "frank", PASSWORD).await;
    browser.click("Use a recovery code").await;
    browser.fill("Recovery code", &codes[0]).await;
    browser.click("Sign in").await;
    assert_eq!(
        browser.error_beside("Recovery code").await,
        "The code is wrong, expired or already used."
    );
}

#[tokio::test]
async fn devices_are_added_renamed_and_removed_from_the_account_page() {
    let app = spawn_app().await;
    let (_, phone_secret, _) = app.signed_in_user_with_totp("gina").await;
    let browser = Browser::launch(&app, "devices", PHONE).await;
    browser.without_javascript().await;
    browser.sign_in_with_app(&app, "gina", &phone_secret).await;

    // Add a second app.
    browser.click("Add an authenticator app").await;
    browser.sees("Add a second factor").await;
    browser.fill("Name for this device", "Tablet").await;
    browser.click("Set up an app").await;
    let tablet_secret = browser.text_of("#secret").await.replace(' ', "");
    browser
        .fill("Type the 6-digit code", &app.totp_code(&tablet_secret))
        .await;
    browser.click("Confirm").await;
    browser.sees("Your new second factor is ready").await;
    browser.sees("Tablet").await;

    // Rename it: an empty name is refused beside the field.
    browser.click("Rename Tablet").await;
    browser.fill("Name", "   ").await;
    browser.click("Save").await;
    assert!(
        browser
            .error_beside("Name")
            .await
            .starts_with("A device name has 1 to 64 printable characters")
    );
    browser.fill("Name", "Work tablet").await;
    browser.click("Save").await;
    browser.sees("The device was renamed.").await;
    browser.sees("Work tablet").await;

    // Remove the first phone, right after signing in.
    browser.click("Remove phone").await;
    browser.sees("Remove “phone”?").await;
    browser.click("Remove phone").await;
    browser.sees("The device was removed.").await;
    assert!(!browser.text_of("ul.devices").await.contains("phone"));

    // The last factor can't be removed: the page says why and offers no button.
    browser.click("Remove Work tablet").await;
    browser
        .sees("This is your only second factor, so it can't be removed: add another second factor first.")
        .await;
    assert!(!browser.text_of("main").await.contains("Keep it"));
    browser.click("Back to your account").await;
    browser.sees("Work tablet").await;

    // With a second app again, removing eleven minutes later asks for a code first.
    browser.click("Add an authenticator app").await;
    browser.fill("Name for this device", "Laptop").await;
    browser.click("Set up an app").await;
    let laptop_secret = browser.text_of("#secret").await.replace(' ', "");
    browser
        .fill("Type the 6-digit code", &app.totp_code(&laptop_secret))
        .await;
    browser.click("Confirm").await;
    browser.sees("Your new second factor is ready").await;
    app.clock.advance(11 * 60);
    browser.click("Remove Work tablet").await;
    browser.click("Remove Work tablet").await;
    browser.confirms_its_you(&app, &tablet_secret).await;
    // Back on this device's removal page, which says to press once more.
    let path = browser.path().await;
    assert!(
        path.starts_with("/account/devices/") && path.ends_with("/remove"),
        "{path}"
    );
    browser
        .sees("You confirmed it's you. Press “Remove Work tablet” to remove it now.")
        .await;
    browser.click("Remove Work tablet").await;
    browser.sees("The device was removed.").await;
    browser.sees("You have no recovery codes").await;
}
