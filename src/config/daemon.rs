//! `WSGIDaemonProcess NAME option=value ...`: parsing and validation.
//!
//! The parser turns the words Apache hands us into a fully typed
//! [`DaemonProcessSpec`], with every documented default already applied, so
//! the daemon supervisor never has to look at strings again. It is pure Rust:
//! user and group names are kept as written and resolved (and re-checked, e.g.
//! for root) when the daemon is spawned.
//!
//! Options are looked up in the [`OPTIONS`] table, one entry per option with
//! the function that parses its value. Where we are stricter than the C
//! module (an option given twice is an error instead of "last one wins",
//! numbers must be plain digits instead of whatever `atoi()` makes of them)
//! the goal is to turn a silent misconfiguration into a startup error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{ConfigError, ConfigResult};

pub const DIRECTIVE: &str = "WSGIDaemonProcess";

/// Documented defaults.
pub const DEFAULT_PROCESSES: u32 = 1;
pub const DEFAULT_THREADS: u32 = 15;
pub const DEFAULT_DEADLOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// As in the C module: a restart waits this long for active requests.
pub const DEFAULT_GRACEFUL_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_LISTEN_BACKLOG: u32 = 100;
pub const DEFAULT_HEADER_BUFFER_SIZE: u32 = 32_768;
pub const DEFAULT_RESPONSE_BUFFER_SIZE: u64 = 8 * 1024 * 1024;
pub const DEFAULT_RESPONSE_FLUSH_DELAY: Duration = Duration::from_millis(5);

/// Upper bound for `processes` and `threads`: far above anything useful, low
/// enough to catch a stray extra digit before it forks thousands of processes.
const MAX_WORKERS: u64 = 10_000;
/// Second and size values end up in C `int`s (timers, `setsockopt`, `listen`).
const MAX_INT: u64 = i32::MAX as u64;
/// `(uid_t)-1` means "leave unchanged" to `setuid()`/`setgid()`, so it cannot
/// name a real account.
const MAX_ID: u64 = u32::MAX as u64 - 1;
/// Python keeps the switch interval in whole microseconds, so anything smaller
/// would silently become zero.
const MIN_SWITCH_INTERVAL_SECS: f64 = 0.000_001;
/// Large intervals are accepted, as by the C module and Python itself.
const MAX_SWITCH_INTERVAL_SECS: f64 = MAX_INT as f64;
/// Any non-negative C `int` of milliseconds, as the C module accepts.
const MAX_RESPONSE_FLUSH_DELAY_MS: u64 = MAX_INT;
/// Below this, ordinary response headers no longer fit.
const MIN_HEADER_BUFFER_SIZE: u64 = 8_192;
/// The documented floor for `response-buffer-size`.
const MIN_RESPONSE_BUFFER_SIZE: u64 = 65_536;
/// Smallest explicit socket buffer worth asking the kernel for.
const MIN_SOCKET_BUFFER_SIZE: u64 = 512;

/// A user or group as written in the configuration: a name, or `#number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixId {
    Name(String),
    Id(u32),
}

/// What to show in `ps` for the daemon processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisplayName {
    /// `%{GROUP}`: `(wsgi:NAME)` built from the process group name.
    Group,
    /// Any other value, shown as written.
    Literal(String),
}

/// One `WSGIDaemonProcess` directive, parsed and validated.
///
/// Options whose absence means "inherit from Apache / the OS / disabled" are
/// `Option`s; options with a documented default hold that default. Where the
/// C module treats `0` as "off" or "use the default", the parser maps it to
/// `None` or to the default, so consumers never test for magic zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonProcessSpec {
    pub name: String,

    // Process shape.
    pub processes: u32,
    /// `wsgi.multiprocess`: true only when `processes` was given explicitly,
    /// even as `processes=1`, so load balancing across groups can be signalled.
    pub multiprocess: bool,
    /// 0 selects the managed-process mode (no request threads).
    pub threads: u32,
    pub display_name: Option<DisplayName>,

    // Identity and process environment.
    pub home: Option<PathBuf>,
    pub user: Option<UnixId>,
    pub group: Option<UnixId>,
    pub supplementary_groups: Vec<UnixId>,
    pub umask: Option<u32>,
    pub lang: Option<String>,
    pub locale: Option<String>,
    pub chroot: Option<PathBuf>,
    pub script_user: Option<UnixId>,
    pub script_group: Option<UnixId>,
    pub socket_user: Option<UnixId>,

    // Python.
    pub python_home: Option<PathBuf>,
    pub python_path: Vec<PathBuf>,
    pub python_eggs: Option<PathBuf>,
    pub switch_interval: Option<Duration>,

    // Restart and recovery triggers; `None` means disabled.
    pub restart_interval: Option<Duration>,
    pub maximum_requests: Option<u64>,
    /// `maximum-requests-jitter=` (ours): up to this many requests added
    /// to `maximum-requests` per process, so a group's processes do not
    /// all recycle at once.
    pub maximum_requests_jitter: Option<u64>,
    /// `memory-recycle=` (ours): the resident-memory size above which the
    /// process is restarted gracefully.
    pub memory_recycle: Option<u64>,
    pub inactivity_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub interrupt_timeout: Option<Duration>,
    pub deadlock_timeout: Option<Duration>,
    pub startup_timeout: Option<Duration>,
    pub graceful_timeout: Option<Duration>,
    /// `None` falls back to `graceful_timeout`, see [`Self::effective_eviction_timeout`].
    pub eviction_timeout: Option<Duration>,
    pub shutdown_timeout: Duration,

    // Link between Apache children and the daemon.
    pub connect_timeout: Duration,
    /// `None` uses Apache's `Timeout`.
    pub socket_timeout: Option<Duration>,
    pub queue_timeout: Option<Duration>,
    pub listen_backlog: u32,

    // Resource limits; `None` means no limit / OS default.
    pub cpu_time_limit: Option<Duration>,
    pub cpu_priority: i32,
    pub memory_limit: Option<u64>,
    pub virtual_memory_limit: Option<u64>,
    pub stack_size: Option<u64>,

    // Buffers and response relaying.
    pub receive_buffer_size: Option<u32>,
    pub send_buffer_size: Option<u32>,
    pub header_buffer_size: u32,
    pub response_buffer_size: u64,
    /// `None` uses `socket_timeout`.
    pub response_socket_timeout: Option<Duration>,
    pub response_flush_delay: Duration,
    pub server_metrics: bool,
}

