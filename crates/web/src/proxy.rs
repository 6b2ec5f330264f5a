//! Who the client is behind a reverse proxy or load balancer. `X-Forwarded-For` is believed
//! only from a peer in `trusted_proxies`: then the client is the last address in the header
//! that is not itself a trusted proxy (each proxy appends the address it saw, so the addresses
//! to the left of it may be anyone's invention). From any other peer the header is ignored.

use std::net::IpAddr;

use ipnet::IpNet;

/// The proxies whose forwarding headers are believed: addresses or networks (`10.0.0.0/8`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads `127.0.0.1`, `::1` or `10.0.0.0/8`; a wrong entry is an error that names it.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{e}` is not an address or a network"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: the peer's, or behind a trusted proxy the one it forwarded.
    pub fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.contains(ip) => client = ip,
                Ok(ip) => return ip,
                // Garbage in the chain: stop at the last address we could trust.
                Err(_) => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).expect("valid");
        let header = Some("203.0.113.7");
        assert_eq!(proxies.client(ip("127.0.0.1"), header), ip("203.0.113.7"));
        assert_eq!(
            proxies.client(ip("198.51.100.9"), header),
            ip("198.51.100.9"),
            "a stranger's header is ignored"
        );
        assert_eq!(proxies.client(ip("127.0.0.1"), None), ip("127.0.0.1"));
    }

    #[test]
    fn a_forged_left_part_of_the_chain_is_not_believed() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).expect("valid");
        // The client wrote "1.2.3.4" itself; the edge proxy appended the address it saw,
        // and an inner proxy appended the edge's.
        let chain = Some("1.2.3.4, 203.0.113.7, 10.0.0.2");
        assert_eq!(proxies.client(ip("10.0.0.3"), chain), ip("203.0.113.7"));
        assert_eq!(
            proxies.client(ip("10.0.0.3"), Some("nonsense, 10.0.0.2")),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_wrong_entry_is_named() {
        let err = TrustedProxies::parse(&["10.0.0.0/8", "proxy.udg.mx"]).unwrap_err();
        assert!(err.contains("proxy.udg.mx"), "{err}");
    }
}
