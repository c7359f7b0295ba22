//! Per-server configuration: the process-wide settings (main server only)
//! and the per-virtual-host script aliases and daemon process groups.

use super::daemon::DaemonProcessSpec;
use super::directives::Directive;
use super::error::{ConfigError, ConfigResult};
use super::interp_options::{InterpreterOptions, InterpreterSettings};
use super::values::{parse_on_off, parse_seconds, split_option, GroupSpec};
use std::time::Duration;

/// A `WSGIScriptAlias` or `WSGIScriptAliasMatch` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptAlias {
    /// URL prefix, or the regular expression for `WSGIScriptAliasMatch`.
    pub url: String,
    pub target: String,
    /// Compiled pattern of a `WSGIScriptAliasMatch`.
    pub pattern: Option<AliasPattern>,
    pub options: ScriptOptions,
}

/// A compiled `WSGIScriptAliasMatch` expression (compared by its source).
#[derive(Debug, Clone)]
pub struct AliasPattern(regex::Regex);

impl PartialEq for AliasPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Expands `$0`..`$9` and `&` (the whole match) in `template` as Apache's
/// `ap_pregsub` does; a backslash makes the next `$` or `&` literal.
fn substitute(template: &str, captures: &regex::Captures<'_>) -> String {
    let group = |n: usize| captures.get(n).map_or("", |m| m.as_str());
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('$') | Some('&')) => {
                out.push(chars.next().expect("peeked"));
            }
            '&' => out.push_str(group(0)),
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let digit = chars.next().expect("peeked");
                out.push_str(group(digit as usize - '0' as usize));
            }
            other => out.push(other),
        }
    }
    out
}

/// Strips `prefix` from the start of `uri`, where each run of slashes in
/// the prefix matches a run of slashes in the URI (as Apache's `Alias`
/// does).
fn strip_alias_prefix<'u>(uri: &'u str, prefix: &str) -> Option<&'u str> {
    let mut rest = uri;
    let mut prefix = prefix.chars().peekable();
    while let Some(c) = prefix.next() {
        rest = rest.strip_prefix(c)?;
        if c == '/' {
            rest = rest.trim_start_matches('/');
            while prefix.next_if_eq(&'/').is_some() {}
        }
    }
    Some(rest)
}

impl ScriptAlias {
    pub fn is_regex(&self) -> bool {
        self.pattern.is_some()
    }

    /// The file name a request URI maps to, or `None` when the URI is
    /// outside the alias. The part of the URI after the matched prefix is
    /// appended, so Apache's directory walk splits it off as PATH_INFO.
    ///
    /// For `WSGIScriptAlias` the prefix matches whole path segments only,
    /// and a prefix written with a trailing slash requires it in the URI.
    /// For `WSGIScriptAliasMatch` the target is the substitution of the
    /// expression's match.
    pub fn map_uri(&self, uri: &str) -> Option<String> {
        if let Some(AliasPattern(regex)) = &self.pattern {
            let captures = regex.captures(uri)?;
            let end = captures.get(0).expect("group 0 always matches").end();
            return Some(format!(
                "{}{}",
                substitute(&self.target, &captures),
                &uri[end..]
            ));
        }
        let prefix = self.url.trim_end_matches('/');
        let rest = strip_alias_prefix(uri, prefix)?;
        let segment_boundary = rest.is_empty() || rest.starts_with('/');
        let trailing_slash_kept =
            !self.url.ends_with('/') || self.url == "/" || rest.starts_with('/');
        if !segment_boundary || !trailing_slash_kept {
            return None;
        }
        Some(format!("{}{}", self.target.trim_end_matches('/'), rest))
    }
}

/// The `key=value` options shared by the script-naming directives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptOptions {
    pub process_group: Option<GroupSpec>,
    pub application_group: Option<GroupSpec>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
}

