//! Per-directory configuration: directives allowed in `<Directory>`,
//! `<Location>`, `<Files>` and `.htaccess`, merged from outer to inner.

use super::directives::Directive;
use super::error::{ConfigError, ConfigResult};
use super::server::ScriptOptions;
use super::values::{parse_on_off, GroupSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapHeadToGet {
    On,
    Off,
    Auto,
}

/// A script directive with `application-group=` etc. options.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRef {
    pub path: String,
    pub options: ScriptOptions,
}

/// Every field is `None`/empty when not set at this level, so merging can
/// tell "inherit" from "explicitly set".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirConfig {
    pub application_group: Option<GroupSpec>,
    pub process_group: Option<GroupSpec>,
    pub restrict_process: Option<Vec<String>>,
    pub callable_object: Option<String>,
    pub chunked_request: Option<bool>,
    pub dispatch_script: Option<ScriptRef>,
    pub enable_sendfile: Option<bool>,
    pub error_override: Option<bool>,
    pub handler_scripts: Vec<(String, ScriptRef)>,
    pub ignore_activity: Option<bool>,
    pub map_head_to_get: Option<MapHeadToGet>,
    pub pass_apache_request: Option<bool>,
    pub pass_authorization: Option<bool>,
    pub script_reloading: Option<bool>,
    pub trusted_proxies: Option<Vec<String>>,
    pub trusted_proxy_headers: Option<Vec<String>>,
    pub access_script: Option<ScriptRef>,
    pub auth_user_script: Option<ScriptRef>,
    pub auth_group_script: Option<ScriptRef>,
    /// `WSGIGroupAuthoritative`: accepted as in the C module. Under Apache
    /// 2.4 the `wsgi-group` authorization provider's answer is combined by
    /// the `Require` rules, so the flag changes nothing.
    pub group_authoritative: Option<bool>,
}

macro_rules! inherit {
    ($base:ident, $child:ident; $($field:ident),+) => {
        DirConfig {
            $($field: $child.$field.clone().or_else(|| $base.$field.clone()),)+
            handler_scripts: $child
                .handler_scripts
                .iter()
                .chain($base.handler_scripts.iter().filter(|(n, _)| {
                    !$child.handler_scripts.iter().any(|(c, _)| c == n)
                }))
                .cloned()
                .collect(),
        }
    };
}

fn script_ref(
    directive: &'static str,
    args: &[String],
    allowed: &[&str],
) -> ConfigResult<ScriptRef> {
    let Some((path, rest)) = args.split_first() else {
        return Err(ConfigError::ArgumentCount {
            directive,
            expected: "a script path followed by optional options",
        });
    };
    Ok(ScriptRef {
        path: path.clone(),
        options: ScriptOptions::parse(directive, rest, allowed)?,
    })
}

/// A proxy address: an IPv4/IPv6 address, optionally with a /prefix length.
fn valid_proxy_address(token: &str) -> bool {
    let (addr, prefix) = match token.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (token, None),
    };
    let max_prefix = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return false,
    };
    prefix.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| n <= max_prefix))
}

