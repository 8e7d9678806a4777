//! Where to send a person after they sign in: the `rd` address a login link or
//! a reverse proxy passed along, accepted only for twofold's own host or a
//! configured domain, so twofold is never an open redirect.

use url::Url;

use crate::config::Settings;

/// The address if it is an absolute http(s) URL to an allowed host, or a
/// path on twofold itself (`/account`); `None` otherwise.
pub fn allowed(settings: &Settings, target: &str) -> Option<String> {
    // Browsers drop tabs and newlines from a Location before reading it
    // (`/\t/evil.example` becomes `//evil.example`): no control character
    // is part of an address we send anyone to.
    if target.chars().any(char::is_control) {
        return None;
    }
    if target.starts_with('/') {
        return own_path(settings, target);
    }
    let url = Url::parse(target).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let own_host = Url::parse(&settings.server.origin)
        .ok()
        .and_then(|o| o.host_str().map(str::to_ascii_lowercase));
    let configured = settings
        .server
        .allowed_redirect_domains
        .iter()
        .any(|domain| {
            let domain = domain.to_ascii_lowercase();
            match domain.strip_prefix('.') {
                Some(parent) => host == parent || host.ends_with(&format!(".{parent}")),
                None => host == domain,
            }
        });
    (own_host.as_deref() == Some(host.as_str()) || configured).then(|| url.to_string())
}

/// A path on twofold itself, as a browser would resolve it against the
/// origin: only when it stays on the origin, written back in its parsed form.
fn own_path(settings: &Settings, target: &str) -> Option<String> {
    if target.starts_with("//") || target.contains('\\') {
        return None;
    }
    let origin = Url::parse(&settings.server.origin).ok()?;
    let resolved = origin.join(target).ok()?;
    (resolved.origin() == origin.origin()).then(|| resolved[url::Position::BeforePath..].to_owned())
}

/// The sign-in page's address, carrying `rd` when it is allowed.
pub fn login_url(settings: &Settings, original: Option<&str>) -> String {
    let base = format!("{}/login", settings.server.origin);
    match original.and_then(|target| allowed(settings, target)) {
        Some(target) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("rd", &target)
                .finish();
            format!("{base}?{query}")
        }
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let mut settings = Settings::default();
        settings.server.origin = "https://auth.example.com".into();
        settings.server.allowed_redirect_domains =
            vec![".apps.example.com".into(), "wiki.example.org".into()];
        settings
    }

    #[test]
    fn own_host_and_configured_domains_are_allowed() {
        let s = settings();
        for ok in [
            "https://auth.example.com/account",
            "https://auth.example.com:8443/x",
            "https://grafana.apps.example.com/d/1?x=y",
            "https://apps.example.com/",
            "http://wiki.example.org/page",
            "/account",
        ] {
            assert!(allowed(&s, ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        let s = settings();
        for bad in [
            "https://evil.com/",
            "https://example.com.evil.com/",
            "https://evilapps.example.com/",
            "//evil.com/x",
            "/\\evil.com",
            "javascript:alert(1)",
            "https://user@auth.example.com/",
            "data:text/html,hi",
            "not a url",
            "/\t/evil.com",
            "/\n/evil.com",
            "/\r\nSet-Cookie: x=y",
        ] {
            assert!(allowed(&s, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_login_url_carries_the_address_encoded() {
        let s = settings();
        assert_eq!(
            login_url(&s, Some("https://grafana.apps.example.com/d?a=1&b=2")),
            "https://auth.example.com/login?rd=https%3A%2F%2Fgrafana.apps.example.com%2Fd%3Fa%3D1%26b%3D2"
        );
        assert_eq!(
            login_url(&s, Some("https://evil.com/")),
            "https://auth.example.com/login"
        );
        assert_eq!(login_url(&s, None), "https://auth.example.com/login");
    }
}