impl ScriptOptions {
    /// Parses trailing `key=value` words; `allowed` lists the keys this
    /// directive accepts.
    pub fn parse(
        directive: &'static str,
        words: &[String],
        allowed: &[&str],
    ) -> ConfigResult<Self> {
        let mut options = ScriptOptions::default();
        for word in words {
            let (key, value) = split_option(word).ok_or_else(|| {
                ConfigError::invalid(directive, format!("expected option=value, found '{word}'"))
            })?;
            if !allowed.contains(&key) {
                return Err(ConfigError::UnknownOption {
                    directive,
                    option: key.to_string(),
                    accepted: allowed.join(", "),
                });
            }
            let duplicate = match key {
                "process-group" => options
                    .process_group
                    .replace(GroupSpec::parse(directive, value)?)
                    .is_some(),
                "application-group" => options
                    .application_group
                    .replace(GroupSpec::parse(directive, value)?)
                    .is_some(),
                "callable-object" => {
                    if value.is_empty() {
                        return Err(ConfigError::invalid_value(
                            directive,
                            word,
                            "callable-object=NAME",
                        ));
                    }
                    options.callable_object.replace(value.to_string()).is_some()
                }
                "pass-authorization" => options
                    .pass_authorization
                    .replace(parse_on_off(directive, value)?)
                    .is_some(),
                _ => unreachable!("allowed lists only known keys"),
            };
            if duplicate {
                return Err(ConfigError::DuplicateOption {
                    directive,
                    option: key.to_string(),
                });
            }
        }
        Ok(options)
    }
}

