//! Bounds on connections, so slow or many clients can't take the descriptors
//! that probes and the store need: at most `server.max_connections_per_ip`
//! open from one address (cut at once beyond it), a total kept below the
//! process's descriptor limit with a reserve, and a deadline on reading a
//! request body (`body_deadline`).

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown};
use std::sync::{Arc, Mutex};

use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;

use super::client_ip::canonical;
use crate::auth::throttle::ip_bucket;
use crate::config::{ServerSettings, parse_proxy};

/// Descriptors kept out of the connection budget: the store's pooled
/// connections (database, log and shared-memory file each), the listener,
/// the workers' event queues, log files.
pub const RESERVED_DESCRIPTORS: usize = 128;

/// The fewest connections the server accepts at once, whatever its limit.
const MIN_CONNECTIONS: usize = 16;

/// Raises the soft limit on open files to the hard limit (the kernel lets any
/// process do that) and returns the limit now in force.
pub fn raise_descriptor_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok(limit.rlim_cur)
}

/// How many client connections may be open at once: `server.max_connections`,
/// lowered to what `descriptor_limit` leaves after the reserve.
pub fn connection_budget(configured: usize, descriptor_limit: u64) -> usize {
    let available = usize::try_from(descriptor_limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(RESERVED_DESCRIPTORS);
    configured.min(available).max(MIN_CONNECTIONS)
}

/// Open connections per client address (IPv6 by /64); trusted proxies are
/// not counted (they carry many clients, and cut slow ones themselves).
#[derive(Debug)]
pub struct PerAddressLimit {
    max_per_address: usize,
    trusted_proxies: Vec<ipnet::IpNet>,
    open: Mutex<HashMap<String, usize>>,
}

/// One counted connection; dropped with the connection.
struct OpenConnection {
    limit: Arc<PerAddressLimit>,
    address: String,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.limit.release(&self.address);
    }
}

impl PerAddressLimit {
    pub fn new(server: &ServerSettings) -> Arc<Self> {
        Arc::new(Self {
            max_per_address: server.max_connections_per_ip,
            trusted_proxies: server
                .trusted_proxies
                .iter()
                .filter_map(|p| parse_proxy(p))
                .collect(),
            open: Mutex::default(),
        })
    }

    /// Counts a connection from `peer`; false (nothing counted) when the
    /// address already has its maximum open.
    fn admit(&self, address: &str) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(address.to_owned()).or_insert(0);
        if *count >= self.max_per_address {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, address: &str) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(address) {
            *count -= 1;
            if *count == 0 {
                open.remove(address);
            }
        }
    }

    /// For `HttpServer::on_connect`: counts a new connection, or cuts it at
    /// once (the client reads end-of-file; no request is read from it) when
    /// its address has too many open.
    pub fn on_connect(self: &Arc<Self>, io: &dyn Any, data: &mut Extensions) {
        let Some(stream) = tcp_of(io) else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip: IpAddr = canonical(peer.ip());
        if self.trusted_proxies.iter().any(|net| net.contains(&ip)) {
            return;
        }
        let address = ip_bucket(&ip.to_string());
        if self.admit(&address) {
            data.insert(OpenConnection {
                limit: self.clone(),
                address,
            });
        } else {
            tracing::debug!(%address, "connection cut: too many open from this address");
            let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Both);
        }
    }
}

/// The TCP socket under a connection as `on_connect` sees it. Each transport
/// the server listens with (plain TCP; TLS wraps the same socket) needs its
/// arm here, or its connections go uncounted.
fn tcp_of(io: &dyn Any) -> Option<&TcpStream> {
    io.downcast_ref::<TcpStream>().or_else(|| {
        io.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_below_the_descriptor_limit() {
        assert_eq!(connection_budget(10_000, 256), 256 - RESERVED_DESCRIPTORS);
        assert_eq!(connection_budget(100, 1_000_000), 100);
        assert_eq!(connection_budget(10_000, 64), MIN_CONNECTIONS);
    }

    #[test]
    fn an_address_gets_its_maximum_and_a_slot_back_when_one_closes() {
        let limit = PerAddressLimit::new(&ServerSettings {
            max_connections_per_ip: 2,
            ..ServerSettings::default()
        });
        assert!(limit.admit("192.0.2.1"));
        assert!(limit.admit("192.0.2.1"));
        assert!(!limit.admit("192.0.2.1"));
        assert!(limit.admit("192.0.2.2"));
        limit.release("192.0.2.1");
        assert!(limit.admit("192.0.2.1"));
    }
}
