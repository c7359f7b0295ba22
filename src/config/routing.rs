//! Where a request runs: the process group, application group and
//! callable that the configuration picks, what a `WSGIDispatchScript`
//! changes of them, and whether `WSGIRestrictProcess` and
//! `WSGIRestrictEmbedded` allow the result. Pure: the caller expands the
//! group specs against the request (at the points where it always has,
//! since Apache adds the CGI variables in between) and runs the dispatch
//! script; this module only decides.

use super::server::ScriptOptions;
use super::values::{expand_callable, GroupContext, GroupSpec};
use super::DirConfig;

/// What a dispatch script answered; `None` keeps the configured value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DispatchOverrides {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
}

/// The directives that pick the groups and callable for one request: the
/// script's own options (`WSGIScriptAlias ... process-group=` and the
/// like) over the directory's.
pub struct Selection<'c> {
    options: Option<&'c ScriptOptions>,
    dir: &'c DirConfig,
    /// A `WSGIHandlerScript` handler, which always calls `handle_request`.
    handler_script: bool,
}

impl<'c> Selection<'c> {
    pub fn new(
        options: Option<&'c ScriptOptions>,
        dir: &'c DirConfig,
        handler_script: bool,
    ) -> Self {
        Selection {
            options,
            dir,
            handler_script,
        }
    }

    /// The process group's spec; unset means embedded mode (`%{GLOBAL}`).
    pub fn process_group(&self) -> GroupSpec {
        self.options
            .and_then(|o| o.process_group.clone())
            .or_else(|| self.dir.process_group.clone())
            .unwrap_or(GroupSpec::Global)
    }

    /// The application group's spec; unset means one interpreter per
    /// resource (`%{RESOURCE}`).
    pub fn application_group(&self) -> GroupSpec {
        self.options
            .and_then(|o| o.application_group.clone())
            .or_else(|| self.dir.application_group.clone())
            .unwrap_or(GroupSpec::Resource)
    }

    /// The callable's name, reading `%{ENV:...}` through `env`.
    pub fn callable(&self, env: &dyn Fn(&str) -> Option<String>) -> String {
        if self.handler_script {
            return "handle_request".to_string();
        }
        expand_callable(
            self.options
                .and_then(|o| o.callable_object.as_deref())
                .or(self.dir.callable_object.as_deref()),
            env,
        )
    }
}

/// The process group, application group and callable a request runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Empty for embedded mode.
    pub process_group: String,
    pub application_group: String,
    pub callable: String,
}

/// What the restrictions in force say.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy<'c> {
    /// `WSGIRestrictProcess`: the groups the request may go to, with
    /// `%{GLOBAL}` standing for embedded mode.
    pub allowed_processes: Option<&'c [String]>,
    /// `WSGIRestrictEmbedded On`.
    pub embedded_disabled: bool,
}

/// How the request reaches its application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// In this process (embedded mode).
    Embedded,
    /// Relayed to a daemon process of the placement's process group.
    Daemon,
}

/// Why a request may not run where it was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The process group is not in `WSGIRestrictProcess` (WSGI0149).
    ProcessNotAllowed,
    /// Embedded mode is off (WSGI0143).
    EmbeddedDisabled,
}

/// Applies a dispatch script's answer to the configured placement, the
/// new group names expanded against `request` as runtime values.
pub fn apply_dispatch(
    placement: &mut Placement,
    overrides: &DispatchOverrides,
    request: &dyn GroupContext,
) {
    if let Some(value) = &overrides.process_group {
        placement.process_group = GroupSpec::from_runtime(value).expand(request);
    }
    if let Some(value) = &overrides.application_group {
        placement.application_group = GroupSpec::from_runtime(value).expand(request);
    }
    if let Some(value) = &overrides.callable_object {
        placement.callable = value.clone();
    }
}

