//! The request a reverse proxy asks `/api/v1/verify` about: its method and
//! original URL, from nginx's headers (`X-Original-Method`, `X-Original-URL`)
//! or Traefik's (`X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`), and the
//! resource a policy judges: that URL normalised, without query or fragment.

use actix_web::HttpRequest;
use url::{Position, Url};

use super::error::ApiError;

/// Longest method name taken from a proxy's header.
const MAX_METHOD_CHARS: usize = 32;

/// What the proxy forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// Upper case (`GET`); the verify request's own method when the proxy sent none.
    pub method: String,
    /// The whole URL, normalised (where a step-up returns); `None` when the
    /// proxy sent none.
    pub url: Option<String>,
    /// `scheme://host[:port]/path`, normalised; empty when the proxy sent
    /// no URL (then only a `*` resource matches).
    pub resource: String,
}

/// Reads the original request from the proxy's headers. A URL or method
/// that can't be read is 400 `invalid_request`: judging it as "no URL"
/// would let a request slip past a Deny written for its path.
pub fn original_request(req: &HttpRequest) -> Result<OriginalRequest, ApiError> {
    let header = |name: &str| -> Result<Option<&str>, ApiError> {
        match req.headers().get(name) {
            None => Ok(None),
            Some(value) => value.to_str().map(Some).map_err(|_| {
                ApiError::invalid_request(format!("the {name} header is not readable text"))
            }),
        }
    };
    let method = match header("X-Original-Method")?.or(header("X-Forwarded-Method")?) {
        Some(method) => method_name(method).ok_or_else(|| {
            ApiError::invalid_request("the forwarded method is not a method name")
        })?,
        None => req.method().as_str().to_owned(),
    };
    let raw = match header("X-Original-URL")? {
        Some(url) => Some(url.to_owned()),
        None => match header("X-Forwarded-Host")? {
            Some(host) => {
                let proto = header("X-Forwarded-Proto")?.unwrap_or("https");
                let uri = header("X-Forwarded-Uri")?.unwrap_or("/");
                Some(format!("{proto}://{host}{uri}"))
            }
            None => None,
        },
    };
    let Some(raw) = raw else {
        return Ok(OriginalRequest {
            method,
            url: None,
            resource: String::new(),
        });
    };
    let (url, resource) = judged(&raw)
        .ok_or_else(|| ApiError::invalid_request("the forwarded URL is not an http(s) URL"))?;
    Ok(OriginalRequest {
        method,
        url: Some(url),
        resource,
    })
}

/// An HTTP method name (letters, digits and `-`), upper-cased.
fn method_name(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()
        && text.len() <= MAX_METHOD_CHARS
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    .then(|| text.to_ascii_uppercase())
}

/// The URL as a browser resolves it (WHATWG: host lower-cased, default
/// port dropped, dot segments and `%2e` resolved, backslashes read as
/// slashes), then, as the app behind will read it, percent-escapes of
/// unreserved characters decoded (`/%61dmin` is `/admin`) and runs of `/`
/// merged (`//admin` is `/admin`, as nginx merges them). Returns the whole
/// URL and the resource (without query, fragment or userinfo).
pub fn judged(raw: &str) -> Option<(String, String)> {
    let mut url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_fragment(None);
    // Most paths have no escape and no `//`: nothing to redo for them.
    if url.path().contains('%') || url.path().contains("//") {
        let path = merge_slashes(&decode_unreserved(url.path()));
        if path != url.path() {
            url.set_path(&path);
            // Decoding can't make new dot segments (`%2e` was resolved
            // already), but parse once more so the result is exactly what
            // a browser would send.
            url = Url::parse(url.as_str()).ok()?;
        }
    }
    // `scheme://host[:port]/path`: the userinfo is gone, the default port
    // was dropped when parsing.
    let resource = url[..Position::AfterPath].to_owned();
    Some((url.into(), resource))
}

/// `%41` → `A` for letters, digits, `-`, `.`, `_` and `~` (RFC 3986's
/// unreserved characters, whose escapes mean the same); other escapes are
/// kept, with upper-case hex digits.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let byte = high * 16 + low;
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push(bytes[i + 1].to_ascii_uppercase() as char);
                out.push(bytes[i + 2].to_ascii_uppercase() as char);
            }
            i += 3;
            continue;
        }
        // The path is ASCII (the parser percent-encoded everything else).
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_judged_as_the_browser_and_the_app_read_them() {
        for (raw, resource) in [
            (
                "https://grafana.example.com/d/1?x=y#top",
                "https://grafana.example.com/d/1",
            ),
            (
                "https://GRAFANA.Example.com:443/d/1",
                "https://grafana.example.com/d/1",
            ),
            (
                "http://app.example.com:8080/x",
                "http://app.example.com:8080/x",
            ),
            (
                "https://a.example.com/x/../admin/users",
                "https://a.example.com/admin/users",
            ),
            (
                "https://a.example.com/x/%2e%2E/admin/",
                "https://a.example.com/admin/",
            ),
            (
                "https://a.example.com/%61dmin/%75sers",
                "https://a.example.com/admin/users",
            ),
            (
                "https://a.example.com//admin///users",
                "https://a.example.com/admin/users",
            ),
            (
                "https://a.example.com\\admin\\users",
                "https://a.example.com/admin/users",
            ),
            (
                "https://user:pw@a.example.com/admin",
                "https://a.example.com/admin",
            ),
            ("https://a.example.com/a%2fb", "https://a.example.com/a%2Fb"),
            ("https://a.example.com", "https://a.example.com/"),
            (
                "https://B\u{fc}cher.example/x",
                "https://xn--bcher-kva.example/x",
            ),
            ("https://[::1]:8443/x?y", "https://[::1]:8443/x"),
            ("http://10.0.0.1:80/x", "http://10.0.0.1/x"),
            (
                "https://a.example.com/caf\u{e9}",
                "https://a.example.com/caf%C3%A9",
            ),
        ] {
            assert_eq!(
                judged(raw).map(|(_, r)| r).as_deref(),
                Some(resource),
                "{raw}"
            );
        }
        assert_eq!(
            judged("https://a.example.com/d?x=1").unwrap().0,
            "https://a.example.com/d?x=1"
        );
    }

    #[test]
    fn what_is_not_an_http_url_is_refused() {
        for raw in [
            "",
            "/admin",
            "javascript:alert(1)",
            "ftp://a.example.com/",
            "https://",
            "not a url",
        ] {
            assert_eq!(judged(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn method_names_are_upper_cased_and_checked() {
        assert_eq!(method_name("get").as_deref(), Some("GET"));
        assert_eq!(method_name("PROPFIND").as_deref(), Some("PROPFIND"));
        for bad in ["", "GET /", "G\u{e9}T", "GET*", &"A".repeat(33)] {
            assert_eq!(method_name(bad), None, "{bad:?}");
        }
    }
}
