//! Pure adjustments to the CGI variables Apache produced, before they
//! become the WSGI environ: authorisation pass-through, HEAD→GET mapping,
//! the URL scheme and trusted reverse-proxy headers.

use std::net::IpAddr;

/// What the request-level directives and the connection contribute.
#[derive(Debug, Default)]
pub struct EnvironPolicy<'a> {
    /// The connection (or a trusted proxy header) is HTTPS.
    pub https: bool,
    /// `WSGIPassAuthorization On` and the request's `Authorization` header.
    pub authorization: Option<String>,
    /// Rewrite `REQUEST_METHOD` HEAD to GET (`WSGIMapHEADToGET`).
    pub head_as_get: bool,
    /// `WSGITrustedProxies`; `None` trusts every peer.
    pub trusted_proxies: Option<&'a [String]>,
    /// `WSGITrustedProxyHeaders`; empty disables proxy processing.
    pub trusted_headers: &'a [String],
}

/// The CGI variables and the value for `wsgi.url_scheme`.
#[derive(Debug, PartialEq, Eq)]
pub struct Adjusted {
    pub vars: Vec<(String, String)>,
    pub url_scheme: &'static str,
}

/// What a family of equivalent proxy headers conveys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    ClientAddress,
    Scheme,
    Host,
    Port,
    ServerName,
    ScriptName,
}

/// The supported proxy headers, as CGI variable names, by purpose.
const PROXY_HEADERS: &[(Purpose, &[&str])] = &[
    (
        Purpose::ClientAddress,
        &["HTTP_X_FORWARDED_FOR", "HTTP_X_CLIENT_IP", "HTTP_X_REAL_IP"],
    ),
    (
        Purpose::Scheme,
        &[
            "HTTP_X_FORWARDED_HTTPS",
            "HTTP_X_FORWARDED_PROTO",
            "HTTP_X_FORWARDED_SCHEME",
            "HTTP_X_FORWARDED_SSL",
            "HTTP_X_HTTPS",
            "HTTP_X_SCHEME",
        ],
    ),
    (Purpose::Host, &["HTTP_X_FORWARDED_HOST", "HTTP_X_HOST"]),
    (Purpose::Port, &["HTTP_X_FORWARDED_PORT"]),
    (Purpose::ServerName, &["HTTP_X_FORWARDED_SERVER"]),
    (
        Purpose::ScriptName,
        &["HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_SCRIPT_NAME"],
    ),
];

/// `X-Forwarded-For` → `HTTP_X_FORWARDED_FOR`.
fn cgi_name(header: &str) -> String {
    let mut name = String::from("HTTP_");
    name.extend(header.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

/// Whether `address` lies in `network` ("10.0.0.0/8", "::1", ...). An
/// IPv4-mapped IPv6 address matches its IPv4 form.
pub fn address_in(address: IpAddr, network: &str) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (base, prefix) = match network.split_once('/') {
        Some((b, p)) => (b, p.parse::<u32>().ok()),
        None => (network, None),
    };
    let Ok(base) = base.parse::<IpAddr>() else {
        return false;
    };
    match (canonical(address), canonical(base)) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = prefix.unwrap_or(32).min(32);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = prefix.unwrap_or(128).min(128);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn is_trusted(address: &str, proxies: Option<&[String]>) -> bool {
    let Some(proxies) = proxies else {
        return true;
    };
    address
        .trim()
        .parse::<IpAddr>()
        .is_ok_and(|ip| proxies.iter().any(|p| address_in(ip, p)))
}

/// The client address from an `X-Forwarded-For` style list: the rightmost
/// entry that is not itself a trusted proxy (the leftmost if all are).
fn client_from_list(value: &str, proxies: Option<&[String]>) -> Option<String> {
    let hops: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if proxies.is_some() {
        if let Some(hop) = hops.iter().rev().find(|h| !is_trusted(h, proxies)) {
            return Some(hop.to_string());
        }
    }
    hops.first().map(|h| h.to_string())
}

fn scheme_is_https(variable: &str, value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    match variable {
        "HTTP_X_FORWARDED_PROTO" | "HTTP_X_FORWARDED_SCHEME" | "HTTP_X_SCHEME" => value == "https",
        _ => matches!(value.as_str(), "on" | "1" | "true" | "yes"),
    }
}

fn set(vars: &mut Vec<(String, String)>, key: &str, value: String) {
    match vars.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => vars.push((key.to_string(), value)),
    }
}

fn get<'v>(vars: &'v [(String, String)], key: &str) -> Option<&'v str> {
    vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Applies the policy to Apache's CGI variables.