impl DaemonProcessSpec {
    /// A group called `name` with every option at its default.
    pub fn new(name: impl Into<String>) -> Self {
        DaemonProcessSpec {
            name: name.into(),
            processes: DEFAULT_PROCESSES,
            multiprocess: false,
            threads: DEFAULT_THREADS,
            display_name: None,
            home: None,
            user: None,
            group: None,
            supplementary_groups: Vec::new(),
            umask: None,
            lang: None,
            locale: None,
            chroot: None,
            script_user: None,
            script_group: None,
            socket_user: None,
            python_home: None,
            python_path: Vec::new(),
            python_eggs: None,
            switch_interval: None,
            restart_interval: None,
            maximum_requests: None,
            maximum_requests_jitter: None,
            memory_recycle: None,
            inactivity_timeout: None,
            request_timeout: None,
            interrupt_timeout: None,
            deadlock_timeout: Some(DEFAULT_DEADLOCK_TIMEOUT),
            startup_timeout: None,
            graceful_timeout: Some(DEFAULT_GRACEFUL_TIMEOUT),
            eviction_timeout: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            socket_timeout: None,
            queue_timeout: None,
            listen_backlog: DEFAULT_LISTEN_BACKLOG,
            cpu_time_limit: None,
            cpu_priority: 0,
            memory_limit: None,
            virtual_memory_limit: None,
            stack_size: None,
            receive_buffer_size: None,
            send_buffer_size: None,
            header_buffer_size: DEFAULT_HEADER_BUFFER_SIZE,
            response_buffer_size: DEFAULT_RESPONSE_BUFFER_SIZE,
            response_socket_timeout: None,
            response_flush_delay: DEFAULT_RESPONSE_FLUSH_DELAY,
            server_metrics: false,
        }
    }

    /// `args` are the already-tokenized words after the directive name (quotes already removed by Apache), args[0] is NAME.
    pub fn parse(args: &[String]) -> ConfigResult<DaemonProcessSpec> {
        let (name, options) = args.split_first().ok_or(ConfigError::ArgumentCount {
            directive: DIRECTIVE,
            expected: "a process group name followed by optional name=value options",
        })?;
        check_group_name(name)?;

        let mut spec = DaemonProcessSpec::new(name.as_str());
        let mut seen: Vec<&'static str> = Vec::with_capacity(options.len());
        for token in options {
            let (key, value) = split_option(token)?;
            let option = OPTIONS
                .iter()
                .find(|option| option.name == key)
                .ok_or_else(|| ConfigError::UnknownOption {
                    directive: DIRECTIVE,
                    option: key.to_string(),
                    accepted: accepted_options(),
                })?;
            if seen.contains(&option.name) {
                return Err(ConfigError::DuplicateOption {
                    directive: DIRECTIVE,
                    option: option.name.to_string(),
                });
            }
            seen.push(option.name);
            (option.apply)(&mut spec, value)
                .map_err(|expected| ConfigError::invalid_value(DIRECTIVE, token, expected))?;
        }
        spec.check_combinations()?;
        Ok(spec)
    }

    /// Managed-process mode (`threads=0`): the process runs a script from
    /// `WSGIImportScript` instead of serving requests.
    pub fn is_managed_mode(&self) -> bool {
        self.threads == 0
    }

    /// The process title to set, if any: `%{GROUP}` expands to `(wsgi:NAME)`.
    pub fn process_title(&self) -> Option<String> {
        self.display_name.as_ref().map(|display| match display {
            DisplayName::Group => format!("(wsgi:{})", self.name),
            DisplayName::Literal(text) => text.clone(),
        })
    }

    /// How long a graceful-restart signal waits for the process to go idle:
    /// `eviction-timeout`, else `graceful-timeout`, else not at all.
    pub fn effective_eviction_timeout(&self) -> Option<Duration> {
        self.eviction_timeout.or(self.graceful_timeout)
    }

    /// Rules that involve more than one option, checked once all are known.
    fn check_combinations(&self) -> ConfigResult<()> {
        // A name that resolves to uid 0 must still be refused at spawn time;
        // here we catch the spellings that are root without any lookup.
        if matches!(&self.user, Some(UnixId::Id(0)))
            || self.user == Some(UnixId::Name("root".into()))
        {
            return Err(ConfigError::invalid(
                DIRECTIVE,
                format!(
                    "daemon process group '{}' may not run as root; set user= to an unprivileged account",
                    self.name
                ),
            ));
        }
        if self.script_user.is_some() && self.script_group.is_some() {
            return Err(ConfigError::invalid(
                DIRECTIVE,
                format!(
                    "daemon process group '{}': script-user and script-group cannot be combined; use only one of them",
                    self.name
                ),
            ));
        }
        Ok(())
    }
}

fn check_group_name(name: &str) -> ConfigResult<()> {
    if name.is_empty() {
        return Err(ConfigError::invalid(
            DIRECTIVE,
            "the process group name must not be empty",
        ));
    }
    // `WSGIDaemonProcess threads=5` is a forgotten name, not a group called
    // "threads=5" that nothing could sensibly refer to.
    if name.contains('=') {
        return Err(ConfigError::invalid(
            DIRECTIVE,
            format!(
                "the first argument must be the process group name, but '{name}' looks like an option"
            ),
        ));
    }
    Ok(())
}

fn split_option(token: &str) -> ConfigResult<(&str, &str)> {
    match token.split_once('=') {
        Some(("", _)) => Err(ConfigError::invalid(
            DIRECTIVE,
            format!("option name missing before '=' in '{token}'"),
        )),
        Some(pair) => Ok(pair),
        None if OPTIONS.iter().any(|option| option.name == token) => Err(ConfigError::invalid(
            DIRECTIVE,
            format!("option '{token}' needs a value, written as {token}=VALUE"),
        )),
        None => Err(ConfigError::invalid(
            DIRECTIVE,
            format!(
                "unexpected argument '{token}': after the process group name every option must be written as name=value"
            ),
        )),
    }
}

