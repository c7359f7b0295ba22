//! `<WSGIInterpreterOptions>` containers and the per-interpreter settings
//! they (and the same directives at top level) carry.

use super::directives::Directive;
use super::error::{ConfigError, ConfigResult};
use super::values::{parse_on_off, parse_seconds, split_option};
use std::time::Duration;

/// Settings that may be scoped to interpreters. `None` means "not set at
/// this layer", so a less specific layer's value shows through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterpreterSettings {
    pub per_interpreter_gil: Option<bool>,
    /// `WSGIOwnGILFallback` (ours): an own-GIL interpreter whose WSGI
    /// script is refused an extension module is recreated with the shared
    /// GIL instead of failing its requests.
    pub own_gil_fallback: Option<bool>,
    pub free_threading: Option<bool>,
    /// `WSGIFreeThreading Forced`: the GIL stays off even when an
    /// extension module that has not declared free-threading support is
    /// imported (CPython would otherwise turn it back on).
    pub gil_forced_off: Option<bool>,
    pub switch_interval: Option<Duration>,
    pub python_path: Vec<String>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
    pub restrict_signal: Option<bool>,
    /// `WSGIInterpreterPool N`: the application group is served by N
    /// own-GIL sub-interpreters (our extension; only inside a container
    /// naming the group).
    pub pool_size: Option<usize>,
}

/// The most members `WSGIInterpreterPool` accepts: each is a whole
/// interpreter, with its own copy of every module the application imports.
pub const MAX_POOL_SIZE: usize = 64;

/// The directives permitted inside the container.
pub const CONTAINER_DIRECTIVES: &[Directive] = &[
    Directive::PerInterpreterGil,
    Directive::OwnGilFallback,
    Directive::FreeThreading,
    Directive::SwitchInterval,
    Directive::PythonPath,
    Directive::RestrictStdin,
    Directive::RestrictStdout,
    Directive::RestrictSignal,
    Directive::InterpreterPool,
];

impl InterpreterSettings {
    pub fn apply(&mut self, directive: Directive, args: &[String]) -> ConfigResult<()> {
        let name = directive.name();
        let [value] = args else {
            return Err(ConfigError::ArgumentCount {
                directive: name,
                expected: "exactly one argument",
            });
        };
        match directive {
            Directive::PerInterpreterGil => {
                self.per_interpreter_gil = Some(parse_on_off(name, value)?)
            }
            Directive::OwnGilFallback => self.own_gil_fallback = Some(parse_on_off(name, value)?),
            Directive::FreeThreading => {
                let (on, forced) = if value.eq_ignore_ascii_case("forced") {
                    (true, true)
                } else {
                    parse_on_off(name, value)
                        .map(|on| (on, false))
                        .map_err(|_| ConfigError::invalid_value(name, value, "On, Off or Forced"))?
                };
                self.free_threading = Some(on);
                self.gil_forced_off = Some(forced);
            }
            Directive::RestrictStdin => self.restrict_stdin = Some(parse_on_off(name, value)?),
            Directive::RestrictStdout => self.restrict_stdout = Some(parse_on_off(name, value)?),
            Directive::RestrictSignal => self.restrict_signal = Some(parse_on_off(name, value)?),
            Directive::SwitchInterval => {
                self.switch_interval = Some(parse_seconds(
                    name,
                    value,
                    1e-6,
                    1.0,
                    "a positive number of seconds up to 1.0, e.g. 0.002",
                )?)
            }
            Directive::InterpreterPool => {
                self.pool_size = Some(
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                        .ok_or_else(|| {
                            ConfigError::invalid_value(name, value, "a whole number from 1 to 64")
                        })?,
                )
            }
            Directive::PythonPath => {
                for dir in value.split(':').filter(|d| !d.is_empty()) {
                    self.python_path.push(dir.to_string());
                }
            }
            other => {
                return Err(ConfigError::NotAllowedHere {
                    directive: other.name().to_string(),
                    location: "inside <WSGIInterpreterOptions>",
                })
            }
        }
        Ok(())
    }
}

