//! A user agent as people read it in a list of sessions: "Chrome on Linux",
//! "Safari on iOS", "curl". Only the browser family and the system: enough
//! to tell one's own devices apart, without parsing every version scheme.

/// Browser families by the token that names them, most specific first (Edge
/// and Opera also say "Chrome"; Chrome also says "Safari").
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
];

/// Systems by the token that names them, most specific first (Android and
/// ChromeOS also say "Linux"; iOS says "like Mac OS X").
const SYSTEMS: &[(&str, &str)] = &[
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
    ("FreeBSD", "FreeBSD"),
];

/// "Chrome on Linux"; a client that is no browser by its first product name
/// ("curl"); "Unknown browser" when nothing was sent.
pub fn summarise(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "Unknown browser".to_owned();
    };
    let browser = BROWSERS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| (*name).to_owned());
    let system = SYSTEMS
        .iter()
        .find(|(token, _)| ua.contains(token))
        .map(|(_, name)| *name);
    let browser = browser.unwrap_or_else(|| product(ua));
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser,
    }
}

/// The first product token's name: "curl/8.5.0" → "curl".
fn product(ua: &str) -> String {
    let name: String = ua
        .split(['/', ' ', '('])
        .next()
        .unwrap_or("")
        .chars()
        .take(32)
        .collect();
    if name.is_empty() {
        "Unknown browser".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::summarise;

    #[test]
    fn common_browsers_read_as_browser_on_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
        ];
        for (ua, expected) in cases {
            assert_eq!(summarise(Some(ua)), expected, "{ua}");
        }
    }

    #[test]
    fn other_clients_read_as_their_product_name() {
        assert_eq!(summarise(Some("curl/8.5.0")), "curl");
        assert_eq!(summarise(Some("twofold-cli")), "twofold-cli");
    }

    #[test]
    fn nothing_sent_reads_as_unknown() {
        assert_eq!(summarise(None), "Unknown browser");
        assert_eq!(summarise(Some("  ")), "Unknown browser");
        assert_eq!(summarise(Some("/x")), "Unknown browser");
    }
}
