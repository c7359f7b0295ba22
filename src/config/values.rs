//! Parsers for the value forms that several directives share.

use super::error::{ConfigError, ConfigResult};
use std::time::Duration;

pub fn parse_on_off(directive: &'static str, token: &str) -> ConfigResult<bool> {
    if token.eq_ignore_ascii_case("on") {
        Ok(true)
    } else if token.eq_ignore_ascii_case("off") {
        Ok(false)
    } else {
        Err(ConfigError::invalid_value(directive, token, "On or Off"))
    }
}

/// Positive number of seconds, possibly fractional, within `[min, max]`.
pub fn parse_seconds(
    directive: &'static str,
    token: &str,
    min: f64,
    max: f64,
    expected: &'static str,
) -> ConfigResult<Duration> {
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= min && v <= max => Ok(Duration::from_secs_f64(v)),
        _ => Err(ConfigError::invalid_value(directive, token, expected)),
    }
}

/// Where a request's application group or process group comes from. Both
/// kinds of group accept the same forms, as in the C module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSpec {
    /// `%{GLOBAL}`: the main interpreter / embedded mode.
    Global,
    /// `%{SERVER}`: the virtual host's `ServerName` and port.
    Server,
    /// `%{HOST}`: the host the client asked for and the port.
    Host,
    /// `%{RESOURCE}`: `%{SERVER}` and the script name of the request.
    Resource,
    /// `%{ENV:NAME}`: a request environment variable, resolved per request.
    Env(String),
    /// A literal group name.
    Named(String),
}

/// How many times an environment value naming another `%{...}` form is
/// expanded: once, as the C module does (a value that is itself an
/// `%{ENV:...}` stays literal).
const ENV_REEXPANSION_LIMIT: u8 = 1;

impl GroupSpec {
    pub fn parse(directive: &'static str, token: &str) -> ConfigResult<GroupSpec> {
        if let Some(rest) = token.strip_prefix("%{ENV:") {
            return match rest.strip_suffix('}') {
                Some(name) if !name.is_empty() => Ok(GroupSpec::Env(name.to_string())),
                _ => Err(ConfigError::invalid_value(
                    directive,
                    token,
                    "%{ENV:VARIABLE} with a variable name",
                )),
            };
        }
        let keyword = [
            ("%{GLOBAL}", GroupSpec::Global),
            ("%{SERVER}", GroupSpec::Server),
            ("%{HOST}", GroupSpec::Host),
            ("%{RESOURCE}", GroupSpec::Resource),
        ]
        .into_iter()
        .find(|(form, _)| token.eq_ignore_ascii_case(form));
        if let Some((_, spec)) = keyword {
            return Ok(spec);
        }
        if token.starts_with("%{") {
            return Err(ConfigError::invalid_value(
                directive,
                token,
                "a name, %{GLOBAL}, %{SERVER}, %{HOST}, %{RESOURCE} or %{ENV:VARIABLE}",
            ));
        }
        if token.is_empty() {
            return Err(ConfigError::invalid_value(
                directive,
                token,
                "a non-empty name",
            ));
        }
        Ok(GroupSpec::Named(token.to_string()))
    }
}

/// What expanding a [`GroupSpec`] needs to know about the request.
pub trait GroupContext {
    /// The `ServerName` of the (virtual) server handling the request.
    fn server_name(&self) -> String;
    /// The host the client named (Host header), without port; empty when
    /// it named none.
    fn request_host(&self) -> String;
    /// The server port Apache reports for the request.
    fn server_port(&self) -> u16;
    /// The request URI and its `PATH_INFO` part.
    fn uri_and_path_info(&self) -> (String, String);
    /// A request environment variable (notes, then subprocess_env, then the
    /// server process environment).
    fn env(&self, name: &str) -> Option<String>;
}

/// `host`, with `:port` unless the port is HTTP's or HTTPS's default.
fn with_port(host: &str, port: u16) -> String {
    match port {
        80 | 443 => host.to_string(),
        port => format!("{host}:{port}"),
    }
}

/// Where `path_info` starts in `uri`: the matching tail is walked back
/// (repeated slashes in the URI counting as one), then forward to the
/// next slash, as Apache's own script name computation does.
fn path_info_start(uri: &[u8], path_info: &[u8]) -> usize {
    let (mut u, mut p) = (uri.len(), path_info.len());
    while u > 0 && p > 0 && uri[u - 1] == path_info[p - 1] {
        u -= 1;
        p -= 1;
        if path_info[p] == b'/' {
            while u > 0 && uri[u - 1] == b'/' {
                u -= 1;
            }
        }
    }
    // The byte before the matched tail belongs to the script name.
    u = u.saturating_sub(1);
    while u < uri.len() && uri[u] != b'/' {
        u += 1;
    }
    u
}

