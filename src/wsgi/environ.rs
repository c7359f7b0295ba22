//! Pure adjustments to the CGI variables Apache produced, before they
//! become the WSGI environ: authorisation pass-through, HEAD→GET mapping,
//! the URL scheme and trusted reverse-proxy headers.

use std::borrow::Cow;
use std::net::IpAddr;

/// What the request-level directives and the connection contribute.
#[derive(Debug, Default)]
pub struct EnvironPolicy<'a> {
    /// The connection is TLS (mod_ssl says so).
    pub https: bool,
    /// `WSGIPassAuthorization On` and the request's `Authorization` header.
    pub authorization: Option<String>,
    /// Rewrite `REQUEST_METHOD` HEAD to GET (`WSGIMapHEADToGET`).
    pub head_as_get: bool,
    /// `WSGITrustedProxies`; `None` trusts every peer.
    pub trusted_proxies: Option<&'a [String]>,
    /// `WSGITrustedProxyHeaders`; empty disables proxy processing.
    pub trusted_headers: &'a [String],
    /// The listening socket (host as `Listen` named it, port), published
    /// as `mod_wsgi.listener_host` / `mod_wsgi.listener_port`.
    pub listener: Option<(String, u16)>,
}

/// CGI variables as (name, value). Apache's own are borrowed from the
/// request pool for the request's life (no copy per variable); those we
/// add or rewrite are owned.
pub type CgiVars<'r> = Vec<(Cow<'r, str>, Cow<'r, str>)>;

/// The CGI variables and the value for `wsgi.url_scheme`.
#[derive(Debug, PartialEq, Eq)]
pub struct Adjusted<'r> {
    pub vars: CgiVars<'r>,
    pub url_scheme: &'static str,
}

/// Variables Apache's CGI helpers add that the C module's environ does
/// not carry: the server's own process environment (`PATH`, the shared
/// library path) and the CGI-only ones.
const NOT_PASSED: &[&str] = &[
    "PATH",
    "LD_LIBRARY_PATH",
    "GATEWAY_INTERFACE",
    "PATH_TRANSLATED",
    "SERVER_SIGNATURE",
];

/// What a family of equivalent proxy headers conveys. Only the families
/// whose rival headers are dropped are listed; `X-Forwarded-Server` and
/// `X-Forwarded-Port` stand alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    ClientAddress,
    Scheme,
    Host,
    ScriptName,
}

/// The supported proxy headers, as CGI variable names, by family.
const FAMILIES: &[(Family, &[&str])] = &[
    (
        Family::ClientAddress,
        &["HTTP_X_FORWARDED_FOR", "HTTP_X_CLIENT_IP", "HTTP_X_REAL_IP"],
    ),
    (
        Family::Scheme,
        &[
            "HTTP_X_FORWARDED_HTTPS",
            "HTTP_X_FORWARDED_PROTO",
            "HTTP_X_FORWARDED_SCHEME",
            "HTTP_X_FORWARDED_SSL",
            "HTTP_X_HTTPS",
            "HTTP_X_SCHEME",
        ],
    ),
    (Family::Host, &["HTTP_X_FORWARDED_HOST", "HTTP_X_HOST"]),
    (
        Family::ScriptName,
        &["HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_SCRIPT_NAME"],
    ),
];

fn family_of(variable: &str) -> Option<Family> {
    FAMILIES
        .iter()
        .find(|(_, members)| members.contains(&variable))
        .map(|(family, _)| *family)
}

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

/// Whether `address` is one of `proxies`; anything that is not an IP
/// address is not.
fn is_listed(address: &str, proxies: &[String]) -> bool {
    address
        .parse::<IpAddr>()
        .is_ok_and(|ip| proxies.iter().any(|p| address_in(ip, p)))
}

/// `X-Forwarded-For`: the client address and the list as it should be
/// passed on. Without a proxy list the first hop is the client and the
/// list stays as sent. With one, the trusted proxies at the end of the
/// list are peeled off: the hop before them is the client and the list
/// keeps that hop onwards; when the last hop is not trusted it is the
/// client and the whole list.
fn forwarded_for(value: &str, proxies: Option<&[String]>) -> Option<(String, Option<String>)> {
    let hops: Vec<&str> = value
        .split(',')
        .map(|hop| hop.trim_matches(crate::config::text::is_c_space))
        .filter(|h| !h.is_empty())
        .collect();
    let Some(proxies) = proxies else {
        return hops.first().map(|h| (h.to_string(), None));
    };
    let last = hops.len().checked_sub(1)?;
    let trusted_from = (0..hops.len())
        .rev()
        .take_while(|&i| is_listed(hops[i], proxies))
        .last();
    let client = match trusted_from {
        Some(first) => first.saturating_sub(1),
        None => last,
    };
    Some((hops[client].to_string(), Some(hops[client..].join(", "))))
}