/// The transport for a final placement, or why the restrictions refuse it.
pub fn transport(placement: &Placement, restrictions: Policy<'_>) -> Result<Transport, Refusal> {
    if let Some(allowed) = restrictions.allowed_processes {
        let group = match placement.process_group.as_str() {
            "" => "%{GLOBAL}",
            named => named,
        };
        if !allowed.iter().any(|g| g == group) {
            return Err(Refusal::ProcessNotAllowed);
        }
    }
    if !placement.process_group.is_empty() {
        return Ok(Transport::Daemon);
    }
    if restrictions.embedded_disabled {
        return Err(Refusal::EmbeddedDisabled);
    }
    Ok(Transport::Embedded)
}

/// The pool member a request goes to: the one with the fewest requests in
/// flight, ties broken round-robin. `turn` counts the picks made so far;
/// scanning from `turn % n` spreads simultaneous arrivals at an idle pool
/// over different members rather than piling them on the first.
pub fn least_busy_member(in_flight: &[usize], turn: usize) -> usize {
    let n = in_flight.len().max(1);
    (0..n)
        .map(|offset| (turn + offset) % n)
        .min_by_key(|&k| in_flight.get(k).copied().unwrap_or(0))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request on www.example.com:8080 for /app/x with `ENV` variables.
    struct FakeRequest(&'static [(&'static str, &'static str)]);

    impl GroupContext for FakeRequest {
        fn server_name(&self) -> String {
            "www.example.com".into()
        }
        fn request_host(&self) -> String {
            "example.org".into()
        }
        fn server_port(&self) -> u16 {
            8080
        }
        fn uri_and_path_info(&self) -> (String, String) {
            ("/app/x".into(), "/x".into())
        }
        fn env(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn spec(token: &str) -> GroupSpec {
        GroupSpec::parse("test", token).unwrap()
    }

    fn options(
        process: Option<&str>,
        application: Option<&str>,
        callable: Option<&str>,
    ) -> ScriptOptions {
        ScriptOptions {
            process_group: process.map(spec),
            application_group: application.map(spec),
            callable_object: callable.map(String::from),
            ..ScriptOptions::default()
        }
    }

    fn dir(process: Option<&str>, application: Option<&str>, callable: Option<&str>) -> DirConfig {
        DirConfig {
            process_group: process.map(spec),
            application_group: application.map(spec),
            callable_object: callable.map(String::from),
            ..DirConfig::default()
        }
    }

    fn placement(process: &str, application: &str, callable: &str) -> Placement {
        Placement {
            process_group: process.into(),
            application_group: application.into(),
            callable: callable.into(),
        }
    }

    #[test]
    fn selection_prefers_script_options_then_directory_then_defaults() {
        let request = FakeRequest(&[("APP", "from-env"), ("CALL", "main")]);
        // (script options, directory, handler script, expected placement)
        let cases: Vec<(Option<ScriptOptions>, DirConfig, bool, Placement)> = vec![
            (
                None,
                DirConfig::default(),
                false,
                placement("", "www.example.com:8080|/app", "application"),
            ),
            (
                None,
                dir(Some("d"), Some("%{GLOBAL}"), Some("app")),
                false,
                placement("d", "", "app"),
            ),
            (
                Some(options(Some("o"), Some("%{SERVER}"), Some("wsgi"))),
                dir(Some("d"), Some("x"), Some("app")),
                false,
                placement("o", "www.example.com:8080", "wsgi"),
            ),
            (
                Some(options(None, None, None)),
                dir(Some("d"), Some("%{HOST}"), Some("%{ENV:CALL}")),
                false,
                placement("d", "example.org:8080", "main"),
            ),
            (
                None,
                dir(None, Some("%{ENV:APP}"), Some("%{ENV:UNSET}")),
                false,
                placement("", "from-env", "application"),
            ),
            // A handler script's callable is fixed.
            (
                Some(options(None, None, Some("wsgi"))),
                DirConfig::default(),
                true,
                placement("", "www.example.com:8080|/app", "handle_request"),
            ),
        ];
        for (i, (script_options, dir, handler_script, expected)) in cases.iter().enumerate() {
            let selection = Selection::new(script_options.as_ref(), dir, *handler_script);
            let got = Placement {
                process_group: selection.process_group().expand(&request),
                application_group: selection.application_group().expand(&request),
                callable: selection.callable(&|name| request.env(name)),
            };
            assert_eq!(&got, expected, "case {i}");
        }
    }

    #[test]
    fn dispatch_answers_replace_only_what_they_name() {
        let request = FakeRequest(&[("GROUP", "g-env")]);
        let configured = placement("daemon", "app", "application");
        let answer = |p: Option<&str>, a: Option<&str>, c: Option<&str>| DispatchOverrides {
            process_group: p.map(String::from),
            application_group: a.map(String::from),
            callable_object: c.map(String::from),
        };
        let cases = [
            (
                answer(None, None, None),
                placement("daemon", "app", "application"),
            ),
            (
                answer(Some(""), None, None),
                placement("", "app", "application"),
            ),
            (
                answer(Some("%{GLOBAL}"), Some("%{SERVER}"), None),
                placement("", "www.example.com:8080", "application"),
            ),
            (
                answer(None, Some("%{ENV:GROUP}"), Some("main")),
                placement("daemon", "g-env", "main"),
            ),
            (
                answer(Some("other"), Some("%{RESOURCE}"), None),
                placement("other", "www.example.com:8080|/app", "application"),
            ),
        ];
        for (i, (overrides, expected)) in cases.iter().enumerate() {
            let mut got = configured.clone();
            apply_dispatch(&mut got, overrides, &request);
            assert_eq!(&got, expected, "case {i}");
        }
    }

    #[test]
    fn restrictions_decide_the_transport() {
        let allowed = ["one".to_string(), "%{GLOBAL}".to_string()];
        let only_one = ["one".to_string()];
        let open = Policy::default();
        let cases: [(&str, Policy<'_>, Result<Transport, Refusal>); 8] = [
            ("", open, Ok(Transport::Embedded)),
            ("one", open, Ok(Transport::Daemon)),
            (
                "",
                Policy {
                    allowed_processes: Some(&allowed),
                    embedded_disabled: false,
                },
                Ok(Transport::Embedded),
            ),
            (
                "one",
                Policy {
                    allowed_processes: Some(&only_one),
                    embedded_disabled: false,
                },
                Ok(Transport::Daemon),
            ),
            (
                "two",
                Policy {
                    allowed_processes: Some(&allowed),
                    embedded_disabled: false,
                },
                Err(Refusal::ProcessNotAllowed),
            ),
            (
                "",
                Policy {
                    allowed_processes: Some(&only_one),
                    embedded_disabled: false,
                },
                Err(Refusal::ProcessNotAllowed),
            ),
            // WSGIRestrictEmbedded only refuses embedded placements...
            (
                "one",
                Policy {
                    allowed_processes: None,
                    embedded_disabled: true,
                },
                Ok(Transport::Daemon),
            ),
            // ...and is checked after WSGIRestrictProcess.
            (
                "",
                Policy {
                    allowed_processes: Some(&allowed),
                    embedded_disabled: true,
                },
                Err(Refusal::EmbeddedDisabled),
            ),
        ];
        for (i, (group, restrictions, expected)) in cases.iter().enumerate() {
            let got = transport(&placement(group, "app", "application"), *restrictions);
            assert_eq!(&got, expected, "case {i}");
        }
        assert_eq!(
            transport(
                &placement("", "app", "application"),
                Policy {
                    allowed_processes: Some(&only_one),
                    embedded_disabled: true
                }
            ),
            Err(Refusal::ProcessNotAllowed)
        );
    }

    #[test]
    fn the_least_busy_member_wins_and_ties_go_round_robin() {
        use super::least_busy_member;
        let table: &[(&[usize], usize, usize)] = &[
            // (in flight per member, turn, chosen)
            (&[0, 0, 0], 0, 0),
            (&[0, 0, 0], 1, 1),
            (&[0, 0, 0], 5, 2),
            (&[2, 1, 3], 0, 1),
            (&[2, 1, 3], 2, 1),
            (&[1, 0, 0], 0, 1),
            (&[1, 0, 0], 2, 2),
            (&[4], 7, 0),
            (&[], 3, 0),
        ];
        for &(in_flight, turn, chosen) in table {
            assert_eq!(
                least_busy_member(in_flight, turn),
                chosen,
                "{in_flight:?} turn {turn}"
            );
        }
    }
}
