//! Where to send a person after they sign in: the `rd` / `next` address a
//! login link or a reverse proxy passed along. It is resolved as a browser
//! would (WHATWG URL parsing against `server.origin`) and judged on the result.

use url::{Host, Url};

use crate::config::Settings;

/// The address as a browser would resolve it, if that lands on twofold's
/// own origin (same scheme, host and port) or on a configured domain over
/// http(s): its normalised serialisation, never the raw input, which is the
/// only thing that may be sent back in a `Location`. `None` otherwise.
pub fn allowed(settings: &Settings, target: &str) -> Option<String> {
    let (origin, resolved) = resolve(settings, target)?;
    (same_origin(&origin, &resolved) || configured_domain(settings, &resolved))
        .then(|| resolved.into())
}

/// Like [`allowed`], but only twofold's own origin, and written as the
/// normalised path and query (which never starts with `//`): where a step-up
/// returns, carried in the step-up form.
pub fn own_page(settings: &Settings, target: &str) -> Option<String> {
    let (origin, resolved) = resolve(settings, target)?;
    same_origin(&origin, &resolved).then(|| resolved[url::Position::BeforePath..].to_owned())
}

/// The origin and `target` joined onto it, as the WHATWG parser does it
/// (tabs and newlines dropped, backslashes read as slashes, dot segments
/// and `%2e` resolved); an address with userinfo is refused outright, as
/// it only serves to disguise where it leads.
fn resolve(settings: &Settings, target: &str) -> Option<(Url, Url)> {
    if target.trim().is_empty() {
        return None;
    }
    let origin = Url::parse(&settings.server.origin).ok()?;
    let resolved = origin.join(target).ok()?;
    let userinfo = !resolved.username().is_empty() || resolved.password().is_some();
    (!userinfo).then_some((origin, resolved))
}

/// Same scheme, host and port, and a path that does not begin with an empty
/// segment: `/.//evil.example` resolves to `//evil.example` on our host, which
/// no page of ours is and which turns into another host wherever the origin
/// is dropped.
fn same_origin(origin: &Url, resolved: &Url) -> bool {
    !resolved.path().starts_with("//")
        && resolved.scheme() == origin.scheme()
        && resolved.host() == origin.host()
        && resolved.port_or_known_default() == origin.port_or_known_default()
}

/// A host named in `server.allowed_redirect_domains` (`.example.com` also
/// allows its subdomains), over http or https.
fn configured_domain(settings: &Settings, resolved: &Url) -> bool {
    let Some(Host::Domain(host)) = resolved.host() else {
        return false;
    };
    matches!(resolved.scheme(), "http" | "https")
        && settings
            .server
            .allowed_redirect_domains
            .iter()
            .any(|domain| {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                match domain.strip_prefix('.') {
                    Some(parent) => {
                        host == parent
                            || host
                                .strip_suffix(parent)
                                .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
                    }
                    None => host == domain,
                }
            })
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

    const ORIGIN: &str = "https://auth.example.com";

    fn settings() -> Settings {
        let mut settings = Settings::default();
        settings.server.origin = ORIGIN.into();
        settings.server.allowed_redirect_domains =
            vec![".apps.example.com".into(), "wiki.example.org".into()];
        settings
    }

    #[test]
    fn own_origin_and_configured_domains_are_allowed_in_their_normalised_form() {
        let s = settings();
        for (given, sent) in [
            (
                "https://auth.example.com/account",
                "https://auth.example.com/account",
            ),
            (
                "https://AUTH.example.com:443/x",
                "https://auth.example.com/x",
            ),
            (
                "https://grafana.apps.example.com/d/1?x=y",
                "https://grafana.apps.example.com/d/1?x=y",
            ),
            ("https://apps.example.com/", "https://apps.example.com/"),
            (
                "http://wiki.example.org/page",
                "http://wiki.example.org/page",
            ),
            ("/account", "https://auth.example.com/account"),
            ("/a/../account", "https://auth.example.com/account"),
            ("/acc\tount", "https://auth.example.com/account"),
            ("account", "https://auth.example.com/account"),
        ] {
            assert_eq!(allowed(&s, given).as_deref(), Some(sent), "{given:?}");
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
            "\\\\evil.com",
            "/.//evil.example",
            "/%2e//evil.example",
            "/%2E%2e//evil.example",
            "/a/..//evil.example",
            "/./\\evil.example",
            "https://localhost:8080@evil.example",
            "https://auth.example.com@evil.example/",
            "https://user@auth.example.com/",
            "https://auth.example.com:8443/x",
            "http://auth.example.com/x",
            "ftp://wiki.example.org/x",
            "https://[::1]/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "/\t/evil.com",
            "/\n/evil.com",
            "\t//evil.com",
            "",
            "  ",
        ] {
            assert_eq!(allowed(&s, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_step_up_returns_only_to_the_own_origin() {
        let s = settings();
        assert_eq!(
            own_page(&s, "/a/../account/password?x=1").as_deref(),
            Some("/account/password?x=1")
        );
        for bad in [
            "https://grafana.apps.example.com/",
            "/.//evil.example",
            "//evil.example/",
        ] {
            assert_eq!(own_page(&s, bad), None, "{bad:?}");
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