fn valid_header_name(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl DirConfig {
    pub fn merge(base: &DirConfig, child: &DirConfig) -> DirConfig {
        inherit!(base, child;
            application_group, process_group, restrict_process, callable_object,
            chunked_request, dispatch_script, enable_sendfile, error_override,
            ignore_activity, map_head_to_get, pass_apache_request, pass_authorization,
            script_reloading, trusted_proxies, trusted_proxy_headers, access_script,
            auth_user_script, auth_group_script, group_authoritative)
    }

    pub fn apply(&mut self, directive: Directive, args: &[String]) -> ConfigResult<()> {
        let name = directive.name();
        let single = || -> ConfigResult<&str> {
            match args {
                [one] => Ok(one.as_str()),
                _ => Err(ConfigError::ArgumentCount {
                    directive: name,
                    expected: "exactly one argument",
                }),
            }
        };
        let flag = || -> ConfigResult<Option<bool>> { Ok(Some(parse_on_off(name, single()?)?)) };
        let list = || -> ConfigResult<Vec<String>> {
            if args.is_empty() {
                return Err(ConfigError::ArgumentCount {
                    directive: name,
                    expected: "one or more values",
                });
            }
            // The reference allows a parenthesised list: `(a b c)`.
            Ok(args
                .iter()
                .map(|w| w.trim_matches(|c| c == '(' || c == ')').to_string())
                .filter(|w| !w.is_empty())
                .collect())
        };
        match directive {
            Directive::ApplicationGroup => {
                self.application_group = Some(GroupSpec::parse(name, single()?)?)
            }
            Directive::ProcessGroup => {
                self.process_group = Some(GroupSpec::parse(name, single()?)?)
            }
            Directive::RestrictProcess => self.restrict_process = Some(list()?),
            Directive::CallableObject => self.callable_object = Some(single()?.to_string()),
            Directive::ChunkedRequest => self.chunked_request = flag()?,
            Directive::DispatchScript => {
                self.dispatch_script = Some(script_ref(name, args, &["application-group"])?);
                super::note_embedded_python_needed();
            }
            Directive::EnableSendfile => self.enable_sendfile = flag()?,
            Directive::ErrorOverride => self.error_override = flag()?,
            Directive::HandlerScript => {
                if args.len() < 2 {
                    return Err(ConfigError::ArgumentCount {
                        directive: name,
                        expected: "a handler name, a script path and optional options",
                    });
                }
                let script = script_ref(
                    name,
                    &args[1..],
                    &["process-group", "application-group", "pass-authorization"],
                )?;
                self.handler_scripts.retain(|(n, _)| *n != args[0]);
                self.handler_scripts.push((args[0].clone(), script));
            }
            Directive::GroupAuthoritative => self.group_authoritative = flag()?,
            Directive::IgnoreActivity => self.ignore_activity = flag()?,
            Directive::MapHeadToGet => {
                let token = single()?;
                self.map_head_to_get = Some(match token.to_ascii_lowercase().as_str() {
                    "on" => MapHeadToGet::On,
                    "off" => MapHeadToGet::Off,
                    "auto" => MapHeadToGet::Auto,
                    _ => return Err(ConfigError::invalid_value(name, token, "On, Off or Auto")),
                })
            }
            Directive::PassApacheRequest => self.pass_apache_request = flag()?,
            Directive::PassAuthorization => self.pass_authorization = flag()?,
            Directive::ScriptReloading => self.script_reloading = flag()?,
            Directive::TrustedProxies => {
                let proxies = list()?;
                if let Some(bad) = proxies.iter().find(|p| !valid_proxy_address(p)) {
                    return Err(ConfigError::invalid_value(
                        name,
                        bad,
                        "IP addresses or networks such as 10.0.0.0/8",
                    ));
                }
                // Repeated directives add to the list.
                self.trusted_proxies
                    .get_or_insert_with(Vec::new)
                    .extend(proxies);
            }
            Directive::TrustedProxyHeaders => {
                let headers = list()?;
                if let Some(bad) = headers.iter().find(|h| !valid_header_name(h)) {
                    return Err(ConfigError::invalid_value(name, bad, "HTTP header names"));
                }
                self.trusted_proxy_headers
                    .get_or_insert_with(Vec::new)
                    .extend(headers);
            }
            Directive::AccessScript => {
                self.access_script = Some(script_ref(name, args, &["application-group"])?);
                super::note_embedded_python_needed();
            }
            Directive::AuthUserScript => {
                self.auth_user_script = Some(script_ref(name, args, &["application-group"])?);
                super::note_embedded_python_needed();
            }
            Directive::AuthGroupScript => {
                self.auth_group_script = Some(script_ref(name, args, &["application-group"])?);
                super::note_embedded_python_needed();
            }
            _ => {
                return Err(ConfigError::invalid(
                    name,
                    "is not a per-directory directive",
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn inner_settings_override_outer_and_unset_inherits() {
        let mut outer = DirConfig::default();
        outer
            .apply(Directive::ApplicationGroup, &words("%{GLOBAL}"))
            .unwrap();
        outer
            .apply(Directive::CallableObject, &words("app"))
            .unwrap();
        outer
            .apply(Directive::HandlerScript, &words("h1 /srv/h1.py"))
            .unwrap();
        let mut inner = DirConfig::default();
        inner
            .apply(Directive::ApplicationGroup, &words("sub"))
            .unwrap();
        inner
            .apply(Directive::HandlerScript, &words("h1 /srv/other.py"))
            .unwrap();
        let merged = DirConfig::merge(&outer, &inner);
        assert_eq!(
            merged.application_group,
            Some(GroupSpec::Named("sub".into()))
        );
        assert_eq!(merged.callable_object.as_deref(), Some("app"));
        assert_eq!(merged.handler_scripts.len(), 1);
        assert_eq!(merged.handler_scripts[0].1.path, "/srv/other.py");
    }

    #[test]
    fn value_validation() {
        let mut c = DirConfig::default();
        let e = c
            .apply(Directive::ScriptReloading, &words("maybe"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "WSGIScriptReloading: invalid value 'maybe', expected On or Off"
        );
        c.apply(Directive::MapHeadToGet, &words("auto")).unwrap();
        assert_eq!(c.map_head_to_get, Some(MapHeadToGet::Auto));
        assert!(c
            .apply(Directive::MapHeadToGet, &words("sometimes"))
            .is_err());
        c.apply(
            Directive::TrustedProxies,
            &words("(10.0.0.0/8 ::1 192.168.1.1)"),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.as_ref().unwrap().len(), 3);
        assert!(c
            .apply(Directive::TrustedProxies, &words("10.0.0.0/40"))
            .is_err());
        assert!(c
            .apply(Directive::TrustedProxies, &words("proxy.example"))
            .is_err());
        c.apply(
            Directive::TrustedProxyHeaders,
            &words("X-Forwarded-For X-Forwarded-Proto"),
        )
        .unwrap();
        assert!(c
            .apply(Directive::TrustedProxyHeaders, &words("X:Bad"))
            .is_err());
        // Process groups take every form application groups take, as in C.
        assert!(c
            .apply(Directive::ProcessGroup, &words("%{RESOURCE}"))
            .is_ok());
        assert!(c
            .apply(Directive::ProcessGroup, &words("%{BOGUS}"))
            .is_err());
        assert!(c
            .apply(Directive::DispatchScript, &words("/d.py process-group=x"))
            .is_err());
        assert!(c.apply(Directive::CallableObject, &words("a b")).is_err());
    }
}