/// One `<WSGIInterpreterOptions>` container. Selectors are normalised so
/// that `%{GLOBAL}` is the empty string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InterpreterOptions {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub settings: InterpreterSettings,
}

const CONTAINER: &str = "<WSGIInterpreterOptions>";

/// Where `WSGIInterpreterPool` may appear, for its error message.
pub const POOL_LOCATION: &str = "outside <WSGIInterpreterOptions application-group=NAME> (a pool belongs to one application group, named literally)";

fn normalise_selector(value: &str) -> String {
    if value.eq_ignore_ascii_case("%{GLOBAL}") {
        String::new()
    } else {
        value.to_string()
    }
}

impl InterpreterOptions {
    /// Parses the opening tag's arguments (without the closing `>`).
    pub fn parse_header(args: &[String]) -> ConfigResult<InterpreterOptions> {
        let mut options = InterpreterOptions::default();
        for word in args {
            let (key, value) = split_option(word).ok_or_else(|| {
                ConfigError::invalid(
                    CONTAINER,
                    format!(
                        "expected process-group=NAME or application-group=NAME, found '{word}'"
                    ),
                )
            })?;
            let slot = match key {
                "process-group" => &mut options.process_group,
                "application-group" => &mut options.application_group,
                _ => {
                    return Err(ConfigError::UnknownOption {
                        directive: CONTAINER,
                        option: key.to_string(),
                        accepted: "process-group, application-group".into(),
                    })
                }
            };
            if slot.replace(normalise_selector(value)).is_some() {
                return Err(ConfigError::DuplicateOption {
                    directive: CONTAINER,
                    option: key.to_string(),
                });
            }
        }
        Ok(options)
    }

    /// Applies one line found inside the container.
    pub fn apply_line(&mut self, directive_name: &str, args: &[String]) -> ConfigResult<()> {
        match Directive::by_name(directive_name) {
            Some(Directive::InterpreterPool) if !self.names_one_application_group() => {
                Err(ConfigError::NotAllowedHere {
                    directive: Directive::InterpreterPool.name().to_string(),
                    location: POOL_LOCATION,
                })
            }
            Some(d) if CONTAINER_DIRECTIVES.contains(&d) => self.settings.apply(d, args),
            _ => Err(ConfigError::NotAllowedHere {
                directive: directive_name.to_string(),
                location: "inside <WSGIInterpreterOptions> (permitted: WSGIPerInterpreterGIL, WSGIOwnGILFallback, WSGIFreeThreading, WSGISwitchInterval, WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout, WSGIRestrictSignal, WSGIInterpreterPool)",
            }),
        }
    }

    /// True when the container names one application group by a literal
    /// name (`%{GLOBAL}` included): a pool needs to know whose it is.
    fn names_one_application_group(&self) -> bool {
        self.application_group.is_some() && self.has_static_application_group()
    }

    /// Whether the container applies to the interpreter of
    /// `application_group` in `process_group`. An `%{ENV:VAR}` selector is
    /// expanded through `env` first, so it is matched per request.
    pub fn matches(
        &self,
        process_group: &str,
        application_group: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        let selector_matches = |selector: &Option<String>, actual: &str| match selector {
            None => true,
            Some(s) => match env_selector(s) {
                Some(var) => env(var).is_some_and(|v| normalise_selector(&v) == actual),
                None => s == actual,
            },
        };
        selector_matches(&self.process_group, process_group)
            && selector_matches(&self.application_group, application_group)
    }

    fn specificity(&self) -> usize {
        usize::from(self.process_group.is_some()) + usize::from(self.application_group.is_some())
    }

    /// True when the `application-group=` selector is a literal name (or
    /// absent), so checks that depend on it can run at configuration load.
    pub fn has_static_application_group(&self) -> bool {
        self.application_group
            .as_deref()
            .is_none_or(|a| env_selector(a).is_none())
    }
}

/// `VAR` for a selector written `%{ENV:VAR}`.
fn env_selector(selector: &str) -> Option<&str> {
    selector
        .strip_prefix("%{ENV:")
        .and_then(|rest| rest.strip_suffix('}'))
        .filter(|var| !var.is_empty())
}

