//! Who the client is behind reverse proxies: the socket's peer, unless that
//! peer is a configured trusted proxy, in which case `X-Forwarded-For` is
//! read from the right, skipping trusted proxies, to the first other address.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::parse_proxy;

/// The client's address as twofold counts it.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[String]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(resolve(peer, &forwarded, trusted_proxies))
}

/// Pure rule: `peer` unless it is trusted; then the rightmost address of the
/// forwarded chain that is not a trusted proxy (a client can prepend anything,
/// so only what trusted proxies appended counts). An unreadable entry stops
/// the walk at the last trusted hop.
pub fn resolve(peer: IpAddr, forwarded_headers: &[&str], trusted_proxies: &[String]) -> IpAddr {
    let trusted: Vec<ipnet::IpNet> = trusted_proxies
        .iter()
        .filter_map(|p| parse_proxy(p))
        .collect();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_headers
        .iter()
        .flat_map(|header| header.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses as plain IPv4.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(
            resolve(ip("192.0.2.9"), &["203.0.113.5"], &[]),
            ip("192.0.2.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let proxies = vec!["10.0.0.0/8".to_owned()];
        assert_eq!(
            resolve(ip("10.0.0.2"), &["203.0.113.5"], &proxies),
            ip("203.0.113.5")
        );
        // The client may forge entries on the left; only the right counts.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                &["1.1.1.1, 203.0.113.5, 10.0.0.7"],
                &proxies
            ),
            ip("203.0.113.5")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), &["1.1.1.1", "203.0.113.5"], &proxies),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let proxies = vec!["10.0.0.1".to_owned()];
        assert_eq!(
            resolve(ip("192.0.2.9"), &["203.0.113.5"], &proxies),
            ip("192.0.2.9")
        );
    }

    #[test]
    fn garbage_or_nothing_leaves_the_proxy_as_the_client() {
        let proxies = vec!["10.0.0.1".to_owned()];
        assert_eq!(resolve(ip("10.0.0.1"), &[], &proxies), ip("10.0.0.1"));
        assert_eq!(
            resolve(ip("10.0.0.1"), &["not an ip"], &proxies),
            ip("10.0.0.1")
        );
    }
}