/// The effect of a scheme header's value on `HTTPS`: set, unset, or
/// (an unrecognised value) left as it was.
fn scheme_says_https(variable: &str, value: &str) -> Option<bool> {
    let is = |word: &str| value.eq_ignore_ascii_case(word);
    match variable {
        "HTTP_X_FORWARDED_PROTO" | "HTTP_X_FORWARDED_SCHEME" | "HTTP_X_SCHEME" => {
            if is("https") {
                Some(true)
            } else if is("http") {
                Some(false)
            } else {
                None
            }
        }
        _ => {
            if is("on") || is("true") || is("1") {
                Some(true)
            } else if is("off") || is("false") || is("0") {
                Some(false)
            } else {
                None
            }
        }
    }
}

fn set(vars: &mut CgiVars<'_>, key: &str, value: String) {
    match vars.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = Cow::Owned(value),
        None => vars.push((Cow::Owned(key.to_string()), Cow::Owned(value))),
    }
}

fn unset(vars: &mut CgiVars<'_>, key: &str) {
    vars.retain(|(k, _)| k != key);
}

/// The value of `key` among `vars`.
pub fn get<'v, K: AsRef<str>, V: AsRef<str>>(vars: &'v [(K, V)], key: &str) -> Option<&'v str> {
    vars.iter()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v.as_ref())
}

/// A path with every run of slashes collapsed to one, as the C module
/// presents `SCRIPT_NAME` and `PATH_INFO` (only for absolute paths).
fn collapse_slashes(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_string();
    }
    let mut collapsed = String::with_capacity(path.len());
    for c in path.chars() {
        if c != '/' || !collapsed.ends_with('/') {
            collapsed.push(c);
        }
    }
    collapsed
}

/// Applies `WSGITrustedProxyHeaders`: each configured header a trusted
/// peer sent rewrites what it stands for, in the configured order; in
/// every family some header of which is configured, the headers other
/// than the one applied are dropped (all of them for an untrusted peer),
/// so an application cannot be fooled by a header the proxy let through.
fn apply_proxy_headers(vars: &mut CgiVars<'_>, policy: &EnvironPolicy<'_>) {
    let peer_trusted = match policy.trusted_proxies {
        None => true,
        Some(proxies) => get(vars, "REMOTE_ADDR").is_some_and(|peer| is_listed(peer, proxies)),
    };
    let configured: Vec<String> = policy.trusted_headers.iter().map(|h| cgi_name(h)).collect();
    // Per family: whether configured, and the header applied last.
    let mut applied: Vec<(Family, Option<String>)> = Vec::new();
    for variable in &configured {
        let value = get(vars, variable).map(str::to_string);
        let family = family_of(variable);
        if let Some(family) = family {
            if !applied.iter().any(|(f, _)| *f == family) {
                applied.push((family, None));
            }
        }
        let (true, Some(value)) = (peer_trusted, value) else {
            continue;
        };
        let mut used = true;
        match variable.as_str() {
            "HTTP_X_FORWARDED_FOR" => {
                if let Some((client, list)) = forwarded_for(&value, policy.trusted_proxies) {
                    set(vars, "REMOTE_ADDR", client);
                    if let Some(list) = list {
                        set(vars, "HTTP_X_FORWARDED_FOR", list);
                    }
                }
            }
            "HTTP_X_CLIENT_IP" | "HTTP_X_REAL_IP" => set(vars, "REMOTE_ADDR", value),
            "HTTP_X_FORWARDED_HOST" | "HTTP_X_HOST" => set(vars, "HTTP_HOST", value),
            "HTTP_X_FORWARDED_SERVER" => set(vars, "SERVER_NAME", value),
            "HTTP_X_FORWARDED_PORT" => set(vars, "SERVER_PORT", value),
            "HTTP_X_SCRIPT_NAME" | "HTTP_X_FORWARDED_SCRIPT_NAME" => {
                // The mount point the proxy asserts; mod_wsgi.script_name
                // keeps Apache's own.
                set(vars, "mod_wsgi.mount_point", value.clone());
                set(vars, "SCRIPT_NAME", value);
            }
            scheme if family == Some(Family::Scheme) => match scheme_says_https(scheme, &value) {
                Some(true) => set(vars, "HTTPS", "1".into()),
                Some(false) => unset(vars, "HTTPS"),
                None => {}
            },
            _ => used = false,
        }
        if let (true, Some(family)) = (used, family) {
            if let Some(slot) = applied.iter_mut().find(|(f, _)| *f == family) {
                slot.1 = Some(variable.clone());
            }
        }
    }
    for (family, kept) in applied {
        let members = FAMILIES
            .iter()
            .find(|(f, _)| *f == family)
            .map_or(&[][..], |(_, m)| *m);
        vars.retain(|(k, _)| !members.contains(&k.as_ref()) || kept.as_deref() == Some(k));
    }
}