/// The script name used in `%{RESOURCE}`: the URI without its path info,
/// repeated slashes collapsed. Case is kept, as the C module 6.1.1 does.
pub fn resource_script_name(uri: &str, path_info: &str) -> String {
    let script = match path_info {
        "" => uri,
        _ => &uri[..path_info_start(uri.as_bytes(), path_info.as_bytes())],
    };
    let mut name = String::with_capacity(script.len());
    for c in script.chars() {
        if !(c == '/' && name.ends_with('/')) {
            name.push(c);
        }
    }
    name
}

impl GroupSpec {
    /// Reads a group name returned at run time (by a dispatch script) with
    /// the same expansion forms as the directives; anything else is a
    /// literal name.
    pub fn from_runtime(value: &str) -> GroupSpec {
        GroupSpec::parse("dispatch script", value)
            .unwrap_or_else(|_| GroupSpec::Named(value.to_string()))
    }

    /// The group name for a request; "" means the main interpreter (for an
    /// application group) or embedded mode (for a process group). An unset
    /// `%{ENV:NAME}` stays literal, so such a request reaches no daemon
    /// rather than silently running embedded.
    pub fn expand(&self, request: &dyn GroupContext) -> String {
        self.expand_within(request, ENV_REEXPANSION_LIMIT)
    }

    fn expand_within(&self, request: &dyn GroupContext, reexpansions: u8) -> String {
        let port = || request.server_port();
        match self {
            GroupSpec::Global => String::new(),
            GroupSpec::Named(name) => name.clone(),
            GroupSpec::Server => with_port(&request.server_name(), port()),
            GroupSpec::Host => {
                let host = request.request_host();
                let host = if host.is_empty() {
                    request.server_name()
                } else {
                    host
                };
                with_port(&host, port())
            }
            GroupSpec::Resource => {
                let (uri, path_info) = request.uri_and_path_info();
                format!(
                    "{}|{}",
                    with_port(&request.server_name(), port()),
                    resource_script_name(&uri, &path_info)
                )
            }
            GroupSpec::Env(var) => match request.env(var) {
                Some(value)
                    if reexpansions > 0
                        && value.starts_with('%')
                        && !value.starts_with("%{ENV:") =>
                {
                    GroupSpec::from_runtime(&value).expand_within(request, reexpansions - 1)
                }
                Some(value) => value,
                None => format!("%{{ENV:{var}}}"),
            },
        }
    }
}

