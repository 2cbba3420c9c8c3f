//! `NO_PROXY`: the hosts that are reached directly even when a proxy is set.
//!
//! The forms follow curl and most tools, so one variable serves them all: a host name
//! (`slack.com`, also matching its subdomains), a suffix (`.corp.example`, the same thing
//! spelled the other common way, or `*.corp.example`), `*` for everything, an IP address
//! (`10.1.2.3`, `::1`, `[::1]`), a CIDR block (`10.0.0.0/8`, `fd00::/8`), any of them with
//! `:port` to exempt one port only. Entries are separated by commas or whitespace.
//!
//! An IP or CIDR entry matches only a URL whose host *is* an address: names are never
//! resolved to decide, since the proxy (not us) may be the only one who can resolve them.

use std::fmt;
use std::net::IpAddr;

/// A parsed `NO_PROXY` list. The empty list (the default) exempts nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    /// The text as given, for `Debug` and `janus doctor`.
    text: String,
    /// `*`: every host is reached directly.
    all: bool,
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// A name and all its subdomains, lowercase, without leading or trailing dots.
    Domain { name: String, port: Option<u16> },
    /// One address.
    Ip { addr: IpAddr, port: Option<u16> },
    /// A block of addresses: the network address and the prefix length.
    Cidr { net: IpAddr, prefix: u8 },
}

impl NoProxy {
    /// Parses a `NO_PROXY` value. Only a malformed CIDR block (`10.0.0.0/33`, `x/8`) is an
    /// error: any other entry is a name, and a name nobody uses is harmless.
    pub fn parse(text: &str) -> Result<NoProxy, String> {
        let mut list = NoProxy {
            text: text.trim().to_owned(),
            ..NoProxy::default()
        };
        for entry in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
        {
            if entry == "*" {
                list.all = true;
                continue;
            }
            list.rules.push(Rule::parse(entry)?);
        }
        Ok(list)
    }

    /// Whether a connection to `host:port` skips the proxy. `host` is a URL host: a name,
    /// an IPv4 address or an IPv6 address with or without brackets.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.rules.iter().any(|rule| rule.matches(&host, ip, port))
    }

    /// Whether the list exempts nothing.
    pub fn is_empty(&self) -> bool {
        !self.all && self.rules.is_empty()
    }
}

impl fmt::Debug for NoProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoProxy({:?})", self.text)
    }
}

impl fmt::Display for NoProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Rule {
    fn parse(entry: &str) -> Result<Rule, String> {
        if let Some((addr, prefix)) = entry.split_once('/') {
            let bad = || format!("{entry:?} is not a CIDR block like 10.0.0.0/8");
            let addr = addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| bad())?;
            let prefix = prefix.parse::<u8>().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if prefix > max {
                return Err(bad());
            }
            return Ok(Rule::Cidr {
                net: mask(addr, prefix),
                prefix,
            });
        }
        // A bare IPv6 address has colons that are not a port.
        if let Ok(addr) = entry.parse::<IpAddr>() {
            return Ok(Rule::Ip { addr, port: None });
        }
        let (host, port) = split_port(entry);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = host.parse::<IpAddr>() {
            return Ok(Rule::Ip { addr, port });
        }
        let name = host
            .strip_prefix("*.")
            .unwrap_or(host)
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        Ok(Rule::Domain { name, port })
    }

    fn matches(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        let port_ok = |want: &Option<u16>| want.is_none_or(|want| want == port);
        match self {
            Rule::Domain { name, port: want } => {
                !name.is_empty()
                    && port_ok(want)
                    && (host == name
                        || host
                            .strip_suffix(name.as_str())
                            .is_some_and(|rest| rest.ends_with('.')))
            }
            Rule::Ip { addr, port: want } => ip == Some(*addr) && port_ok(want),
            Rule::Cidr { net, prefix } => {
                ip.is_some_and(|ip| ip.is_ipv4() == net.is_ipv4() && mask(ip, *prefix) == *net)
            }
        }
    }
}