/// A `WSGIImportScript` preload.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportScript {
    pub path: String,
    pub options: ScriptOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSeed {
    Random,
    Fixed(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryService {
    pub socket_path: String,
    pub interval: Duration,
}

/// Settings that are meaningful only once per Apache instance. They are
/// recorded on the main server's configuration (Apache refuses them inside
/// `<VirtualHost>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalConfig {
    pub accept_mutex: Option<AcceptMutex>,
    pub case_sensitivity: Option<bool>,
    pub destroy_interpreter: Option<bool>,
    pub dont_write_bytecode: Option<bool>,
    pub import_scripts: Vec<ImportScript>,
    pub python_eggs: Option<String>,
    pub python_hash_seed: Option<HashSeed>,
    pub python_home: Option<String>,
    pub python_optimize: Option<u8>,
    pub python_path: Vec<String>,
    pub python_warnings: Vec<String>,
    pub restrict_embedded: Option<bool>,
    pub server_metrics: Option<bool>,
    pub slow_requests: Option<Duration>,
    pub socket_prefix: Option<String>,
    pub socket_rotation: Option<bool>,
    pub telemetry_flags: TelemetryFlags,
    pub telemetry_service: Option<TelemetryService>,
    /// The settings also allowed inside `<WSGIInterpreterOptions>`, at top level.
    pub interpreter: InterpreterSettings,
    pub interpreter_options: Vec<InterpreterOptions>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TelemetryFlags {
    pub capture_user_agent: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerConfig {
    pub global: GlobalConfig,
    pub aliases: Vec<ScriptAlias>,
    pub daemons: Vec<DaemonProcessSpec>,
}

/// `WSGIAcceptMutex`: how the processes of one daemon group take turns
/// accepting connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptMutex {
    /// No lock: as Apache does for a single listener on Linux, the kernel
    /// wakes one waiting worker per connection.
    Default,
    Posixsem,
    Sysvsem,
    Fcntl,
    Flock,
    Pthread,
}

impl AcceptMutex {
    /// Parses a method name, in any case.
    pub fn parse(method: &str) -> Option<AcceptMutex> {
        Some(match method.to_ascii_lowercase().as_str() {
            "default" => AcceptMutex::Default,
            "posixsem" => AcceptMutex::Posixsem,
            "sysvsem" => AcceptMutex::Sysvsem,
            "fcntl" => AcceptMutex::Fcntl,
            "flock" => AcceptMutex::Flock,
            "pthread" => AcceptMutex::Pthread,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AcceptMutex::Default => "default",
            AcceptMutex::Posixsem => "posixsem",
            AcceptMutex::Sysvsem => "sysvsem",
            AcceptMutex::Fcntl => "fcntl",
            AcceptMutex::Flock => "flock",
            AcceptMutex::Pthread => "pthread",
        }
    }

    /// Whether a lock file names the mutex (the file-lock methods).
    pub fn uses_lock_file(self) -> bool {
        matches!(self, AcceptMutex::Fcntl | AcceptMutex::Flock)
    }
}

fn exactly<'a>(
    directive: Directive,
    args: &'a [String],
    n: usize,
    expected: &'static str,
) -> ConfigResult<&'a [String]> {
    if args.len() == n {
        Ok(args)
    } else {
        Err(ConfigError::ArgumentCount {
            directive: directive.name(),
            expected,
        })
    }
}

fn one(directive: Directive, args: &[String]) -> ConfigResult<&str> {
    Ok(&exactly(directive, args, 1, "exactly one argument")?[0])
}

fn on_off(directive: Directive, args: &[String]) -> ConfigResult<Option<bool>> {
    Ok(Some(parse_on_off(directive.name(), one(directive, args)?)?))
}

fn absolute_path(directive: Directive, token: &str) -> ConfigResult<String> {
    if token.starts_with('/') {
        Ok(token.to_string())
    } else {
        Err(ConfigError::invalid_value(
            directive.name(),
            token,
            "an absolute path",
        ))
    }
}

impl ServerConfig {
    /// Merges a virtual host's configuration over the main server's: the
    /// virtual host sees its own aliases first, then the main server's.
    pub fn merge(base: &ServerConfig, vhost: &ServerConfig) -> ServerConfig {
        ServerConfig {
            global: base.global.clone(),
            aliases: vhost
                .aliases
                .iter()
                .chain(base.aliases.iter())
                .cloned()
                .collect(),
            daemons: base
                .daemons
                .iter()
                .chain(vhost.daemons.iter())
                .cloned()
                .collect(),
        }
    }

    /// Applies one server-level directive. Context checks happen before this.
    pub fn apply(&mut self, directive: Directive, args: &[String]) -> ConfigResult<()> {
        let name = directive.name();
        let g = &mut self.global;
        match directive {
            Directive::AcceptMutex => {
                let method = one(directive, args)?;
                g.accept_mutex = Some(AcceptMutex::parse(method).ok_or_else(|| {
                    ConfigError::invalid_value(
                        name,
                        method,
                        "Default, posixsem, sysvsem, fcntl, flock or pthread",
                    )
                })?);
            }
            Directive::CaseSensitivity => g.case_sensitivity = on_off(directive, args)?,
            // Deprecated in the C module: the value is checked, then ignored
            // (the command layer logs that it has no effect).
            Directive::VerboseDebugging => {
                on_off(directive, args)?;
            }
            Directive::DestroyInterpreter => g.destroy_interpreter = on_off(directive, args)?,
            Directive::DontWriteBytecode => g.dont_write_bytecode = on_off(directive, args)?,
            Directive::ImportScript => {
                let Some((path, rest)) = args.split_first() else {
                    return Err(ConfigError::ArgumentCount {
                        directive: name,
                        expected: "a script path followed by options",
                    });
                };
                let options =
                    ScriptOptions::parse(name, rest, &["process-group", "application-group"])?;
                if options.process_group.is_none() || options.application_group.is_none() {
                    return Err(ConfigError::invalid(
                        name,
                        "both process-group= and application-group= must be given",
                    ));
                }
                if options.process_group == Some(GroupSpec::Global) {
                    super::note_embedded_python_needed();
                }
                g.import_scripts.push(ImportScript {
                    path: path.clone(),
                    options,
                });
            }
            Directive::PythonEggs => {
                g.python_eggs = Some(absolute_path(directive, one(directive, args)?)?)
            }
            Directive::PythonHashSeed => {
                let token = one(directive, args)?;
                g.python_hash_seed = Some(if token.eq_ignore_ascii_case("random") {
                    HashSeed::Random
                } else {
                    HashSeed::Fixed(token.parse::<u32>().map_err(|_| {
                        ConfigError::invalid_value(
                            name,
                            token,
                            "random or an integer 0..4294967295",
                        )
                    })?)
                });
            }
            Directive::PythonHome => {
                let token = one(directive, args)?;
                for part in token.split(':') {
                    absolute_path(directive, part)?;
                }
                g.python_home = Some(token.to_string());
            }
            Directive::PythonOptimize => {
                let token = one(directive, args)?;
                g.python_optimize = Some(match token {
                    "0" => 0,
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(ConfigError::invalid_value(name, token, "0, 1 or 2")),
                });
            }
            Directive::PythonPath => {
                g.interpreter.apply(directive, args)?;
            }
            Directive::PythonWarnings => g.python_warnings.push(one(directive, args)?.to_string()),
            Directive::RestrictEmbedded => g.restrict_embedded = on_off(directive, args)?,
            Directive::ServerMetrics => g.server_metrics = on_off(directive, args)?,
            Directive::SlowRequests => {
                let token = one(directive, args)?;
                g.slow_requests = Some(parse_seconds(
                    name,
                    token,
                    0.0,
                    86_400.0,
                    "a number of seconds, 0 or more",
                )?);
            }
            Directive::SocketPrefix => g.socket_prefix = Some(one(directive, args)?.to_string()),
            Directive::SocketRotation => g.socket_rotation = on_off(directive, args)?,
            Directive::PerInterpreterGil
            | Directive::OwnGilFallback
            | Directive::FreeThreading
            | Directive::SwitchInterval
            | Directive::RestrictStdin
            | Directive::RestrictStdout
            | Directive::RestrictSignal => g.interpreter.apply(directive, args)?,
            Directive::InterpreterPool => {
                return Err(ConfigError::NotAllowedHere {
                    directive: name.to_string(),
                    location: super::interp_options::POOL_LOCATION,
                })
            }
            Directive::TelemetryOptions => g.telemetry_flags.apply(name, args)?,
            Directive::TelemetryService => {
                g.telemetry_service = Some(parse_telemetry_service(name, args)?)
            }
            Directive::DaemonProcess => {
                let spec = DaemonProcessSpec::parse(args)?;
                if self.daemons.iter().any(|d| d.name == spec.name) {
                    return Err(ConfigError::invalid(
                        name,
                        format!(
                            "a daemon process group named '{}' is already defined",
                            spec.name
                        ),
                    ));
                }
                self.daemons.push(spec);
            }
            Directive::ScriptAlias | Directive::ScriptAliasMatch => {
                if args.len() < 2 {
                    return Err(ConfigError::ArgumentCount {
                        directive: name,
                        expected: "a URL, a target path and optional options",
                    });
                }
                let options = ScriptOptions::parse(
                    name,
                    &args[2..],
                    &[
                        "process-group",
                        "application-group",
                        "callable-object",
                        "pass-authorization",
                    ],
                )?;
                let pattern = if directive == Directive::ScriptAliasMatch {
                    let regex = regex::Regex::new(&args[0]).map_err(|e| {
                        ConfigError::invalid(
                            name,
                            format!("cannot compile regular expression '{}': {e}", args[0]),
                        )
                    })?;
                    Some(AliasPattern(regex))
                } else {
                    None
                };
                self.aliases.push(ScriptAlias {
                    url: args[0].clone(),
                    target: args[1].clone(),
                    pattern,
                    options,
                });
            }
            _ => {
                return Err(ConfigError::invalid(
                    name,
                    "is not a server-level directive",
                ));
            }
        }
        Ok(())
    }
}

impl TelemetryFlags {
    fn apply(&mut self, directive: &'static str, args: &[String]) -> ConfigResult<()> {
        if args.is_empty() {
            return Err(ConfigError::ArgumentCount {
                directive,
                expected: "one or more of [+|-]CaptureUserAgent, None or All",
            });
        }
        let absolute = |t: &String| t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("all");
        let incremental = |t: &String| t.starts_with('+') || t.starts_with('-');
        if args.iter().any(absolute) && args.iter().any(incremental) {
            return Err(ConfigError::invalid_value(
                directive,
                &args.join(" "),
                "None or All on their own, or +Flag/-Flag tokens, not both on one line",
            ));
        }
        for token in args {
            if token.eq_ignore_ascii_case("none") {
                *self = TelemetryFlags::default();
                continue;
            }
            if token.eq_ignore_ascii_case("all") {
                *self = TelemetryFlags {
                    capture_user_agent: true,
                };
                continue;
            }
            let (enable, flag) = match token.as_bytes().first() {
                Some(b'+') => (true, &token[1..]),
                Some(b'-') => (false, &token[1..]),
                _ => (true, token.as_str()),
            };
            if flag.eq_ignore_ascii_case("CaptureUserAgent") {
                self.capture_user_agent = enable;
            } else {
                return Err(ConfigError::invalid_value(
                    directive,
                    token,
                    "[+|-]CaptureUserAgent, None or All",
                ));
            }
        }
        Ok(())
    }
}

fn parse_telemetry_service(
    directive: &'static str,
    args: &[String],
) -> ConfigResult<TelemetryService> {
    let Some((target, rest)) = args.split_first() else {
        return Err(ConfigError::ArgumentCount {
            directive,
            expected: "unix:/path [interval=SECONDS]",
        });
    };
    let socket_path = match target.strip_prefix("unix:") {
        Some(path) if path.starts_with('/') => path.to_string(),
        _ => {
            return Err(ConfigError::invalid_value(
                directive,
                target,
                "unix:/absolute/path",
            ))
        }
    };
    let mut interval = Duration::from_secs(1);
    for word in rest {
        match split_option(word) {
            Some(("interval", value)) => {
                interval = parse_seconds(
                    directive,
                    value,
                    0.5,
                    3600.0,
                    "an interval of at least 0.5 seconds",
                )?
            }
            _ => {
                return Err(ConfigError::UnknownOption {
                    directive,
                    option: word.clone(),
                    accepted: "interval".into(),
                })
            }
        }
    }
    Ok(TelemetryService {
        socket_path,
        interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn apply(cfg: &mut ServerConfig, d: Directive, s: &str) -> ConfigResult<()> {
        cfg.apply(d, &words(s))
    }

    #[test]
    fn python_init_settings() {
        let mut c = ServerConfig::default();
        apply(&mut c, Directive::PythonOptimize, "2").unwrap();
        apply(&mut c, Directive::PythonHashSeed, "123").unwrap();
        apply(&mut c, Directive::DontWriteBytecode, "On").unwrap();
        apply(
            &mut c,
            Directive::PythonWarnings,
            "ignore::DeprecationWarning",
        )
        .unwrap();
        apply(&mut c, Directive::PythonWarnings, "error::UserWarning").unwrap();
        apply(&mut c, Directive::PythonHome, "/opt/py:/opt/pyexec").unwrap();
        apply(&mut c, Directive::PythonPath, "/a:/b").unwrap();
        assert_eq!(c.global.python_optimize, Some(2));
        assert_eq!(c.global.python_hash_seed, Some(HashSeed::Fixed(123)));
        assert_eq!(c.global.dont_write_bytecode, Some(true));
        assert_eq!(c.global.python_warnings.len(), 2);
        assert_eq!(
            c.global.interpreter.python_path,
            vec!["/a".to_string(), "/b".to_string()]
        );
        apply(&mut c, Directive::PythonHashSeed, "random").unwrap();
        assert_eq!(c.global.python_hash_seed, Some(HashSeed::Random));
    }

    #[test]
    fn accept_mutex_methods_in_any_case() {
        let mut c = ServerConfig::default();
        for (word, method) in [
            ("Default", AcceptMutex::Default),
            ("FCNTL", AcceptMutex::Fcntl),
            ("flock", AcceptMutex::Flock),
            ("SysVSem", AcceptMutex::Sysvsem),
            ("posixsem", AcceptMutex::Posixsem),
            ("pthread", AcceptMutex::Pthread),
        ] {
            apply(&mut c, Directive::AcceptMutex, word).unwrap();
            assert_eq!(c.global.accept_mutex, Some(method));
            assert_eq!(AcceptMutex::parse(method.name()), Some(method));
        }
        assert!(AcceptMutex::Fcntl.uses_lock_file() && AcceptMutex::Flock.uses_lock_file());
        assert!(!AcceptMutex::Sysvsem.uses_lock_file());
    }

    #[test]
    fn bad_values_name_directive_and_token() {
        let mut c = ServerConfig::default();
        let e = apply(&mut c, Directive::PythonOptimize, "3")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "WSGIPythonOptimize: invalid value '3', expected 0, 1 or 2"
        );
        let e = apply(&mut c, Directive::PythonHashSeed, "-1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'-1'") && e.contains("random"), "{e}");
        let e = apply(&mut c, Directive::PythonHome, "relative/dir")
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute path"), "{e}");
        let e = apply(&mut c, Directive::AcceptMutex, "spinlock")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'spinlock'") && e.contains("flock"), "{e}");
        let e = apply(&mut c, Directive::PythonOptimize, "1 2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("wrong number of arguments"), "{e}");
    }

    #[test]
    fn script_alias_options() {
        let mut c = ServerConfig::default();
        apply(
            &mut c,
            Directive::ScriptAlias,
            "/app /srv/app.wsgi process-group=web application-group=%{GLOBAL} callable-object=app",
        )
        .unwrap();
        let a = &c.aliases[0];
        assert_eq!(a.url, "/app");
        assert_eq!(
            a.options.process_group,
            Some(GroupSpec::Named("web".into()))
        );
        assert_eq!(a.options.application_group, Some(GroupSpec::Global));
        assert_eq!(a.options.callable_object.as_deref(), Some("app"));
        let e = apply(&mut c, Directive::ScriptAlias, "/x /y colour=blue")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown option 'colour'") && e.contains("application-group"),
            "{e}"
        );
        let e = apply(
            &mut c,
            Directive::ScriptAlias,
            "/x /y application-group=a application-group=b",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than once"), "{e}");
        assert!(apply(&mut c, Directive::ScriptAlias, "/x").is_err());
        assert!(apply(&mut c, Directive::ScriptAlias, "/x /y nonsense").is_err());
    }

    fn alias(url: &str, target: &str) -> ScriptAlias {
        ScriptAlias {
            url: url.into(),
            target: target.into(),
            pattern: None,
            options: ScriptOptions::default(),
        }
    }

    #[test]
    fn alias_uri_mapping() {
        let root = alias("/", "/srv/app.wsgi");
        assert_eq!(root.map_uri("/").as_deref(), Some("/srv/app.wsgi/"));
        assert_eq!(root.map_uri("/foo").as_deref(), Some("/srv/app.wsgi/foo"));
        let hello = alias("/hello", "/srv/app.wsgi");
        assert_eq!(hello.map_uri("/hello").as_deref(), Some("/srv/app.wsgi"));
        assert_eq!(
            hello.map_uri("/hello/x/y").as_deref(),
            Some("/srv/app.wsgi/x/y")
        );
        assert_eq!(hello.map_uri("/helloworld"), None);
        assert_eq!(
            hello.map_uri("//hello//x").as_deref(),
            Some("/srv/app.wsgi//x")
        );
        assert_eq!(hello.map_uri("/other"), None);
        let dir = alias("/apps/", "/srv/apps/");
        assert_eq!(
            dir.map_uri("/apps/one.wsgi/extra").as_deref(),
            Some("/srv/apps/one.wsgi/extra")
        );
        assert_eq!(dir.map_uri("/apps"), None);
        assert_eq!(dir.map_uri("/apps/").as_deref(), Some("/srv/apps/"));
        let doubled = alias("//app", "/srv/app.wsgi");
        assert_eq!(
            doubled.map_uri("//app/x").as_deref(),
            Some("/srv/app.wsgi/x")
        );
        assert_eq!(doubled.map_uri("/app").as_deref(), Some("/srv/app.wsgi"));
    }

    #[test]
    fn script_alias_match_substitutes_and_keeps_the_rest() {
        let mut c = ServerConfig::default();
        apply(
            &mut c,
            Directive::ScriptAliasMatch,
            "^/wsgi-scripts/([^/]+) /web/wsgi-scripts/$1.wsgi",
        )
        .unwrap();
        apply(
            &mut c,
            Directive::ScriptAliasMatch,
            "^/(admin|files) /projects/handler.py/$1",
        )
        .unwrap();
        let [by_name, keep_prefix] = &c.aliases[..] else {
            panic!("two aliases expected");
        };
        assert!(by_name.is_regex());
        assert_eq!(
            by_name.map_uri("/wsgi-scripts/hello").as_deref(),
            Some("/web/wsgi-scripts/hello.wsgi")
        );
        assert_eq!(
            by_name.map_uri("/wsgi-scripts/hello/a/b").as_deref(),
            Some("/web/wsgi-scripts/hello.wsgi/a/b")
        );
        assert_eq!(by_name.map_uri("/other/hello"), None);
        assert_eq!(
            keep_prefix.map_uri("/admin/users").as_deref(),
            Some("/projects/handler.py/admin/users")
        );
    }

    #[test]
    fn script_alias_match_substitution_syntax() {
        let re = regex::Regex::new("^/(a)(b)?").unwrap();
        let caps = re.captures("/a").unwrap();
        assert_eq!(substitute("/x/$1/$2/&", &caps), "/x/a///a");
        assert_eq!(substitute("/x/\\$1\\&", &caps), "/x/$1&");
        assert_eq!(substitute("/x/$", &caps), "/x/$");
    }

    #[test]
    fn script_alias_match_rejects_bad_expression() {
        let mut c = ServerConfig::default();
        let e = apply(
            &mut c,
            Directive::ScriptAliasMatch,
            "^/(unclosed /srv/x.wsgi",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot compile regular expression"), "{e}");
    }

    #[test]
    fn vhost_merge_puts_vhost_aliases_first() {
        let mut base = ServerConfig::default();
        apply(&mut base, Directive::ScriptAlias, "/ /srv/main.wsgi").unwrap();
        apply(&mut base, Directive::PythonOptimize, "1").unwrap();
        let mut vhost = ServerConfig::default();
        apply(&mut vhost, Directive::ScriptAlias, "/v /srv/v.wsgi").unwrap();
        let merged = ServerConfig::merge(&base, &vhost);
        assert_eq!(merged.aliases[0].url, "/v");
        assert_eq!(merged.aliases[1].url, "/");
        assert_eq!(merged.global.python_optimize, Some(1));
    }

    #[test]
    fn import_script_requires_both_groups() {
        let mut c = ServerConfig::default();
        assert!(apply(
            &mut c,
            Directive::ImportScript,
            "/s.py process-group=%{GLOBAL}"
        )
        .is_err());
        apply(
            &mut c,
            Directive::ImportScript,
            "/s.py process-group=%{GLOBAL} application-group=%{GLOBAL}",
        )
        .unwrap();
        assert_eq!(c.global.import_scripts.len(), 1);
    }

    #[test]
    fn telemetry() {
        let mut c = ServerConfig::default();
        apply(
            &mut c,
            Directive::TelemetryService,
            "unix:/run/t.sock interval=0.5",
        )
        .unwrap();
        assert_eq!(
            c.global.telemetry_service.as_ref().unwrap().interval,
            Duration::from_millis(500)
        );
        assert!(apply(&mut c, Directive::TelemetryService, "udp:host:1").is_err());
        assert!(apply(&mut c, Directive::TelemetryService, "unix:/t interval=0.1").is_err());
        apply(&mut c, Directive::TelemetryOptions, "+CaptureUserAgent").unwrap();
        assert!(c.global.telemetry_flags.capture_user_agent);
        apply(&mut c, Directive::TelemetryOptions, "None").unwrap();
        assert!(!c.global.telemetry_flags.capture_user_agent);
        assert!(apply(&mut c, Directive::TelemetryOptions, "+").is_err());
        assert!(apply(&mut c, Directive::TelemetryOptions, "+Bogus").is_err());
        assert!(apply(
            &mut c,
            Directive::TelemetryOptions,
            "None +CaptureUserAgent"
        )
        .is_err());
        assert!(apply(&mut c, Directive::TelemetryOptions, "-CaptureUserAgent All").is_err());
    }

    #[test]
    fn slow_requests_rejects_negative() {
        let mut c = ServerConfig::default();
        assert!(apply(&mut c, Directive::SlowRequests, "-1").is_err());
        assert!(apply(&mut c, Directive::SlowRequests, "").is_err());
        apply(&mut c, Directive::SlowRequests, "0").unwrap();
        assert_eq!(c.global.slow_requests, Some(Duration::ZERO));
    }
}