/// The callable a `WSGICallableObject` or `callable-object=` value names:
/// a literal, or `%{ENV:NAME}` read per request; anything else, or an
/// unset variable, means `application`, as in the C module.
pub fn expand_callable(value: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> String {
    const DEFAULT: &str = "application";
    let Some(value) = value else {
        return DEFAULT.into();
    };
    if !value.starts_with('%') {
        return value.into();
    }
    value
        .strip_prefix("%{ENV:")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(env)
        .unwrap_or_else(|| DEFAULT.into())
}

/// Splits `key=value`; `None` when the token has no `=`.
pub fn split_option(token: &str) -> Option<(&str, &str)> {
    token.split_once('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_off_is_case_insensitive_and_names_the_token() {
        assert!(parse_on_off("WSGIX", "ON").unwrap());
        assert!(!parse_on_off("WSGIX", "off").unwrap());
        let err = parse_on_off("WSGIX", "maybe").unwrap_err().to_string();
        assert_eq!(err, "WSGIX: invalid value 'maybe', expected On or Off");
    }

    #[test]
    fn seconds_bounds() {
        let d = parse_seconds("D", "0.002", 0.0001, 10.0, "x").unwrap();
        assert_eq!(d, Duration::from_micros(2000));
        assert!(parse_seconds("D", "0", 0.0001, 10.0, "x").is_err());
        assert!(parse_seconds("D", "nan", 0.0001, 10.0, "x").is_err());
        assert!(parse_seconds("D", "11", 0.0001, 10.0, "x").is_err());
    }

    /// A request to `ServerName www.example.com` on port 8080 whose Host
    /// header named `alias.example`.
    struct FakeRequest {
        host: &'static str,
        port: u16,
    }

    const REQUEST: FakeRequest = FakeRequest {
        host: "alias.example",
        port: 8080,
    };

    impl GroupContext for FakeRequest {
        fn server_name(&self) -> String {
            "www.example.com".into()
        }
        fn request_host(&self) -> String {
            self.host.into()
        }
        fn server_port(&self) -> u16 {
            self.port
        }
        fn uri_and_path_info(&self) -> (String, String) {
            ("/Wsgi-Scripts//Foo/extra/path".into(), "/extra/path".into())
        }
        fn env(&self, name: &str) -> Option<String> {
            Some(
                match name {
                    "PLAIN" => "interp_2",
                    "NAMES_SERVER" => "%{SERVER}",
                    "NAMES_ENV" => "%{ENV:PLAIN}",
                    "NAMES_BOGUS" => "%{BOGUS}",
                    "PERCENT" => "%literal",
                    _ => return None,
                }
                .into(),
            )
        }
    }

    #[test]
    fn group_expansion_matches_the_c_module() {
        let default_port = FakeRequest {
            host: "alias.example",
            port: 443,
        };
        let no_host = FakeRequest { host: "", port: 80 };
        let env = |name: &str| GroupSpec::Env(name.into());
        let cases: &[(&FakeRequest, GroupSpec, &str)] = &[
            (&REQUEST, GroupSpec::Global, ""),
            (&REQUEST, GroupSpec::Named("x".into()), "x"),
            (&REQUEST, GroupSpec::Server, "www.example.com:8080"),
            (&default_port, GroupSpec::Server, "www.example.com"),
            (&REQUEST, GroupSpec::Host, "alias.example:8080"),
            (&default_port, GroupSpec::Host, "alias.example"),
            (&no_host, GroupSpec::Host, "www.example.com"),
            (
                &REQUEST,
                GroupSpec::Resource,
                "www.example.com:8080|/Wsgi-Scripts/Foo",
            ),
            (&REQUEST, env("PLAIN"), "interp_2"),
            (&REQUEST, env("NAMES_SERVER"), "www.example.com:8080"),
            // Expanded once only: an ENV form inside stays literal.
            (&REQUEST, env("NAMES_ENV"), "%{ENV:PLAIN}"),
            (&REQUEST, env("NAMES_BOGUS"), "%{BOGUS}"),
            (&REQUEST, env("PERCENT"), "%literal"),
            // Unset: kept literal, never the embedded/global "".
            (&REQUEST, env("UNSET"), "%{ENV:UNSET}"),
        ];
        for (request, spec, expected) in cases {
            assert_eq!(spec.expand(*request), *expected, "{spec:?}");
        }
    }

    #[test]
    fn runtime_group_names() {
        assert_eq!(GroupSpec::from_runtime("%{GLOBAL}"), GroupSpec::Global);
        assert_eq!(GroupSpec::from_runtime("%{HOST}"), GroupSpec::Host);
        assert_eq!(
            GroupSpec::from_runtime("%{ENV:APPLICATION_GROUP}"),
            GroupSpec::Env("APPLICATION_GROUP".into())
        );
        assert_eq!(
            GroupSpec::from_runtime("%{odd"),
            GroupSpec::Named("%{odd".into())
        );
    }

    #[test]
    fn resource_script_names() {
        let cases = [
            ("/app", "", "/app"),
            ("/App/Sub", "/Sub", "/App"),
            ("//a//b/x/y", "/x/y", "/a/b"),
            ("/app/", "/", "/app"),
            ("/script.wsgi/p", "/p", "/script.wsgi"),
        ];
        for (uri, path_info, expected) in cases {
            assert_eq!(resource_script_name(uri, path_info), expected, "{uri}");
        }
    }

    #[test]
    fn callable_expansion() {
        let env = |name: &str| (name == "CALLABLE").then(|| "handler".to_string());
        let cases = [
            (None, "application"),
            (Some("app"), "app"),
            (Some("%{ENV:CALLABLE}"), "handler"),
            (Some("%{ENV:UNSET}"), "application"),
            (Some("%{GLOBAL}"), "application"),
        ];
        for (value, expected) in cases {
            assert_eq!(expand_callable(value, &env), expected, "{value:?}");
        }
    }

    #[test]
    fn group_specs() {
        let cases = [
            ("%{GLOBAL}", GroupSpec::Global),
            ("%{RESOURCE}", GroupSpec::Resource),
            ("%{SERVER}", GroupSpec::Server),
            ("%{HOST}", GroupSpec::Host),
            ("%{ENV:GROUP}", GroupSpec::Env("GROUP".into())),
            ("app1", GroupSpec::Named("app1".into())),
        ];
        for (token, spec) in cases {
            assert_eq!(GroupSpec::parse("D", token).unwrap(), spec, "{token}");
        }
        assert!(GroupSpec::parse("D", "%{ENV:}").is_err());
        assert!(GroupSpec::parse("D", "%{BOGUS}")
            .unwrap_err()
            .to_string()
            .contains("%{BOGUS}"));
    }
}