/// Which of the standard streams and hooks are restricted in an
/// interpreter (`WSGIRestrictStdin`/`Stdout`/`Signal`, resolved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restrictions {
    pub stdin: bool,
    pub stdout: bool,
    pub signal: bool,
}

/// The settings in force for one interpreter, after layering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedSettings {
    pub per_interpreter_gil: bool,
    /// `WSGIOwnGILFallback`: default Off, as the C module has no fallback.
    pub own_gil_fallback: bool,
    pub switch_interval: Option<Duration>,
    /// True when the winning `WSGISwitchInterval` came from a container
    /// with an `application-group=` selector: it may then only be applied
    /// to an interpreter holding its own GIL.
    pub switch_interval_per_application: bool,
    /// Directory lists, least specific layer first.
    pub python_path_layers: Vec<Vec<String>>,
    pub restrict_stdin: bool,
    pub restrict_stdout: bool,
    pub restrict_signal: bool,
    /// Members of the group's `WSGIInterpreterPool`; 1 without a pool.
    pub pool_size: usize,
}

/// The matching containers for an interpreter, least specific first and in
/// configuration order within a specificity, so later entries win.
fn matching_layers(
    containers: &[InterpreterOptions],
    accept: impl Fn(&InterpreterOptions) -> bool,
) -> Vec<&InterpreterOptions> {
    let mut layers: Vec<(usize, usize, &InterpreterOptions)> = containers
        .iter()
        .enumerate()
        .filter(|(_, c)| accept(c))
        .map(|(order, c)| (c.specificity(), order, c))
        .collect();
    layers.sort_by_key(|&(score, order, _)| (score, order));
    layers.into_iter().map(|(_, _, c)| c).collect()
}

/// Resolves the settings for the interpreter of `application_group` in
/// `process_group` ("" means embedded mode, or the main interpreter).
/// `top_level` is the lowest layer; `env` expands `%{ENV:VAR}` selectors.
pub fn resolve(
    top_level: &InterpreterSettings,
    containers: &[InterpreterOptions],
    process_group: &str,
    application_group: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> ResolvedSettings {
    let layers = matching_layers(containers, |c| {
        c.matches(process_group, application_group, env)
    });
    let ordered = std::iter::once((false, top_level)).chain(
        layers
            .into_iter()
            .map(|c| (c.application_group.is_some(), &c.settings)),
    );

    let mut resolved = ResolvedSettings::default();
    let (mut gil, mut fallback, mut stdin, mut stdout, mut signal) = (None, None, None, None, None);
    let mut pool = None;
    for (per_application, layer) in ordered {
        gil = layer.per_interpreter_gil.or(gil);
        fallback = layer.own_gil_fallback.or(fallback);
        pool = layer.pool_size.or(pool);
        stdin = layer.restrict_stdin.or(stdin);
        stdout = layer.restrict_stdout.or(stdout);
        signal = layer.restrict_signal.or(signal);
        if layer.switch_interval.is_some() {
            resolved.switch_interval = layer.switch_interval;
            resolved.switch_interval_per_application = per_application;
        }
        if !layer.python_path.is_empty() {
            resolved.python_path_layers.push(layer.python_path.clone());
        }
    }
    resolved.per_interpreter_gil = gil.unwrap_or(false);
    resolved.own_gil_fallback = fallback.unwrap_or(false);
    resolved.restrict_stdin = stdin.unwrap_or(false);
    resolved.restrict_stdout = stdout.unwrap_or(false);
    resolved.restrict_signal = signal.unwrap_or(true);
    resolved.pool_size = pool.unwrap_or(1);
    resolved
}

/// Settings fixed once per process, before or just after Python starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessSettings {
    /// `WSGIFreeThreading` as configured (whether the build can honour it
    /// is decided by the caller).
    pub free_threading: bool,
    /// `WSGIFreeThreading Forced` rather than `On`.
    pub gil_forced_off: bool,
    /// The process-wide switch interval: from the top level or containers
    /// without an `application-group=` selector.
    pub switch_interval: Option<Duration>,
}