pub fn adjust(mut vars: Vec<(String, String)>, policy: &EnvironPolicy<'_>) -> Adjusted {
    let mut https = policy.https
        || get(&vars, "HTTPS").is_some_and(|v| v.eq_ignore_ascii_case("on") || v == "1");
    // The scheme is conveyed by wsgi.url_scheme, not the CGI convention.
    vars.retain(|(k, _)| k != "HTTPS");
    if let Some(authorization) = &policy.authorization {
        set(&mut vars, "HTTP_AUTHORIZATION", authorization.clone());
    }
    if policy.head_as_get && get(&vars, "REQUEST_METHOD") == Some("HEAD") {
        set(&mut vars, "REQUEST_METHOD", "GET".into());
    }
    if !policy.trusted_headers.is_empty() {
        let peer_trusted =
            get(&vars, "REMOTE_ADDR").is_some_and(|peer| is_trusted(peer, policy.trusted_proxies));
        let chosen: Vec<String> = policy.trusted_headers.iter().map(|h| cgi_name(h)).collect();
        for &(purpose, family) in PROXY_HEADERS {
            let Some(trusted) = family.iter().find(|v| chosen.iter().any(|c| c == *v)) else {
                continue;
            };
            // Only the designated header of a family survives, and only
            // from a trusted peer; the others could be forged by clients.
            vars.retain(|(k, _)| !family.contains(&k.as_str()) || (peer_trusted && k == trusted));
            let Some(value) = get(&vars, trusted).map(str::to_string) else {
                continue;
            };
            match purpose {
                Purpose::ClientAddress => {
                    if let Some(client) = client_from_list(&value, policy.trusted_proxies) {
                        set(&mut vars, "REMOTE_ADDR", client);
                    }
                }
                Purpose::Scheme => https = scheme_is_https(trusted, &value),
                Purpose::Host => set(&mut vars, "HTTP_HOST", value),
                Purpose::Port => set(&mut vars, "SERVER_PORT", value),
                Purpose::ServerName => set(&mut vars, "SERVER_NAME", value),
                Purpose::ScriptName => set(&mut vars, "SCRIPT_NAME", value),
            }
        }
    }
    Adjusted {
        vars,
        url_scheme: if https { "https" } else { "http" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(address_in(ip("10.1.2.3"), "10.0.0.0/8"));
        assert!(!address_in(ip("11.1.2.3"), "10.0.0.0/8"));
        assert!(address_in(ip("192.0.2.10"), "192.0.2.10"));
        assert!(!address_in(ip("192.0.2.11"), "192.0.2.10"));
        assert!(address_in(ip("::ffff:127.0.0.1"), "127.0.0.1"));
        assert!(address_in(ip("2001:db8::5"), "2001:db8::/32"));
        assert!(!address_in(ip("2001:db9::5"), "2001:db8::/32"));
        assert!(address_in(ip("1.2.3.4"), "0.0.0.0/0"));
        assert!(!address_in(ip("1.2.3.4"), "not-an-address"));
    }

    #[test]
    fn https_variable_becomes_the_url_scheme() {
        let a = adjust(
            vars(&[("HTTPS", "on"), ("REMOTE_ADDR", "1.2.3.4")]),
            &EnvironPolicy::default(),
        );
        assert_eq!(a.url_scheme, "https");
        assert_eq!(get(&a.vars, "HTTPS"), None);
        let a = adjust(vars(&[]), &EnvironPolicy::default());
        assert_eq!(a.url_scheme, "http");
        let policy = EnvironPolicy {
            https: true,
            ..Default::default()
        };
        assert_eq!(adjust(vars(&[]), &policy).url_scheme, "https");
    }

    #[test]
    fn authorization_and_head() {
        let policy = EnvironPolicy {
            authorization: Some("Basic dXNlcjpwdw==".into()),
            head_as_get: true,
            ..Default::default()
        };
        let a = adjust(vars(&[("REQUEST_METHOD", "HEAD")]), &policy);
        assert_eq!(
            get(&a.vars, "HTTP_AUTHORIZATION"),
            Some("Basic dXNlcjpwdw==")
        );
        assert_eq!(get(&a.vars, "REQUEST_METHOD"), Some("GET"));
        let a = adjust(
            vars(&[("REQUEST_METHOD", "POST")]),
            &EnvironPolicy::default(),
        );
        assert_eq!(get(&a.vars, "HTTP_AUTHORIZATION"), None);
        assert_eq!(get(&a.vars, "REQUEST_METHOD"), Some("POST"));
    }

    fn proxied() -> Vec<(String, String)> {
        vars(&[
            ("REMOTE_ADDR", "10.0.0.5"),
            ("HTTP_HOST", "backend:8000"),
            ("SERVER_NAME", "backend"),
            ("SERVER_PORT", "8000"),
            ("SCRIPT_NAME", "/app"),
            ("HTTP_X_FORWARDED_FOR", "203.0.113.7, 10.0.0.9"),
            ("HTTP_X_REAL_IP", "6.6.6.6"),
            ("HTTP_X_FORWARDED_PROTO", "https"),
            ("HTTP_X_SCHEME", "http"),
            ("HTTP_X_FORWARDED_HOST", "www.example.com"),
            ("HTTP_X_FORWARDED_PORT", "443"),
            ("HTTP_X_FORWARDED_SERVER", "proxy.example.com"),
            ("HTTP_X_SCRIPT_NAME", "/public"),
        ])
    }

    #[test]
    fn trusted_proxy_rewrites_the_environ() {
        let proxies = strings(&["10.0.0.0/24"]);
        let headers = strings(&[
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
            "X-Forwarded-Port",
            "X-Forwarded-Server",
            "X-Script-Name",
        ]);
        let policy = EnvironPolicy {
            trusted_proxies: Some(&proxies),
            trusted_headers: &headers,
            ..Default::default()
        };
        let a = adjust(proxied(), &policy);
        // 10.0.0.9 is a trusted hop, so the client is the one before it.
        assert_eq!(get(&a.vars, "REMOTE_ADDR"), Some("203.0.113.7"));
        assert_eq!(a.url_scheme, "https");
        assert_eq!(get(&a.vars, "HTTP_HOST"), Some("www.example.com"));
        assert_eq!(get(&a.vars, "SERVER_PORT"), Some("443"));
        assert_eq!(get(&a.vars, "SERVER_NAME"), Some("proxy.example.com"));
        assert_eq!(get(&a.vars, "SCRIPT_NAME"), Some("/public"));
        // The designated headers stay visible; their rivals are dropped.
        assert!(get(&a.vars, "HTTP_X_FORWARDED_FOR").is_some());
        assert_eq!(get(&a.vars, "HTTP_X_REAL_IP"), None);
        assert_eq!(get(&a.vars, "HTTP_X_SCHEME"), None);
    }

    #[test]
    fn untrusted_peer_loses_the_headers() {
        let proxies = strings(&["192.0.2.10"]);
        let headers = strings(&["X-Forwarded-For", "X-Forwarded-Host"]);
        let policy = EnvironPolicy {
            trusted_proxies: Some(&proxies),
            trusted_headers: &headers,
            ..Default::default()
        };
        let a = adjust(proxied(), &policy);
        assert_eq!(get(&a.vars, "REMOTE_ADDR"), Some("10.0.0.5"));
        assert_eq!(get(&a.vars, "HTTP_HOST"), Some("backend:8000"));
        for gone in [
            "HTTP_X_FORWARDED_FOR",
            "HTTP_X_REAL_IP",
            "HTTP_X_FORWARDED_HOST",
        ] {
            assert_eq!(get(&a.vars, gone), None, "{gone}");
        }
        // Families nobody designated are left alone.
        assert_eq!(get(&a.vars, "HTTP_X_FORWARDED_PROTO"), Some("https"));
        assert_eq!(a.url_scheme, "http");
    }

    #[test]
    fn without_a_proxy_list_every_peer_is_trusted() {
        let headers = strings(&["X-Forwarded-For", "X-Forwarded-SSL"]);
        let policy = EnvironPolicy {
            trusted_headers: &headers,
            ..Default::default()
        };
        let mut input = proxied();
        input.push(("HTTP_X_FORWARDED_SSL".into(), "on".into()));
        let a = adjust(input, &policy);
        assert_eq!(get(&a.vars, "REMOTE_ADDR"), Some("203.0.113.7"));
        assert_eq!(a.url_scheme, "https");
    }

    #[test]
    fn no_headers_configured_changes_nothing() {
        let a = adjust(proxied(), &EnvironPolicy::default());
        assert_eq!(a.vars, proxied());
    }
}