/// `host:port` → (`host`, port); anything else is all host.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !port.is_empty() => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// `addr` with all but its first `prefix` bits cleared.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - prefix))
            };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - prefix))
            };
            IpAddr::V6(kept.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NoProxy;

    fn list(text: &str) -> NoProxy {
        NoProxy::parse(text).expect("parses")
    }

    #[test]
    fn an_empty_list_exempts_nothing() {
        let none = list("");
        assert!(none.is_empty());
        assert!(!none.matches("slack.com", 443));
        assert!(!list(" , ").matches("localhost", 80));
    }

    #[test]
    fn a_star_exempts_everything() {
        let all = list("*");
        assert!(all.matches("slack.com", 443));
        assert!(all.matches("10.1.2.3", 80));
    }

    #[test]
    fn a_name_matches_itself_and_its_subdomains_only() {
        let corp = list("corp.example");
        assert!(corp.matches("corp.example", 443));
        assert!(corp.matches("status.corp.example", 443));
        assert!(corp.matches("A.B.Corp.Example.", 443));
        assert!(!corp.matches("notcorp.example", 443));
        assert!(!corp.matches("corp.example.com", 443));
        assert!(!corp.matches("example", 443));
    }

    #[test]
    fn a_leading_dot_or_star_dot_means_the_same_suffix() {
        for text in [".corp.example", "*.corp.example"] {
            let corp = list(text);
            assert!(corp.matches("status.corp.example", 443), "{text}");
            assert!(corp.matches("corp.example", 443), "{text}");
            assert!(!corp.matches("evilcorp.example", 443), "{text}");
        }
    }

    #[test]
    fn entries_are_separated_by_commas_or_spaces() {
        let several = list("localhost, .internal  10.0.0.0/8,slack.com");
        assert!(several.matches("localhost", 8080));
        assert!(several.matches("db.internal", 5432));
        assert!(several.matches("10.200.3.4", 443));
        assert!(several.matches("wss-primary.slack.com", 443));
        assert!(!several.matches("api.statuspage.io", 443));
    }

    #[test]
    fn a_port_narrows_an_entry_to_that_port() {
        let one_port = list("status.corp.example:8443,10.1.2.3:80");
        assert!(one_port.matches("status.corp.example", 8443));
        assert!(!one_port.matches("status.corp.example", 443));
        assert!(one_port.matches("10.1.2.3", 80));
        assert!(!one_port.matches("10.1.2.3", 443));
    }

    #[test]
    fn an_ip_matches_that_address_and_never_a_name() {
        let loopback = list("127.0.0.1,::1");
        assert!(loopback.matches("127.0.0.1", 3000));
        assert!(loopback.matches("[::1]", 3000));
        assert!(loopback.matches("::1", 3000));
        assert!(!loopback.matches("127.0.0.2", 3000));
        assert!(!loopback.matches("localhost", 3000));
    }

    #[test]
    fn bracketed_ipv6_with_a_port_is_an_address_and_a_port() {
        let v6 = list("[fd00::1]:8080");
        assert!(v6.matches("[fd00::1]", 8080));
        assert!(!v6.matches("[fd00::1]", 443));
    }

    #[test]
    fn a_cidr_block_matches_the_addresses_inside_it() {
        let blocks = list("10.0.0.0/8,192.168.1.0/24,fd00::/8,0.0.0.0/0");
        assert!(blocks.matches("10.255.0.1", 443));
        assert!(blocks.matches("192.168.1.77", 443));
        assert!(blocks.matches("[fd12::5]", 443));
        assert!(!blocks.matches("[fe80::1]", 443));
        // 0.0.0.0/0 is every IPv4 address, but still no name.
        assert!(blocks.matches("8.8.8.8", 443));
        assert!(!blocks.matches("slack.com", 443));
        let narrow = list("10.1.0.0/16");
        assert!(narrow.matches("10.1.9.9", 80));
        assert!(!narrow.matches("10.2.0.1", 80));
        assert!(!narrow.matches("ten.example", 80));
    }

    #[test]
    fn a_cidr_block_that_is_not_one_is_an_error() {
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            let error = NoProxy::parse(bad).expect_err(bad);
            assert!(error.contains("CIDR"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_host_cidr_is_normalised_to_its_network() {
        assert!(list("10.1.2.3/8").matches("10.9.9.9", 443));
    }
}
