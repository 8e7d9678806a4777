//! The cookies: the pending login (after the password, ≤5 minutes), the
//! session, the return address, the known client and the remembered browser. Both `HttpOnly`, `SameSite=Lax`, and `Secure` when the origin
//! is https.

use actix_web::cookie::{Cookie, SameSite, time::Duration};

use crate::auth::login::SignedIn;
use crate::auth::session::Token;
use crate::config::Settings;

pub const SESSION_COOKIE: &str = "twofold_session";
pub const PENDING_COOKIE: &str = "twofold_pending";
/// Where to go once signed in (an address already checked by `return_to`).
pub const RETURN_COOKIE: &str = "twofold_return";
/// Given after both factors: the per-account password limit spares this browser.
pub const KNOWN_CLIENT_COOKIE: &str = "twofold_known_client";
/// Lets this browser skip the second factor for a while (when asked for).
pub const REMEMBERED_BROWSER_COOKIE: &str = "twofold_remembered_browser";
/// A passwordless sign-in between its `begin` and `finish` (≤5 minutes): the
/// challenge it names stays on the server.
pub const PASSKEY_COOKIE: &str = "twofold_passkey";

fn cookie(
    settings: &Settings,
    name: &'static str,
    value: String,
    max_age_secs: i64,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies())
        .max_age(Duration::seconds(max_age_secs))
        .finish();
    if !settings.server.cookie_domain.is_empty() {
        cookie.set_domain(settings.server.cookie_domain.clone());
    }
    cookie
}

pub fn session(settings: &Settings, token: &Token) -> Cookie<'static> {
    let max_age = settings.session.absolute_timeout_secs;
    cookie(settings, SESSION_COOKIE, token.as_str().to_owned(), max_age)
}

pub fn pending(settings: &Settings, token: &Token) -> Cookie<'static> {
    let max_age = settings.session.pending_timeout_secs;
    cookie(settings, PENDING_COOKIE, token.as_str().to_owned(), max_age)
}

/// Characters a cookie value can't carry as they are: `;` would start an
/// attribute of the attacker's choosing, `%` must survive the decoding
/// actix-web applies when it reads the cookie back.
const COOKIE_VALUE_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b',')
    .add(b';')
    .add(b'\\');

pub fn passkey_ceremony(settings: &Settings, token: &Token) -> Cookie<'static> {
    let max_age = crate::auth::security_key::CEREMONY_TTL_SECS;
    cookie(settings, PASSKEY_COOKIE, token.as_str().to_owned(), max_age)
}

pub fn return_to(settings: &Settings, target: &str) -> Cookie<'static> {
    let value = percent_encoding::utf8_percent_encode(target, COOKIE_VALUE_ESCAPES).to_string();
    cookie(settings, RETURN_COOKIE, value, 10 * 60)
}

/// A cookie that tells the browser to forget `name`.
pub fn removal(settings: &Settings, name: &'static str) -> Cookie<'static> {
    cookie(settings, name, String::new(), 0)
}

/// The known-client cookie (long-lived; it is no session and grants nothing
/// but being spared the per-account password limit).
pub fn known_client(settings: &Settings, token: &Token) -> Cookie<'static> {
    let max_age = settings.throttle.known_client_days * 24 * 60 * 60;
    cookie(
        settings,
        KNOWN_CLIENT_COOKIE,
        token.as_str().to_owned(),
        max_age,
    )
}

/// The cookies of a sign-in that just completed, however the second factor
/// was given: the new session, the pending login forgotten, and a new
/// known-client token when the browser held none for this user.
pub fn signed_in(settings: &Settings, signed_in: &SignedIn) -> Vec<Cookie<'static>> {
    let mut cookies = vec![
        session(settings, &signed_in.token),
        removal(settings, PENDING_COOKIE),
    ];
    if let Some(known) = &signed_in.known_client {
        cookies.push(known_client(settings, known));
    }
    if let Some(remembered) = &signed_in.remembered_browser {
        let max_age = settings.session.remember_browser_days * 24 * 60 * 60;
        cookies.push(cookie(
            settings,
            REMEMBERED_BROWSER_COOKIE,
            remembered.as_str().to_owned(),
            max_age,
        ));
    }
    cookies
}
