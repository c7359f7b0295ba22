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
    pub free_threading: Option<bool>,
    pub switch_interval: Option<Duration>,
    pub python_path: Vec<String>,
    pub restrict_stdin: Option<bool>,
    pub restrict_stdout: Option<bool>,
    pub restrict_signal: Option<bool>,
}

/// The directives permitted inside the container.
pub const CONTAINER_DIRECTIVES: &[Directive] = &[
    Directive::PerInterpreterGil,
    Directive::FreeThreading,
    Directive::SwitchInterval,
    Directive::PythonPath,
    Directive::RestrictStdin,
    Directive::RestrictStdout,
    Directive::RestrictSignal,
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
            Directive::FreeThreading => self.free_threading = Some(parse_on_off(name, value)?),
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
            Some(d) if CONTAINER_DIRECTIVES.contains(&d) => self.settings.apply(d, args),
            _ => Err(ConfigError::NotAllowedHere {
                directive: directive_name.to_string(),
                location: "inside <WSGIInterpreterOptions> (permitted: WSGIPerInterpreterGIL, WSGIFreeThreading, WSGISwitchInterval, WSGIPythonPath, WSGIRestrictStdin, WSGIRestrictStdout, WSGIRestrictSignal)",
            }),
        }
    }

    fn matches(&self, process_group: &str, application_group: &str) -> bool {
        self.process_group
            .as_deref()
            .is_none_or(|p| p == process_group)
            && self
                .application_group
                .as_deref()
                .is_none_or(|a| a == application_group)
    }

    fn specificity(&self) -> usize {
        usize::from(self.process_group.is_some()) + usize::from(self.application_group.is_some())
    }
}

/// The settings in force for one interpreter, after layering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedSettings {
    pub per_interpreter_gil: bool,
    pub switch_interval: Option<Duration>,
    /// Directory lists, least specific layer first.
    pub python_path_layers: Vec<Vec<String>>,
    pub restrict_stdin: bool,
    pub restrict_stdout: bool,
    pub restrict_signal: bool,
}

/// Resolves the settings for the interpreter of `application_group` in
/// `process_group` ("" means embedded mode / the main interpreter).
/// `top_level` is the lowest layer; `base_python_path` replaces its path
/// (daemon mode uses the group's `python-path=`).
pub fn resolve(
    top_level: &InterpreterSettings,
    containers: &[InterpreterOptions],
    process_group: &str,
    application_group: &str,
) -> ResolvedSettings {
    let mut layers: Vec<(usize, usize, &InterpreterSettings)> = containers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.matches(process_group, application_group))
        .map(|(order, c)| (c.specificity(), order, &c.settings))
        .collect();
    // Least specific first, then configuration order, so that later layers win.
    layers.sort_by_key(|&(score, order, _)| (score, order));
    let ordered = std::iter::once(top_level).chain(layers.into_iter().map(|(_, _, s)| s));

    let mut resolved = ResolvedSettings::default();
    let (mut gil, mut stdin, mut stdout, mut signal) = (None, None, None, None);
    for layer in ordered {
        gil = layer.per_interpreter_gil.or(gil);
        stdin = layer.restrict_stdin.or(stdin);
        stdout = layer.restrict_stdout.or(stdout);
        signal = layer.restrict_signal.or(signal);
        resolved.switch_interval = layer.switch_interval.or(resolved.switch_interval);
        if !layer.python_path.is_empty() {
            resolved.python_path_layers.push(layer.python_path.clone());
        }
    }
    resolved.per_interpreter_gil = gil.unwrap_or(false);
    resolved.restrict_stdin = stdin.unwrap_or(false);
    resolved.restrict_stdout = stdout.unwrap_or(false);
    resolved.restrict_signal = signal.unwrap_or(true);
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn container(header: &str, lines: &[&str]) -> InterpreterOptions {
        let mut c = InterpreterOptions::parse_header(&words(header)).unwrap();
        for line in lines {
            let w = words(line);
            c.apply_line(&w[0], &w[1..]).unwrap();
        }
        c
    }

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
        let r = resolve(&top, &containers, "p1", "a1");
        assert_eq!(r.switch_interval, Some(Duration::from_millis(1)));
        assert!(r.per_interpreter_gil);
        // Two single-key containers tie: the later one (application-group=a1) wins.
        let r = resolve(&top, &containers[1..], "p1", "a1");
        assert_eq!(r.switch_interval, Some(Duration::from_millis(3)));
        // Only the empty container matches another process group.
        let r = resolve(&top, &containers, "p2", "b");
        assert_eq!(r.switch_interval, Some(Duration::from_millis(4)));
        assert!(!r.per_interpreter_gil);
        // Nothing matches: the top level applies.
        let r = resolve(&top, &containers[..3], "p2", "b");
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
        let r = resolve(&top, &containers, "", "x");
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
    fn restrict_signal_defaults_on() {
        let r = resolve(&InterpreterSettings::default(), &[], "", "");
        assert!(r.restrict_signal);
        assert!(!r.restrict_stdin);
    }
}