fn accepted_options() -> String {
    OPTIONS
        .iter()
        .map(|option| option.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Stores one option's value into the spec; `Err` carries the description of
/// what the option accepts.
type Apply = fn(&mut DaemonProcessSpec, &str) -> Result<(), &'static str>;

struct OptionDef {
    name: &'static str,
    apply: Apply,
}

// Descriptions shared by several options (they are `&'static str` in errors).
const SECONDS: &str = "a whole number of seconds from 0 to 2147483647";
const SECONDS_OR_OFF: &str = "a whole number of seconds from 0 to 2147483647, 0 meaning disabled";
const USER: &str = "a user name or #uid";
const GROUP: &str = "a group name or #gid";
const ABSOLUTE_DIR: &str = "an absolute directory path";
const DIRECTORY: &str = "a directory path";
const LOCALE: &str = "a locale name such as en_US.UTF-8";
const BYTES_OR_UNLIMITED: &str = "a number of bytes, 0 meaning no limit";
const BYTES_WITH_SUFFIX_OR_OFF: &str =
    "a number of bytes, optionally with a K, M or G suffix (1024-based), 0 meaning disabled";
const SOCKET_BUFFER: &str = "a number of bytes of at least 512, or 0 for the system default";

/// Every option `WSGIDaemonProcess` accepts, in documentation order (which is
/// also the order listed in "unknown option" errors).
const OPTIONS: &[OptionDef] = &[
    OptionDef {
        name: "processes",
        apply: |spec, value| {
            spec.processes = count(value, 1, "a whole number of processes from 1 to 10000")?;
            spec.multiprocess = true;
            Ok(())
        },
    },
    OptionDef {
        name: "threads",
        apply: |spec, value| {
            spec.threads = count(
                value,
                0,
                "a whole number of threads from 0 to 10000 (0 selects managed-process mode)",
            )?;
            Ok(())
        },
    },
    OptionDef {
        name: "display-name",
        apply: |spec, value| {
            // Empty (as mod_wsgi-express may write it) leaves the title alone.
            spec.display_name = if value.is_empty() {
                None
            } else {
                Some(display_name(value).ok_or("%{GROUP} or a process title")?)
            };
            Ok(())
        },
    },
    OptionDef {
        name: "home",
        apply: |spec, value| {
            spec.home = Some(absolute_path(value).ok_or(ABSOLUTE_DIR)?);
            Ok(())
        },
    },
    OptionDef {
        name: "user",
        apply: |spec, value| {
            spec.user = Some(unix_id(value).ok_or(USER)?);
            Ok(())
        },
    },
    OptionDef {
        name: "group",
        apply: |spec, value| {
            spec.group = Some(unix_id(value).ok_or(GROUP)?);
            Ok(())
        },
    },
    OptionDef {
        name: "supplementary-groups",
        apply: |spec, value| {
            spec.supplementary_groups = value
                .split(',')
                .filter(|entry| !entry.is_empty())
                .map(unix_id)
                .collect::<Option<_>>()
                .ok_or("a comma-separated list of group names or #gids")?;
            Ok(())
        },
    },
    OptionDef {
        name: "umask",
        apply: |spec, value| {
            spec.umask = Some(octal_mode(value).ok_or("an octal mask such as 0022")?);
            Ok(())
        },
    },
    OptionDef {
        name: "lang",
        apply: |spec, value| {
            spec.lang = optional(value, locale_name).ok_or(LOCALE)?;
            Ok(())
        },
    },
    OptionDef {
        name: "locale",
        apply: |spec, value| {
            spec.locale = optional(value, locale_name).ok_or(LOCALE)?;
            Ok(())
        },
    },
    OptionDef {
        // chroot(2) on a relative path would depend on Apache's working
        // directory at startup, which nobody controls.
        name: "chroot",
        apply: |spec, value| {
            spec.chroot = Some(absolute_path(value).ok_or(ABSOLUTE_DIR)?);
            Ok(())
        },
    },
    OptionDef {
        name: "script-user",
        apply: |spec, value| {
            spec.script_user = Some(unix_id(value).ok_or(USER)?);
            Ok(())
        },
    },
    OptionDef {
        name: "script-group",
        apply: |spec, value| {
            spec.script_group = Some(unix_id(value).ok_or(GROUP)?);
            Ok(())
        },
    },
    OptionDef {
        name: "python-home",
        apply: |spec, value| {
            spec.python_home = optional(value, any_path).ok_or(DIRECTORY)?;
            Ok(())
        },
    },
    OptionDef {
        name: "python-path",
        apply: |spec, value| {
            // Empty, as mod_wsgi-express writes `python-path=''`, adds nothing.
            spec.python_path = value
                .split(':')
                .filter(|entry| !entry.is_empty())
                .map(PathBuf::from)
                .collect();
            Ok(())
        },
    },
    OptionDef {
        name: "python-eggs",
        apply: |spec, value| {
            spec.python_eggs = optional(value, any_path).ok_or(DIRECTORY)?;
            Ok(())
        },
    },
    OptionDef {
        name: "switch-interval",
        apply: |spec, value| {
            spec.switch_interval = Some(
                switch_interval(value)
                    .ok_or("a positive number of seconds, such as 0.005 for 5 milliseconds")?,
            );
            Ok(())
        },
    },
    OptionDef {
        name: "restart-interval",
        apply: |spec, value| {
            spec.restart_interval = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "maximum-requests",
        apply: |spec, value| {
            spec.maximum_requests = unless_zero(
                unsigned(value).ok_or("a whole number of requests, 0 meaning unlimited")?,
            );
            Ok(())
        },
    },
    OptionDef {
        name: "inactivity-timeout",
        apply: |spec, value| {
            spec.inactivity_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "request-timeout",
        apply: |spec, value| {
            spec.request_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "interrupt-timeout",
        apply: |spec, value| {
            spec.interrupt_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "deadlock-timeout",
        apply: |spec, value| {
            spec.deadlock_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "startup-timeout",
        apply: |spec, value| {
            spec.startup_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "graceful-timeout",
        apply: |spec, value| {
            spec.graceful_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        // 0 is what mod_wsgi-express writes for "not set, use graceful-timeout".
        name: "eviction-timeout",
        apply: |spec, value| {
            spec.eviction_timeout = unless_zero(seconds(value).ok_or(
                "a whole number of seconds from 0 to 2147483647, 0 meaning use graceful-timeout",
            )?);
            Ok(())
        },
    },
    OptionDef {
        name: "shutdown-timeout",
        apply: |spec, value| {
            spec.shutdown_timeout = seconds(value).ok_or(SECONDS)?;
            Ok(())
        },
    },
    OptionDef {
        name: "connect-timeout",
        apply: |spec, value| {
            spec.connect_timeout = seconds(value).ok_or(SECONDS)?;
            Ok(())
        },
    },
    OptionDef {
        name: "socket-timeout",
        apply: |spec, value| {
            spec.socket_timeout = unless_zero(seconds(value).ok_or(
                "a whole number of seconds from 0 to 2147483647, 0 meaning Apache's Timeout",
            )?);
            Ok(())
        },
    },
    OptionDef {
        name: "queue-timeout",
        apply: |spec, value| {
            spec.queue_timeout = unless_zero(seconds(value).ok_or(SECONDS_OR_OFF)?);
            Ok(())
        },
    },
    OptionDef {
        name: "listen-backlog",
        apply: |spec, value| {
            spec.listen_backlog = unsigned_in(value, 0, MAX_INT)
                .ok_or("a whole number of pending connections from 0 to 2147483647")?
                as u32;
            Ok(())
        },
    },
    OptionDef {
        name: "socket-user",
        apply: |spec, value| {
            spec.socket_user = Some(unix_id(value).ok_or(USER)?);
            Ok(())
        },
    },
    OptionDef {
        name: "cpu-time-limit",
        apply: |spec, value| {
            spec.cpu_time_limit =
                unless_zero(seconds(value).ok_or(
                    "a whole number of CPU seconds from 0 to 2147483647, 0 meaning no limit",
                )?);
            Ok(())
        },
    },
    OptionDef {
        name: "cpu-priority",
        apply: |spec, value| {
            // The kernel clamps the nice value to -20..19, as it does for C.
            spec.cpu_priority =
                signed_in(value, i32::MIN, i32::MAX).ok_or("a whole number, such as -5 or 10")?;
            Ok(())
        },
    },
    OptionDef {
        name: "memory-limit",
        apply: |spec, value| {
            spec.memory_limit = unless_zero(unsigned(value).ok_or(BYTES_OR_UNLIMITED)?);
            Ok(())
        },
    },
    OptionDef {
        name: "virtual-memory-limit",
        apply: |spec, value| {
            spec.virtual_memory_limit = unless_zero(unsigned(value).ok_or(BYTES_OR_UNLIMITED)?);
            Ok(())
        },
    },
    OptionDef {
        // The spawner still raises values below the platform's thread stack
        // minimum, which differs between systems and is unknown here.
        name: "stack-size",
        apply: |spec, value| {
            spec.stack_size = Some(
                unsigned_in(value, 1, u64::MAX)
                    .ok_or("a positive number of bytes, such as 524288")?,
            );
            Ok(())
        },
    },
    OptionDef {
        name: "receive-buffer-size",
        apply: |spec, value| {
            spec.receive_buffer_size = socket_buffer_size(value).ok_or(SOCKET_BUFFER)?;
            Ok(())
        },
    },
    OptionDef {
        name: "send-buffer-size",
        apply: |spec, value| {
            spec.send_buffer_size = socket_buffer_size(value).ok_or(SOCKET_BUFFER)?;
            Ok(())
        },
    },
    OptionDef {
        name: "header-buffer-size",
        apply: |spec, value| {
            spec.header_buffer_size = match unsigned(value) {
                Some(0) => DEFAULT_HEADER_BUFFER_SIZE,
                Some(n) if (MIN_HEADER_BUFFER_SIZE..=MAX_INT).contains(&n) => n as u32,
                _ => return Err("a number of bytes from 8192 to 2147483647, or 0 for the default"),
            };
            Ok(())
        },
    },
    OptionDef {
        name: "response-buffer-size",
        apply: |spec, value| {
            spec.response_buffer_size = match unsigned(value) {
                Some(0) => DEFAULT_RESPONSE_BUFFER_SIZE,
                Some(n) if n >= MIN_RESPONSE_BUFFER_SIZE => n,
                _ => return Err("a number of bytes of at least 65536, or 0 for the default"),
            };
            Ok(())
        },
    },
    OptionDef {
        name: "response-socket-timeout",
        apply: |spec, value| {
            spec.response_socket_timeout = unless_zero(seconds(value).ok_or(
                "a whole number of seconds from 0 to 2147483647, 0 meaning use socket-timeout",
            )?);
            Ok(())
        },
    },
    OptionDef {
        // Unlike the timeouts, this one is in milliseconds.
        name: "response-flush-delay",
        apply: |spec, value| {
            spec.response_flush_delay = unsigned_in(value, 0, MAX_RESPONSE_FLUSH_DELAY_MS)
                .map(Duration::from_millis)
                .ok_or("a whole number of milliseconds from 0 to 2147483647")?;
            Ok(())
        },
    },
    OptionDef {
        name: "server-metrics",
        apply: |spec, value| {
            spec.server_metrics = on_off(value).ok_or("On or Off")?;
            Ok(())
        },
    },
    // Ours, not the C module's (docs/operations.md): after the reference's
    // options, so its option order is kept in "unknown option" errors.
    OptionDef {
        name: "maximum-requests-jitter",
        apply: |spec, value| {
            spec.maximum_requests_jitter = unless_zero(
                unsigned(value).ok_or("a whole number of requests, 0 meaning no jitter")?,
            );
            Ok(())
        },
    },
    OptionDef {
        name: "memory-recycle",
        apply: |spec, value| {
            spec.memory_recycle =
                unless_zero(bytes_with_suffix(value).ok_or(BYTES_WITH_SUFFIX_OR_OFF)?);
            Ok(())
        },
    },
];

// Value parsers. Each returns `None` for anything it does not accept; the
// option table supplies the description for the error.

/// Plain decimal digits only: no sign, no spaces, no trailing garbage that
/// C's `atoi()` would have silently dropped.
fn unsigned(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Bytes, or a number of K, M or G (1024-based, either case).
fn bytes_with_suffix(value: &str) -> Option<u64> {
    let (digits, unit) = match value.char_indices().last()? {
        (at, 'k' | 'K') => (&value[..at], 1u64 << 10),
        (at, 'm' | 'M') => (&value[..at], 1 << 20),
        (at, 'g' | 'G') => (&value[..at], 1 << 30),
        _ => (value, 1),
    };
    unsigned(digits)?.checked_mul(unit)
}

fn unsigned_in(value: &str, min: u64, max: u64) -> Option<u64> {
    unsigned(value).filter(|n| (min..=max).contains(n))
}

fn signed_in(value: &str, min: i32, max: i32) -> Option<i32> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let magnitude = i64::try_from(unsigned(digits)?).ok()?;
    let number = if negative { -magnitude } else { magnitude };
    i32::try_from(number)
        .ok()
        .filter(|n| (min..=max).contains(n))
}

/// A process or thread count no smaller than `min`.
fn count(value: &str, min: u64, expected: &'static str) -> Result<u32, &'static str> {
    unsigned_in(value, min, MAX_WORKERS)
        .map(|n| n as u32)
        .ok_or(expected)
}

fn seconds(value: &str) -> Option<Duration> {
    unsigned_in(value, 0, MAX_INT).map(Duration::from_secs)
}

/// Where the option documents 0 as "off" or "use the fallback".
fn unless_zero<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// Positive fractional seconds, as `sys.setswitchinterval()` takes them,
/// rounded to the microsecond precision Python keeps.
fn switch_interval(value: &str) -> Option<Duration> {
    // Rust's float parser also accepts "inf" and "NaN"; only plain decimal
    // and exponent notation belong in a configuration file.
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    if value.is_empty() || !value.bytes().all(numeric) {
        return None;
    }
    let secs: f64 = value.parse().ok()?;
    if !(MIN_SWITCH_INTERVAL_SECS..=MAX_SWITCH_INTERVAL_SECS).contains(&secs) {
        return None;
    }
    Some(Duration::from_micros((secs * 1e6).round() as u64))
}

fn socket_buffer_size(value: &str) -> Option<Option<u32>> {
    match unsigned_in(value, 0, MAX_INT)? {
        0 => Some(None),
        n if n >= MIN_SOCKET_BUFFER_SIZE => Some(Some(n as u32)),
        _ => None,
    }
}

fn octal_mode(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    // Like umask(2), only the permission bits count.
    u32::from_str_radix(value, 8).ok().map(|mode| mode & 0o777)
}

fn on_off(value: &str) -> Option<bool> {
    if value.eq_ignore_ascii_case("on") {
        Some(true)
    } else if value.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

/// `#1234` is a numeric id; anything else must look like an account name.
/// Colons and commas are refused because they separate fields in
/// /etc/passwd and entries in `supplementary-groups`.
fn unix_id(value: &str) -> Option<UnixId> {
    if let Some(digits) = value.strip_prefix('#') {
        return unsigned_in(digits, 0, MAX_ID).map(|id| UnixId::Id(id as u32));
    }
    let plausible = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == ',');
    plausible.then(|| UnixId::Name(value.to_string()))
}

/// Locale names never contain spaces or control characters.
fn locale_name(value: &str) -> Option<String> {
    let plausible = !value.chars().any(|c| c.is_whitespace() || c.is_control());
    plausible.then(|| value.to_string())
}

/// An empty value leaves the option unset, as mod_wsgi-express writes
/// `option=''` for settings it has no value for.
fn optional<T>(value: &str, parse: fn(&str) -> Option<T>) -> Option<Option<T>> {
    if value.is_empty() {
        Some(None)
    } else {
        parse(value).map(Some)
    }
}

fn display_name(value: &str) -> Option<DisplayName> {
    if value == "%{GROUP}" {
        return Some(DisplayName::Group);
    }
    let plausible = !value.is_empty() && !value.chars().any(char::is_control);
    plausible.then(|| DisplayName::Literal(value.to_string()))
}

fn any_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn absolute_path(value: &str) -> Option<PathBuf> {
    let path = Path::new(value);
    path.is_absolute().then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> ConfigResult<DaemonProcessSpec> {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        DaemonProcessSpec::parse(&args)
    }

    fn parse_ok(words: &[&str]) -> DaemonProcessSpec {
        parse(words).unwrap_or_else(|e| panic!("{words:?} should parse, got: {e}"))
    }

    /// The error for one option given to a group called "app".
    fn option_error(option: &str) -> ConfigError {
        parse(&["app", option]).expect_err(option)
    }

    fn assert_invalid_value(option: &str) {
        match option_error(option) {
            ConfigError::InvalidValue {
                directive, token, ..
            } => {
                assert_eq!(directive, DIRECTIVE);
                assert_eq!(token, option);
            }
            other => panic!("{option}: expected InvalidValue, got {other:?}"),
        }
    }

    #[test]
    fn name_alone_gives_documented_defaults() {
        let spec = parse_ok(&["app"]);
        assert_eq!(spec, DaemonProcessSpec::new("app"));
        assert_eq!(spec.name, "app");
        assert_eq!(spec.processes, 1);
        assert!(!spec.multiprocess);
        assert_eq!(spec.threads, 15);
        assert_eq!(spec.deadlock_timeout, Some(Duration::from_secs(300)));
        assert_eq!(spec.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(spec.connect_timeout, Duration::from_secs(15));
        assert_eq!(spec.listen_backlog, 100);
        assert_eq!(spec.cpu_priority, 0);
        assert_eq!(spec.header_buffer_size, 32_768);
        assert_eq!(spec.response_buffer_size, 8_388_608);
        assert_eq!(spec.response_flush_delay, Duration::from_millis(5));
        assert_eq!(spec.graceful_timeout, Some(Duration::from_secs(15)));
        assert!(!spec.server_metrics);
        assert_eq!(spec.request_timeout, None);
        assert_eq!(spec.socket_timeout, None);
        assert_eq!(spec.user, None);
        assert!(spec.python_path.is_empty());
        assert_eq!(spec.process_title(), None);
    }

    #[test]
    fn every_documented_option_is_recognised() {
        // Every option heading on the reference page, in its order, then ours.
        let documented = "\
            processes threads display-name home user group supplementary-groups umask lang \
            locale chroot script-user script-group python-home python-path python-eggs \
            switch-interval restart-interval maximum-requests inactivity-timeout \
            request-timeout interrupt-timeout deadlock-timeout startup-timeout \
            graceful-timeout eviction-timeout shutdown-timeout connect-timeout socket-timeout \
            queue-timeout listen-backlog socket-user cpu-time-limit cpu-priority memory-limit \
            virtual-memory-limit stack-size receive-buffer-size send-buffer-size \
            header-buffer-size response-buffer-size response-socket-timeout \
            response-flush-delay server-metrics \
            maximum-requests-jitter memory-recycle";
        let documented: Vec<&str> = documented.split_whitespace().collect();
        let table: Vec<&str> = OPTIONS.iter().map(|option| option.name).collect();
        assert_eq!(table, documented);
    }

    #[test]
    fn full_example_configuration_parses() {
        let spec = parse_ok(&[
            "www.site1.com",
            "user=joe",
            "group=joe",
            "processes=2",
            "threads=25",
            "display-name=%{GROUP}",
            "lang=en_US.UTF-8",
            "locale=en_US.UTF-8",
            "queue-timeout=45",
            "socket-timeout=60",
            "connect-timeout=15",
            "request-timeout=60",
            "interrupt-timeout=0",
            "inactivity-timeout=0",
            "startup-timeout=15",
            "deadlock-timeout=60",
            "graceful-timeout=15",
            "eviction-timeout=0",
            "restart-interval=0",
            "shutdown-timeout=5",
            "maximum-requests=0",
        ]);
        assert_eq!(spec.name, "www.site1.com");
        assert_eq!(spec.user, Some(UnixId::Name("joe".into())));
        assert_eq!(spec.group, Some(UnixId::Name("joe".into())));
        assert_eq!((spec.processes, spec.threads), (2, 25));
        assert!(spec.multiprocess);
        assert_eq!(
            spec.process_title().as_deref(),
            Some("(wsgi:www.site1.com)")
        );
        assert_eq!(spec.lang.as_deref(), Some("en_US.UTF-8"));
        assert_eq!(spec.locale.as_deref(), Some("en_US.UTF-8"));
        assert_eq!(spec.queue_timeout, Some(Duration::from_secs(45)));
        assert_eq!(spec.socket_timeout, Some(Duration::from_secs(60)));
        assert_eq!(spec.request_timeout, Some(Duration::from_secs(60)));
        assert_eq!(spec.interrupt_timeout, None);
        assert_eq!(spec.inactivity_timeout, None);
        assert_eq!(spec.startup_timeout, Some(Duration::from_secs(15)));
        assert_eq!(spec.deadlock_timeout, Some(Duration::from_secs(60)));
        assert_eq!(spec.graceful_timeout, Some(Duration::from_secs(15)));
        assert_eq!(spec.eviction_timeout, None);
        assert_eq!(
            spec.effective_eviction_timeout(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(spec.restart_interval, None);
        assert_eq!(spec.maximum_requests, None);
    }

    #[test]
    fn explicit_processes_one_sets_multiprocess() {
        let spec = parse_ok(&["app", "processes=1"]);
        assert_eq!(spec.processes, 1);
        assert!(spec.multiprocess);
        assert!(!parse_ok(&["app", "threads=3"]).multiprocess);
    }

    #[test]
    fn process_and_thread_counts_are_range_checked() {
        for bad in [
            "processes=0",
            "processes=-1",
            "processes=10001",
            "processes=two",
            "processes=",
            "processes= 2",
            "processes=+2",
            "processes=2.5",
            "threads=-1",
            "threads=10001",
            "threads=5x",
        ] {
            assert_invalid_value(bad);
        }
        assert_eq!(parse_ok(&["app", "processes=10000"]).processes, 10_000);
    }

    #[test]
    fn zero_threads_selects_managed_mode() {
        let spec = parse_ok(&["app", "threads=0"]);
        assert_eq!(spec.threads, 0);
        assert!(spec.is_managed_mode());
        assert!(!parse_ok(&["app"]).is_managed_mode());
    }

    #[test]
    fn display_name_group_form_and_literal() {
        let spec = parse_ok(&["app", "display-name=%{GROUP}"]);
        assert_eq!(spec.display_name, Some(DisplayName::Group));
        assert_eq!(spec.process_title().as_deref(), Some("(wsgi:app)"));

        let spec = parse_ok(&["app", "display-name=my worker"]);
        assert_eq!(spec.process_title().as_deref(), Some("my worker"));
        // mod_wsgi-express may write an empty value: the title is left alone.
        assert_eq!(parse_ok(&["app", "display-name="]).process_title(), None);
        assert_invalid_value("display-name=a\u{7}b");
    }

    #[test]
    fn user_and_group_accept_names_and_numeric_ids() {
        let spec = parse_ok(&["app", "user=#1001", "group=www-data", "socket-user=#33"]);
        assert_eq!(spec.user, Some(UnixId::Id(1001)));
        assert_eq!(spec.group, Some(UnixId::Name("www-data".into())));
        assert_eq!(spec.socket_user, Some(UnixId::Id(33)));
        for bad in [
            "user=",
            "user=#",
            "user=#abc",
            "user=#-1",
            "user=#4294967295",
            "group=a b",
            "group=a:b",
        ] {
            assert_invalid_value(bad);
        }
    }

    #[test]
    fn running_as_root_is_refused() {
        for option in ["user=root", "user=#0"] {
            let err = option_error(option);
            assert!(
                matches!(err, ConfigError::Invalid { .. }),
                "{option}: {err:?}"
            );
            let text = err.to_string();
            assert!(text.starts_with("WSGIDaemonProcess: "), "{text}");
            assert!(text.contains("root"), "{text}");
        }
        // The root *group* is not forbidden.
        assert_eq!(parse_ok(&["app", "group=#0"]).group, Some(UnixId::Id(0)));
    }

    #[test]
    fn supplementary_groups_is_a_comma_list() {
        let spec = parse_ok(&["app", "supplementary-groups=adm,#44,video"]);
        assert_eq!(
            spec.supplementary_groups,
            vec![
                UnixId::Name("adm".into()),
                UnixId::Id(44),
                UnixId::Name("video".into())
            ]
        );
        // Empty entries are skipped, as the C module accepts them.
        assert_eq!(
            parse_ok(&["app", "supplementary-groups=adm,,video"]).supplementary_groups,
            vec![UnixId::Name("adm".into()), UnixId::Name("video".into())]
        );
        assert!(parse_ok(&["app", "supplementary-groups="])
            .supplementary_groups
            .is_empty());
        assert_invalid_value("supplementary-groups=adm,bad:name");
    }

    #[test]
    fn umask_is_octal() {
        assert_eq!(parse_ok(&["app", "umask=0022"]).umask, Some(0o22));
        assert_eq!(parse_ok(&["app", "umask=007"]).umask, Some(0o7));
        // Only the permission bits count, as for umask(2).
        assert_eq!(parse_ok(&["app", "umask=01777"]).umask, Some(0o777));
        for bad in ["umask=0089", "umask=-022", "umask=0x12", "umask="] {
            assert_invalid_value(bad);
        }
    }

    #[test]
    fn locales_are_single_words() {
        let spec = parse_ok(&["app", "lang=C.UTF-8", "locale=de_DE@euro"]);
        assert_eq!(spec.lang.as_deref(), Some("C.UTF-8"));
        assert_eq!(spec.locale.as_deref(), Some("de_DE@euro"));
        let spec = parse_ok(&["app", "lang=", "locale="]);
        assert_eq!((spec.lang, spec.locale), (None, None));
        assert_invalid_value("locale=en US");
    }

    #[test]
    fn home_and_chroot_must_be_absolute() {
        let spec = parse_ok(&[
            "app",
            "home=/srv/app",
            "python-home=/srv/venv",
            "chroot=/jail",
        ]);
        assert_eq!(spec.home, Some(PathBuf::from("/srv/app")));
        assert_eq!(spec.python_home, Some(PathBuf::from("/srv/venv")));
        assert_eq!(spec.chroot, Some(PathBuf::from("/jail")));
        for bad in ["home=srv/app", "home=", "chroot=./jail", "chroot="] {
            assert_invalid_value(bad);
        }
        // python-home is taken as written, as the C module does; empty is unset.
        assert_eq!(
            parse_ok(&["app", "python-home=venv"]).python_home,
            Some(PathBuf::from("venv"))
        );
        assert_eq!(parse_ok(&["app", "python-home="]).python_home, None);
    }

    #[test]
    fn python_path_and_eggs() {
        let spec = parse_ok(&[
            "app",
            "python-path=/srv/app:/srv/lib",
            "python-eggs=/tmp/eggs",
        ]);
        assert_eq!(
            spec.python_path,
            vec![PathBuf::from("/srv/app"), PathBuf::from("/srv/lib")]
        );
        assert_eq!(spec.python_eggs, Some(PathBuf::from("/tmp/eggs")));
        assert_eq!(
            parse_ok(&["app", "python-path=/one"]).python_path,
            vec![PathBuf::from("/one")]
        );
        // Empty entries add nothing; `python-path=''` means no extra path.
        assert_eq!(
            parse_ok(&["app", "python-path=/a::/b:"]).python_path,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert!(parse_ok(&["app", "python-path="]).python_path.is_empty());
        assert_eq!(parse_ok(&["app", "python-eggs="]).python_eggs, None);
    }

    #[test]
    fn switch_interval_takes_fractional_seconds() {
        let interval =
            |v: &str| parse_ok(&["app", &format!("switch-interval={v}")]).switch_interval;
        assert_eq!(interval("0.002"), Some(Duration::from_millis(2)));
        assert_eq!(interval("0.0001"), Some(Duration::from_micros(100)));
        assert_eq!(interval("1"), Some(Duration::from_secs(1)));
        assert_eq!(interval("5"), Some(Duration::from_secs(5)));
        assert_eq!(interval("5e-3"), Some(Duration::from_millis(5)));
        assert_eq!(interval("0.000001"), Some(Duration::from_micros(1)));
        for bad in ["0", "-0.005", "0.0000001", "inf", "NaN", "2ms", "", "."] {
            assert_invalid_value(&format!("switch-interval={bad}"));
        }
    }

    #[test]
    fn timeouts_are_whole_seconds_with_zero_meaning_off() {
        let spec = parse_ok(&[
            "app",
            "request-timeout=60",
            "interrupt-timeout=10",
            "inactivity-timeout=300",
            "restart-interval=3600",
            "cpu-time-limit=120",
            "response-socket-timeout=30",
            "deadlock-timeout=0",
            "shutdown-timeout=0",
        ]);
        assert_eq!(spec.request_timeout, Some(Duration::from_secs(60)));
        assert_eq!(spec.interrupt_timeout, Some(Duration::from_secs(10)));
        assert_eq!(spec.inactivity_timeout, Some(Duration::from_secs(300)));
        assert_eq!(spec.restart_interval, Some(Duration::from_secs(3600)));
        assert_eq!(spec.cpu_time_limit, Some(Duration::from_secs(120)));
        assert_eq!(spec.response_socket_timeout, Some(Duration::from_secs(30)));
        assert_eq!(spec.deadlock_timeout, None);
        // shutdown-timeout has no "off": 0 means kill without waiting.
        assert_eq!(spec.shutdown_timeout, Duration::ZERO);
        assert_eq!(parse_ok(&["app", "socket-timeout=0"]).socket_timeout, None);

        for bad in [
            "request-timeout=1.5",
            "request-timeout=-1",
            "request-timeout=60s",
            "socket-timeout=2147483648",
            "connect-timeout=",
            "graceful-timeout=abc",
        ] {
            assert_invalid_value(bad);
        }
    }

    #[test]
    fn eviction_timeout_falls_back_to_graceful_timeout() {
        // graceful-timeout defaults to 15 seconds, as in the C module.
        assert_eq!(
            parse_ok(&["app"]).effective_eviction_timeout(),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            parse_ok(&["app", "graceful-timeout=0"]).effective_eviction_timeout(),
            None
        );
        let spec = parse_ok(&["app", "graceful-timeout=15", "eviction-timeout=30"]);
        assert_eq!(
            spec.effective_eviction_timeout(),
            Some(Duration::from_secs(30))
        );
        let spec = parse_ok(&["app", "graceful-timeout=15"]);
        assert_eq!(
            spec.effective_eviction_timeout(),
            Some(Duration::from_secs(15))
        );
    }

    #[test]
    fn response_flush_delay_is_in_milliseconds() {
        assert_eq!(
            parse_ok(&["app", "response-flush-delay=20"]).response_flush_delay,
            Duration::from_millis(20)
        );
        assert_eq!(
            parse_ok(&["app", "response-flush-delay=0"]).response_flush_delay,
            Duration::ZERO
        );
        assert_eq!(
            parse_ok(&["app", "response-flush-delay=60001"]).response_flush_delay,
            Duration::from_millis(60_001)
        );
        assert_invalid_value("response-flush-delay=0.5");
        assert_invalid_value("response-flush-delay=-1");
    }

    #[test]
    fn memory_recycle_and_jitter_are_ours_with_byte_suffixes() {
        let spec = parse_ok(&["app", "memory-recycle=512M", "maximum-requests-jitter=20"]);
        assert_eq!(spec.memory_recycle, Some(512 << 20));
        assert_eq!(spec.maximum_requests_jitter, Some(20));
        for (value, bytes) in [("4096", 4096), ("64k", 64 << 10), ("2G", 2 << 30)] {
            let option = format!("memory-recycle={value}");
            assert_eq!(parse_ok(&["app", &option]).memory_recycle, Some(bytes));
        }
        assert_eq!(parse_ok(&["app", "memory-recycle=0"]).memory_recycle, None);
        for bad in [
            "memory-recycle=M",
            "memory-recycle=1.5G",
            "memory-recycle=10T",
            "memory-recycle=-1",
            "memory-recycle=99999999999G",
            "maximum-requests-jitter=x",
        ] {
            assert_invalid_value(bad);
        }
    }

    #[test]
    fn maximum_requests_and_backlog() {
        assert_eq!(
            parse_ok(&["app", "maximum-requests=1000"]).maximum_requests,
            Some(1000)
        );
        assert_eq!(parse_ok(&["app", "listen-backlog=500"]).listen_backlog, 500);
        assert_invalid_value("maximum-requests=-5");
        assert_eq!(parse_ok(&["app", "listen-backlog=0"]).listen_backlog, 0);
        assert_invalid_value("listen-backlog=-5");
        assert_invalid_value("listen-backlog=2147483648");
    }

    #[test]
    fn cpu_priority_is_a_signed_whole_number() {
        assert_eq!(parse_ok(&["app", "cpu-priority=-20"]).cpu_priority, -20);
        assert_eq!(parse_ok(&["app", "cpu-priority=20"]).cpu_priority, 20);
        assert_eq!(parse_ok(&["app", "cpu-priority=+5"]).cpu_priority, 5);
        // Out-of-range nice values are clamped by the kernel, not refused.
        assert_eq!(parse_ok(&["app", "cpu-priority=-21"]).cpu_priority, -21);
        for bad in ["cpu-priority=--1", "cpu-priority=-", "cpu-priority=1e1"] {
            assert_invalid_value(bad);
        }
    }

    #[test]
    fn sizes_are_bytes_with_documented_floors() {
        let spec = parse_ok(&[
            "app",
            "memory-limit=1073741824",
            "virtual-memory-limit=0",
            "stack-size=524288",
            "receive-buffer-size=65536",
            "send-buffer-size=0",
            "header-buffer-size=65536",
            "response-buffer-size=65536",
        ]);
        assert_eq!(spec.memory_limit, Some(1_073_741_824));
        assert_eq!(spec.virtual_memory_limit, None);
        assert_eq!(spec.stack_size, Some(524_288));
        assert_eq!(spec.receive_buffer_size, Some(65_536));
        assert_eq!(spec.send_buffer_size, None);
        assert_eq!(spec.header_buffer_size, 65_536);
        assert_eq!(spec.response_buffer_size, 65_536);

        // 0, as mod_wsgi-express writes when unset, means the default.
        let spec = parse_ok(&["app", "header-buffer-size=0", "response-buffer-size=0"]);
        assert_eq!(spec.header_buffer_size, DEFAULT_HEADER_BUFFER_SIZE);
        assert_eq!(spec.response_buffer_size, DEFAULT_RESPONSE_BUFFER_SIZE);

        for bad in [
            "response-buffer-size=65535",
            "header-buffer-size=8191",
            "send-buffer-size=100",
            "receive-buffer-size=2147483648",
            "stack-size=0",
            "memory-limit=512M",
            "memory-limit=-1",
        ] {
            assert_invalid_value(bad);
        }
    }

    #[test]
    fn server_metrics_is_on_off() {
        assert!(parse_ok(&["app", "server-metrics=On"]).server_metrics);
        assert!(parse_ok(&["app", "server-metrics=on"]).server_metrics);
        assert!(!parse_ok(&["app", "server-metrics=OFF"]).server_metrics);
        assert_invalid_value("server-metrics=yes");
        assert_invalid_value("server-metrics=1");
    }

    #[test]
    fn invalid_value_message_names_directive_token_and_accepted_form() {
        let text = option_error("threads=lots").to_string();
        assert!(text.starts_with("WSGIDaemonProcess: "), "{text}");
        assert!(text.contains("'threads=lots'"), "{text}");
        assert!(text.contains("0 to 10000"), "{text}");
    }

    #[test]
    fn unknown_option_lists_accepted_names() {
        let err = option_error("thread=5");
        match &err {
            ConfigError::UnknownOption {
                directive,
                option,
                accepted,
            } => {
                assert_eq!(*directive, DIRECTIVE);
                assert_eq!(option, "thread");
                assert!(
                    accepted.starts_with("processes, threads, display-name"),
                    "{accepted}"
                );
                assert!(accepted.contains("server-metrics"), "{accepted}");
            }
            other => panic!("expected UnknownOption, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("unknown option 'thread'"), "{text}");
        assert!(text.contains("switch-interval"), "{text}");
        // Option names are case-sensitive, as in the C module.
        assert!(matches!(
            option_error("Threads=5"),
            ConfigError::UnknownOption { .. }
        ));
    }

    #[test]
    fn repeated_option_is_rejected() {
        let err = parse(&["app", "threads=5", "processes=2", "threads=10"]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::DuplicateOption {
                directive: DIRECTIVE,
                option: "threads".into()
            }
        );
        assert!(err.to_string().contains("'threads' given more than once"));
        // lang and locale are different options and may both be given.
        parse_ok(&["app", "lang=C.UTF-8", "locale=C.UTF-8"]);
    }

    #[test]
    fn token_without_equals_is_explained() {
        let text = option_error("threads").to_string();
        assert!(
            text.contains("'threads' needs a value") && text.contains("threads=VALUE"),
            "{text}"
        );

        let text = option_error("extra").to_string();
        assert!(
            text.contains("unexpected argument 'extra'") && text.contains("name=value"),
            "{text}"
        );

        let text = option_error("=5").to_string();
        assert!(
            text.contains("option name missing") && text.contains("'=5'"),
            "{text}"
        );
    }

    #[test]
    fn missing_or_bad_group_name() {
        assert!(matches!(
            parse(&[]),
            Err(ConfigError::ArgumentCount {
                directive: DIRECTIVE,
                ..
            })
        ));
        let err = parse(&[""]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }));
        assert!(err.to_string().contains("name must not be empty"));
        let err = parse(&["threads=5"]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }));
        assert!(err.to_string().contains("'threads=5' looks like an option"));
    }

    #[test]
    fn script_user_and_script_group_are_exclusive() {
        assert_eq!(
            parse_ok(&["app", "script-user=joe"]).script_user,
            Some(UnixId::Name("joe".into()))
        );
        assert_eq!(
            parse_ok(&["app", "script-group=#50"]).script_group,
            Some(UnixId::Id(50))
        );
        let err = parse(&["app", "script-user=joe", "script-group=staff"]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }));
        let text = err.to_string();
        assert!(
            text.contains("script-user") && text.contains("script-group"),
            "{text}"
        );
    }

    #[test]
    fn value_may_contain_equals_sign() {
        let spec = parse_ok(&["app", "display-name=a=b"]);
        assert_eq!(spec.process_title().as_deref(), Some("a=b"));
    }
}
