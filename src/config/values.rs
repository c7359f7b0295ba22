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

/// Where a request's application group or process group comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSpec {
    /// `%{GLOBAL}`: the main interpreter / embedded mode.
    Global,
    /// `%{SERVER}`: the virtual host name and port.
    Server,
    /// `%{RESOURCE}`: host, port and script name of the request.
    Resource,
    /// `%{ENV:NAME}`: a request environment variable, resolved per request.
    Env(String),
    /// A literal group name.
    Named(String),
}

impl GroupSpec {
    pub fn parse(
        directive: &'static str,
        token: &str,
        allow_instance_forms: bool,
    ) -> ConfigResult<GroupSpec> {
        if token.eq_ignore_ascii_case("%{GLOBAL}") {
            return Ok(GroupSpec::Global);
        }
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
        if allow_instance_forms {
            if token.eq_ignore_ascii_case("%{SERVER}") {
                return Ok(GroupSpec::Server);
            }
            if token.eq_ignore_ascii_case("%{RESOURCE}") {
                return Ok(GroupSpec::Resource);
            }
        }
        if token.starts_with("%{") {
            let expected = if allow_instance_forms {
                "a name, %{GLOBAL}, %{SERVER}, %{RESOURCE} or %{ENV:VARIABLE}"
            } else {
                "a name, %{GLOBAL} or %{ENV:VARIABLE}"
            };
            return Err(ConfigError::invalid_value(directive, token, expected));
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
    /// The server name, with `:port` unless the port is 80 or 443.
    fn host_and_port(&self) -> String;
    /// The request's `SCRIPT_NAME`.
    fn script_name(&self) -> String;
    /// A request environment variable (notes, then subprocess_env, then the
    /// server process environment).
    fn env(&self, name: &str) -> Option<String>;
}

impl GroupSpec {
    /// Reads a group name returned at run time (by a dispatch script) with
    /// the same expansion forms as the directives; anything else is a
    /// literal name.
    pub fn from_runtime(value: &str) -> GroupSpec {
        GroupSpec::parse("dispatch script", value, true)
            .unwrap_or_else(|_| GroupSpec::Named(value.to_string()))
    }

    /// The group name for a request; "" means the main interpreter (for an
    /// application group) or embedded mode (for a process group).
    pub fn expand(&self, request: &dyn GroupContext) -> String {
        match self {
            GroupSpec::Global => String::new(),
            GroupSpec::Named(name) => name.clone(),
            GroupSpec::Server => request.host_and_port(),
            GroupSpec::Resource => {
                format!("{}|{}", request.host_and_port(), request.script_name())
            }
            GroupSpec::Env(var) => request.env(var).unwrap_or_default(),
        }
    }
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

    struct FakeRequest;

    impl GroupContext for FakeRequest {
        fn host_and_port(&self) -> String {
            "www.example.com:8080".into()
        }
        fn script_name(&self) -> String {
            "/wsgi-scripts/foo".into()
        }
        fn env(&self, name: &str) -> Option<String> {
            (name == "APPLICATION_GROUP").then(|| "interp_2".into())
        }
    }

    #[test]
    fn group_expansion() {
        let r = FakeRequest;
        assert_eq!(GroupSpec::Global.expand(&r), "");
        assert_eq!(GroupSpec::Server.expand(&r), "www.example.com:8080");
        assert_eq!(
            GroupSpec::Resource.expand(&r),
            "www.example.com:8080|/wsgi-scripts/foo"
        );
        assert_eq!(
            GroupSpec::Env("APPLICATION_GROUP".into()).expand(&r),
            "interp_2"
        );
        assert_eq!(GroupSpec::Env("UNSET".into()).expand(&r), "");
        assert_eq!(GroupSpec::Named("x".into()).expand(&r), "x");
        assert_eq!(GroupSpec::from_runtime("%{GLOBAL}"), GroupSpec::Global);
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
    fn group_specs() {
        assert_eq!(
            GroupSpec::parse("D", "%{GLOBAL}", true).unwrap(),
            GroupSpec::Global
        );
        assert_eq!(
            GroupSpec::parse("D", "%{RESOURCE}", true).unwrap(),
            GroupSpec::Resource
        );
        assert_eq!(
            GroupSpec::parse("D", "%{SERVER}", true).unwrap(),
            GroupSpec::Server
        );
        assert_eq!(
            GroupSpec::parse("D", "%{ENV:APPLICATION_GROUP}", true).unwrap(),
            GroupSpec::Env("APPLICATION_GROUP".into())
        );
        assert_eq!(
            GroupSpec::parse("D", "app1", false).unwrap(),
            GroupSpec::Named("app1".into())
        );
        assert!(GroupSpec::parse("D", "%{RESOURCE}", false).is_err());
        assert!(GroupSpec::parse("D", "%{ENV:}", true).is_err());
        assert!(GroupSpec::parse("D", "%{BOGUS}", true)
            .unwrap_err()
            .to_string()
            .contains("%{BOGUS}"));
    }
}