/// Resolves the process-wide settings for `process_group`. Containers with
/// an `application-group=` selector never take part: free-threading and
/// the shared GIL's switch interval belong to the whole process.
pub fn resolve_process(
    top_level: &InterpreterSettings,
    containers: &[InterpreterOptions],
    process_group: &str,
) -> ProcessSettings {
    let layers = matching_layers(containers, |c| {
        c.application_group.is_none() && c.matches(process_group, "", &|_| None)
    });
    let mut free_threading = top_level.free_threading;
    let mut gil_forced_off = top_level.gil_forced_off;
    let mut switch_interval = top_level.switch_interval;
    for layer in layers {
        free_threading = layer.settings.free_threading.or(free_threading);
        gil_forced_off = layer.settings.gil_forced_off.or(gil_forced_off);
        switch_interval = layer.settings.switch_interval.or(switch_interval);
    }
    ProcessSettings {
        free_threading: free_threading.unwrap_or(false),
        gil_forced_off: gil_forced_off.unwrap_or(false),
        switch_interval,
    }
}

/// Builders for unit tests of the resolver and of the GIL decisions.
#[cfg(test)]
pub(crate) mod test_support {
    use super::InterpreterOptions;

    pub fn no_env(_: &str) -> Option<String> {
        None
    }

    pub fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    /// A container from its opening-tag words and its inner lines.
    pub fn container(header: &str, lines: &[&str]) -> InterpreterOptions {
        let mut c = InterpreterOptions::parse_header(&words(header)).unwrap();
        for line in lines {
            let w = words(line);
            c.apply_line(&w[0], &w[1..]).unwrap();
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{container, no_env, words};
    use super::*;

    #[test]
    fn header_selectors_and_global_synonym() {
        let c = InterpreterOptions::parse_header(&words(
            "process-group=%{GLOBAL} application-group=app1",
        ))
        .unwrap();
        assert_eq!(c.process_group.as_deref(), Some(""));
        assert_eq!(c.application_group.as_deref(), Some("app1"));
        assert!(InterpreterOptions::parse_header(&words("user=x")).is_err());
        assert!(
            InterpreterOptions::parse_header(&words("process-group=a process-group=b")).is_err()
        );
        assert!(InterpreterOptions::parse_header(&words("bare")).is_err());
    }

    #[test]
    fn only_permitted_directives_inside() {
        let mut c = InterpreterOptions::default();
        let e = c
            .apply_line("WSGICallableObject", &words("app"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("WSGICallableObject is not allowed inside <WSGIInterpreterOptions>"),
            "{e}"
        );
        c.apply_line("wsgiswitchinterval", &words("0.001")).unwrap();
        assert_eq!(c.settings.switch_interval, Some(Duration::from_millis(1)));
        assert!(c.apply_line("WSGISwitchInterval", &words("0")).is_err());
        assert!(c
            .apply_line("WSGIPerInterpreterGIL", &words("yes"))
            .is_err());
    }

    #[test]
    fn most_specific_wins_and_later_wins_ties() {
        let top = InterpreterSettings {
            switch_interval: Some(Duration::from_millis(5)),
            ..Default::default()
        };
        let containers = vec![
            container(
                "process-group=p1 application-group=a1",
                &["WSGISwitchInterval 0.001"],
            ),
            container(
                "process-group=p1",
                &["WSGISwitchInterval 0.002", "WSGIPerInterpreterGIL On"],
            ),
            container("application-group=a1", &["WSGISwitchInterval 0.003"]),
            container("", &["WSGISwitchInterval 0.004"]),
        ];
        let r = resolve(&top, &containers, "p1", "a1", &no_env);
        assert_eq!(r.switch_interval, Some(Duration::from_millis(1)));
        assert!(r.per_interpreter_gil);
        // Two single-key containers tie: the later one (application-group=a1) wins.
        let r = resolve(&top, &containers[1..], "p1", "a1", &no_env);
        assert_eq!(r.switch_interval, Some(Duration::from_millis(3)));
        // Only the empty container matches another process group.
        let r = resolve(&top, &containers, "p2", "b", &no_env);
        assert_eq!(r.switch_interval, Some(Duration::from_millis(4)));
        assert!(!r.per_interpreter_gil);
        // Nothing matches: the top level applies.
        let r = resolve(&top, &containers[..3], "p2", "b", &no_env);
        assert_eq!(r.switch_interval, Some(Duration::from_millis(5)));
    }

    #[test]
    fn python_path_layers_accumulate_least_specific_first() {
        let top = InterpreterSettings {
            python_path: vec!["/base".into()],
            ..Default::default()
        };
        let containers = vec![
            container(
                "process-group=%{GLOBAL} application-group=x",
                &["WSGIPythonPath /specific"],
            ),
            container("", &["WSGIPythonPath /any:/any2"]),
        ];
        let r = resolve(&top, &containers, "", "x", &no_env);
        assert_eq!(
            r.python_path_layers,
            vec![
                vec!["/base".to_string()],
                vec!["/any".to_string(), "/any2".to_string()],
                vec!["/specific".to_string()]
            ]
        );
    }

    #[test]
    fn own_gil_fallback_is_off_unless_a_layer_turns_it_on() {
        let r = resolve(&InterpreterSettings::default(), &[], "", "app", &no_env);
        assert!(!r.own_gil_fallback, "off by default, as in the C module");
        let top = InterpreterSettings {
            own_gil_fallback: Some(true),
            ..Default::default()
        };
        let containers = vec![container(
            "application-group=strict",
            &["WSGIOwnGILFallback Off"],
        )];
        assert!(resolve(&top, &containers, "", "app", &no_env).own_gil_fallback);
        assert!(!resolve(&top, &containers, "", "strict", &no_env).own_gil_fallback);
        let only_inside = vec![container(
            "application-group=lenient",
            &["wsgiowngilfallback on"],
        )];
        let none = InterpreterSettings::default();
        assert!(resolve(&none, &only_inside, "", "lenient", &no_env).own_gil_fallback);
        assert!(!resolve(&none, &only_inside, "", "other", &no_env).own_gil_fallback);
        let e = InterpreterOptions::default()
            .apply_line("WSGIOwnGILFallback", &words("maybe"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("WSGIOwnGILFallback") && e.contains("'maybe'") && e.contains("On or Off"),
            "{e}"
        );
    }

    #[test]
    fn restrict_signal_defaults_on() {
        let r = resolve(&InterpreterSettings::default(), &[], "", "", &no_env);
        assert!(r.restrict_signal);
        assert!(!r.restrict_stdin);
    }

    #[test]
    fn interpreter_pool_belongs_inside_a_container_naming_one_group() {
        let pooled = container("application-group=app", &["WSGIInterpreterPool 3"]);
        assert_eq!(pooled.settings.pool_size, Some(3));
        let r = resolve(
            &InterpreterSettings::default(),
            &[pooled],
            "",
            "app",
            &no_env,
        );
        assert_eq!(r.pool_size, 3);
        let r = resolve(&InterpreterSettings::default(), &[], "", "app", &no_env);
        assert_eq!(r.pool_size, 1);

        let mut c = InterpreterOptions::parse_header(&words("application-group=app")).unwrap();
        for bad in ["0", "65", "two", "-1"] {
            let e = c
                .apply_line("WSGIInterpreterPool", &words(bad))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("WSGIInterpreterPool") && e.contains(bad) && e.contains("1 to 64"),
                "{e}"
            );
        }
        for header in ["", "process-group=web", "application-group=%{ENV:APP}"] {
            let mut c = InterpreterOptions::parse_header(&words(header)).unwrap();
            let e = c
                .apply_line("WSGIInterpreterPool", &words("2"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("WSGIInterpreterPool is not allowed outside <WSGIInterpreterOptions application-group=NAME>"),
                "{header}: {e}"
            );
        }
    }
}
