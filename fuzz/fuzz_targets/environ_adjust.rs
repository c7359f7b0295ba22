//! `wsgi::environ::adjust` over request variables a client controls
//! (every `HTTP_*` comes from a request header) under any
//! request-level policy. Checks the rules that hold whatever the input.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::wsgi::environ::{adjust, get, EnvironPolicy};

/// Variable names `adjust` treats specially, so the fuzzer reaches those
/// rules without having to guess the names.
const KNOWN_VARIABLES: &[&str] = &[
    "REMOTE_ADDR",
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "HTTPS",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "PATH",
    "GATEWAY_INTERFACE",
    "HTTP_AUTHORIZATION",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_CLIENT_IP",
    "HTTP_X_REAL_IP",
    "HTTP_X_FORWARDED_HTTPS",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_SCHEME",
    "HTTP_X_FORWARDED_SSL",
    "HTTP_X_HTTPS",
    "HTTP_X_SCHEME",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_HOST",
    "HTTP_X_FORWARDED_SERVER",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_SCRIPT_NAME",
    "HTTP_X_FORWARDED_SCRIPT_NAME",
];

/// `WSGITrustedProxyHeaders` values as configured (header names).
const KNOWN_HEADERS: &[&str] = &[
    "X-Forwarded-For",
    "X-Client-IP",
    "X-Real-IP",
    "X-Forwarded-HTTPS",
    "X-Forwarded-Proto",
    "X-Forwarded-Scheme",
    "X-Forwarded-SSL",
    "X-HTTPS",
    "X-Scheme",
    "X-Forwarded-Host",
    "X-Host",
    "X-Forwarded-Server",
    "X-Forwarded-Port",
    "X-Script-Name",
    "X-Forwarded-Script-Name",
];

/// A known name most of the time, anything at all otherwise.
fn name(u: &mut Unstructured<'_>, known: &[&str]) -> arbitrary::Result<String> {
    if u.ratio(7u8, 8u8)? {
        Ok(u.choose(known)?.to_string())
    } else {
        String::arbitrary(u)
    }
}

#[derive(Debug)]
struct Input {
    vars: Vec<(String, String)>,
    https: bool,
    authorization: Option<String>,
    head_as_get: bool,
    trusted_proxies: Option<Vec<String>>,
    trusted_headers: Vec<String>,
    listener: Option<(String, u16)>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut vars = Vec::new();
        while u.arbitrary()? {
            vars.push((name(u, KNOWN_VARIABLES)?, String::arbitrary(u)?));
        }
        let mut trusted_headers = Vec::new();
        while u.arbitrary()? {
            trusted_headers.push(name(u, KNOWN_HEADERS)?);
        }
        Ok(Input {
            vars,
            https: u.arbitrary()?,
            authorization: u.arbitrary()?,
            head_as_get: u.arbitrary()?,
            trusted_proxies: u.arbitrary()?,
            trusted_headers,
            listener: u.arbitrary()?,
        })
    }
}

fuzz_target!(|input: Input| {
    let policy = EnvironPolicy {
        https: input.https,
        authorization: input.authorization.clone(),
        head_as_get: input.head_as_get,
        trusted_proxies: input.trusted_proxies.as_deref(),
        trusted_headers: &input.trusted_headers,
        listener: input.listener.clone(),
    };
    // Borrowed, as Apache's table entries are.
    let borrowed = input
        .vars
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let adjusted = adjust(borrowed, &policy);
    let vars = &adjusted.vars;

    // The scheme travels as wsgi.url_scheme only.
    assert!(get(vars, "HTTPS").is_none());
    if input.https {
        assert_eq!(adjusted.url_scheme, "https");
    }
    for dropped in ["PATH", "GATEWAY_INTERFACE"] {
        assert!(get(vars, dropped).is_none());
    }
    // PATH_INFO is never a proxy's to set, so its slashes are collapsed.
    let path_info = get(vars, "PATH_INFO").expect("PATH_INFO is always set");
    assert!(!(path_info.starts_with('/') && path_info.contains("//")));
    assert_eq!(get(vars, "mod_wsgi.path_info"), Some(path_info));
    if let Some(authorization) = &input.authorization {
        assert_eq!(
            get(vars, "HTTP_AUTHORIZATION"),
            Some(authorization.as_str())
        );
    }
    // Without trusted proxy headers the client address is Apache's.
    if input.trusted_headers.is_empty() {
        assert_eq!(get(vars, "REMOTE_ADDR"), get(&input.vars, "REMOTE_ADDR"));
    }
});