/// Turns Apache's CGI variables into the environ's, as the C module does:
/// drops what it does not pass, applies the request-level directives,
/// tidies `SCRIPT_NAME`/`PATH_INFO` (remembering them as
/// `mod_wsgi.script_name`/`mod_wsgi.path_info`), applies trusted proxy
/// headers, and turns `HTTPS` into the URL scheme.
pub fn adjust<'r>(mut vars: CgiVars<'r>, policy: &EnvironPolicy<'_>) -> Adjusted<'r> {
    vars.retain(|(k, _)| !NOT_PASSED.contains(&k.as_ref()));
    if policy.head_as_get && get(&vars, "REQUEST_METHOD") == Some("HEAD") {
        set(&mut vars, "REQUEST_METHOD", "GET".into());
    }
    if let Some(authorization) = &policy.authorization {
        set(&mut vars, "HTTP_AUTHORIZATION", authorization.clone());
    }
    for key in ["SCRIPT_NAME", "PATH_INFO"] {
        let value = collapse_slashes(get(&vars, key).unwrap_or(""));
        set(
            &mut vars,
            &format!("mod_wsgi.{}", key.to_ascii_lowercase()),
            value.clone(),
        );
        set(&mut vars, key, value);
    }
    if !policy.trusted_headers.is_empty() {
        apply_proxy_headers(&mut vars, policy);
    }
    // A TLS connection is HTTPS whatever a proxy header said.
    if policy.https {
        set(&mut vars, "HTTPS", "1".into());
    }
    if let Some((host, port)) = &policy.listener {
        set(&mut vars, "mod_wsgi.listener_host", host.clone());
        set(&mut vars, "mod_wsgi.listener_port", port.to_string());
    }
    // The scheme is conveyed by wsgi.url_scheme, not the CGI convention.
    let https = get(&vars, "HTTPS").is_some_and(|v| v.eq_ignore_ascii_case("on") || v == "1");
    unset(&mut vars, "HTTPS");
    Adjusted {
        vars,
        url_scheme: if https { "https" } else { "http" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &[(&'a str, &'a str)]) -> CgiVars<'a> {
        pairs
            .iter()
            .map(|&(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
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

    fn proxied() -> CgiVars<'static> {
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
    fn no_headers_configured_leaves_proxy_headers_alone() {
        let a = adjust(proxied(), &EnvironPolicy::default());
        for (key, value) in proxied() {
            assert_eq!(get(&a.vars, &key), Some(value.as_ref()), "{key}");
        }
        assert_eq!(get(&a.vars, "mod_wsgi.mount_point"), None);
    }

    #[test]
    fn drops_what_the_c_module_does_not_pass() {
        let a = adjust(
            vars(&[
                ("PATH", "/usr/bin"),
                ("LD_LIBRARY_PATH", "/lib"),
                ("GATEWAY_INTERFACE", "CGI/1.1"),
                ("PATH_TRANSLATED", "/srv/x"),
                ("SERVER_SIGNATURE", ""),
                ("SERVER_SOFTWARE", "Apache"),
            ]),
            &EnvironPolicy::default(),
        );
        assert_eq!(
            a.vars,
            vars(&[
                ("SERVER_SOFTWARE", "Apache"),
                ("mod_wsgi.script_name", ""),
                ("SCRIPT_NAME", ""),
                ("mod_wsgi.path_info", ""),
                ("PATH_INFO", ""),
            ])
        );
    }

    #[test]
    fn script_name_and_path_info_lose_duplicate_slashes() {
        let a = adjust(
            vars(&[("SCRIPT_NAME", "//app//x"), ("PATH_INFO", "/a//b/")]),
            &EnvironPolicy::default(),
        );
        assert_eq!(get(&a.vars, "SCRIPT_NAME"), Some("/app/x"));
        assert_eq!(get(&a.vars, "mod_wsgi.script_name"), Some("/app/x"));
        assert_eq!(get(&a.vars, "PATH_INFO"), Some("/a/b/"));
        assert_eq!(get(&a.vars, "mod_wsgi.path_info"), Some("/a/b/"));
        assert_eq!(collapse_slashes("a//b"), "a//b");
        assert_eq!(collapse_slashes("///"), "/");
    }

    #[test]
    fn script_name_header_records_the_mount_point() {
        let headers = strings(&["X-Script-Name"]);
        let policy = EnvironPolicy {
            trusted_headers: &headers,
            ..Default::default()
        };
        let a = adjust(proxied(), &policy);
        assert_eq!(get(&a.vars, "SCRIPT_NAME"), Some("/public"));
        assert_eq!(get(&a.vars, "mod_wsgi.mount_point"), Some("/public"));
        assert_eq!(get(&a.vars, "mod_wsgi.script_name"), Some("/app"));
    }

    #[test]
    fn scheme_header_values() {
        let headers = strings(&["X-Forwarded-SSL", "X-Forwarded-Proto"]);
        let policy = EnvironPolicy {
            trusted_headers: &headers,
            ..Default::default()
        };
        let scheme = |pairs: &[(&str, &str)]| adjust(vars(pairs), &policy).url_scheme;
        for on in ["On", "on", "TRUE", "1"] {
            assert_eq!(scheme(&[("HTTP_X_FORWARDED_SSL", on)]), "https", "{on}");
        }
        for other in ["yes", " on", "https"] {
            assert_eq!(
                scheme(&[("HTTP_X_FORWARDED_SSL", other)]),
                "http",
                "{other}"
            );
        }
        // Off, false and 0 unset an HTTPS that was set (by SetEnv here).
        for off in ["Off", "false", "0"] {
            assert_eq!(
                scheme(&[("HTTPS", "on"), ("HTTP_X_FORWARDED_SSL", off)]),
                "http",
                "{off}"
            );
        }
        // An unrecognised value leaves it as it was.
        assert_eq!(
            scheme(&[("HTTPS", "on"), ("HTTP_X_FORWARDED_SSL", "maybe")]),
            "https"
        );
        assert_eq!(scheme(&[("HTTP_X_FORWARDED_PROTO", "HTTPS")]), "https");
        assert_eq!(
            scheme(&[("HTTPS", "1"), ("HTTP_X_FORWARDED_PROTO", "http")]),
            "http"
        );
        // Both configured and sent: the one configured last decides, and
        // is the one kept.
        let a = adjust(
            vars(&[
                ("HTTP_X_FORWARDED_SSL", "on"),
                ("HTTP_X_FORWARDED_PROTO", "http"),
            ]),
            &policy,
        );
        assert_eq!(a.url_scheme, "http");
        assert_eq!(get(&a.vars, "HTTP_X_FORWARDED_SSL"), None);
        assert_eq!(get(&a.vars, "HTTP_X_FORWARDED_PROTO"), Some("http"));
    }

    #[test]
    fn tls_connection_stays_https() {
        let headers = strings(&["X-Forwarded-SSL"]);
        let policy = EnvironPolicy {
            https: true,
            trusted_headers: &headers,
            ..Default::default()
        };
        let a = adjust(vars(&[("HTTP_X_FORWARDED_SSL", "Off")]), &policy);
        assert_eq!(a.url_scheme, "https");
    }

    #[test]
    fn forwarded_for_with_a_proxy_list() {
        let proxies = strings(&["10.0.0.0/8"]);
        let list = |value: &str| forwarded_for(value, Some(&proxies));
        let pair = |client: &str, list: &str| Some((client.to_string(), Some(list.to_string())));
        assert_eq!(
            list("1.1.1.1, 2.2.2.2, 10.0.0.1"),
            pair("2.2.2.2", "2.2.2.2, 10.0.0.1")
        );
        assert_eq!(
            list("10.0.0.2 , 10.0.0.1"),
            pair("10.0.0.2", "10.0.0.2, 10.0.0.1")
        );
        assert_eq!(list("1.1.1.1, 2.2.2.2"), pair("2.2.2.2", "2.2.2.2"));
        assert_eq!(list(" , "), None);
        assert_eq!(
            forwarded_for(" 1.1.1.1 , 2.2.2.2", None),
            Some(("1.1.1.1".to_string(), None))
        );
    }

    #[test]
    fn forwarded_server_and_port() {
        let headers = strings(&["X-Forwarded-Server", "X-Forwarded-Port", "X-Host"]);
        let policy = EnvironPolicy {
            trusted_headers: &headers,
            ..Default::default()
        };
        let a = adjust(proxied(), &policy);
        assert_eq!(get(&a.vars, "SERVER_NAME"), Some("proxy.example.com"));
        assert_eq!(get(&a.vars, "SERVER_PORT"), Some("443"));
        // X-Host configured but not sent: the host family is dropped.
        assert_eq!(get(&a.vars, "HTTP_HOST"), Some("backend:8000"));
        assert_eq!(get(&a.vars, "HTTP_X_FORWARDED_HOST"), None);
    }

    #[test]
    fn listener_is_published() {
        let policy = EnvironPolicy {
            listener: Some(("127.0.0.1".into(), 8080)),
            ..Default::default()
        };
        let a = adjust(vars(&[]), &policy);
        assert_eq!(get(&a.vars, "mod_wsgi.listener_host"), Some("127.0.0.1"));
        assert_eq!(get(&a.vars, "mod_wsgi.listener_port"), Some("8080"));
    }
}
