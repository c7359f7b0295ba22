//! Integration-test harness: starts a real Apache httpd with the module
//! loaded, talks HTTP/1.1 to it over 127.0.0.1 and exposes its logs.
//!
//! Environment:
//! * `MOD_WSGI_SO`      absolute path of the built module
//!   (default `<CARGO_MANIFEST_DIR>/target/release/libmod_wsgi.so`).
//! * `MOD_WSGI_SO_FAULTS` the same module built with `--features
//!   fault-injection` (required by `tests/panic_safety.rs`).
//! * `MOD_WSGI_PYTHON`  python executable the module was built against
//!   (default `python3`), used to compute expected values.
//! * `MOD_WSGI_APACHE`  httpd binary (default `/usr/sbin/apache2`).
//! * `MOD_WSGI_APACHE_MODULES` directory of Apache modules
//!   (default `/usr/lib/apache2/modules`).
//! * `KEEP_TEST_ROOTS`  if set, server roots are not removed on drop.
//! * `MOD_WSGI_SKIP_REPORT` file to which [`skipped`] appends one line per
//!   test that did not run its check (`scripts/test.sh` sets it and lists
//!   them in its summary).
//!
//! Only std and libc are used.

#![allow(dead_code)]

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub mod apache_info;
pub mod daemon_app;
pub mod differential;
pub mod express;
pub mod framework_apps;
pub mod json;
pub mod load;
pub mod procs;
pub mod raw;
pub mod telemetry;
pub mod venv;

/// Expands `body_fn` (a `fn(Mpm)`) into one `#[test]` per MPM. Test files
/// declare `#[macro_use] mod common;` to use it (not every file does).
#[allow(unused_macros)]
macro_rules! mpm_tests {
    ($body:ident => $event:ident, $worker:ident, $prefork:ident) => {
        #[test]
        fn $event() {
            $body(crate::common::Mpm::Event)
        }
        #[test]
        fn $worker() {
            $body(crate::common::Mpm::Worker)
        }
        #[test]
        fn $prefork() {
            $body(crate::common::Mpm::Prefork)
        }
    };
}

pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const START_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long processes of a stopped server may take to go away before they
/// count as left behind.
const LEFTOVER_GRACE: Duration = Duration::from_secs(5);
/// Longest wait for Apache's children to go idle before stopping them.
const QUIET_TIMEOUT: Duration = Duration::from_millis(500);
const START_ATTEMPTS: usize = 4;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------
// Skipped tests
// ---------------------------------------------------------------------------

/// Records that the calling test is about to return without checking what
/// it exists to check, because `reason` (a precondition that depends on the
/// caller's choice, such as an environment variable or the Python under
/// test, never one this machine must meet: those fail instead).
///
/// libtest has no run-time skip: the test still reports `ok`. So the
/// `SKIPPED:` line is written straight to the process's stderr, which
/// libtest does not capture (it captures only `print!`/`eprint!`), and is
/// appended to the file named by `MOD_WSGI_SKIP_REPORT` so that
/// `scripts/test.sh` can list every skipped test in its summary.
pub fn skipped(reason: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    let line = format!("SKIPPED: {}::{test}: {reason}\n", env!("CARGO_CRATE_NAME"));
    let _ = io::stderr().write_all(line.as_bytes());
    if let Some(report) = std::env::var_os("MOD_WSGI_SKIP_REPORT") {
        let written = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&report)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("cannot record the skip in MOD_WSGI_SKIP_REPORT ({report:?}): {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// Environment / expected values
// ---------------------------------------------------------------------------

/// Absolute path of the module under test.
pub fn module_path() -> PathBuf {
    match std::env::var_os("MOD_WSGI_SO") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/libmod_wsgi.so"),
    }
}

/// Python executable the module was built against.
pub fn python_exe() -> String {
    match std::env::var("MOD_WSGI_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => "python3".to_string(),
    }
}

pub fn apache_bin() -> String {
    std::env::var("MOD_WSGI_APACHE").unwrap_or_else(|_| "/usr/sbin/apache2".to_string())
}

pub fn apache_modules_dir() -> String {
    std::env::var("MOD_WSGI_APACHE_MODULES")
        .unwrap_or_else(|_| "/usr/lib/apache2/modules".to_string())
}

/// Run `MOD_WSGI_PYTHON -c code` with extra environment; returns trimmed stdout.
/// Python-related variables inherited from the test runner are removed first.
pub fn python_eval(code: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(python_exe());
    cmd.arg("-c").arg(code);
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("PYTHON") {
                cmd.env_remove(k);
            }
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} -c: {e}", python_exe()));
    assert!(
        out.status.success(),
        "{} -c {:?} failed: {}",
        python_exe(),
        code,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Facts about MOD_WSGI_PYTHON, computed once.
pub struct PythonInfo {
    pub major: u32,
    pub minor: u32,
    pub prefix: String,
    pub exec_prefix: String,
    pub base_prefix: String,
    /// Real paths that www-data must be able to traverse.
    pub real_paths: Vec<String>,
}

impl PythonInfo {
    /// "3.12"
    pub fn version(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

pub fn python_info() -> &'static PythonInfo {
    static INFO: OnceLock<PythonInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let code = "import sys, os, sysconfig\n\
                    print(sys.version_info[0]); print(sys.version_info[1])\n\
                    print(sys.prefix); print(sys.exec_prefix); print(sys.base_prefix)\n\
                    paths = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,\n\
                             os.path.dirname(os.__file__), sysconfig.get_config_var('LIBDIR') or sys.prefix]\n\
                    for p in paths: print('REAL:' + os.path.realpath(p))\n";
        let out = python_eval(code, &[]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() >= 5, "unexpected python info output: {out}");
        let real_paths = lines
            .iter()
            .filter_map(|l| l.strip_prefix("REAL:"))
            .map(|s| s.to_string())
            .collect();
        PythonInfo {
            major: lines[0].parse().expect("major"),
            minor: lines[1].parse().expect("minor"),
            prefix: lines[2].to_string(),
            exec_prefix: lines[3].to_string(),
            base_prefix: lines[4].to_string(),
            real_paths,
        }
    })
}

/// Add permission bits (never removes any) to a path with libc::chmod.
pub(crate) fn add_mode_bits(path: &Path, bits: u32) {
    let Ok(meta) = fs::metadata(path) else { return };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & bits == bits {
        return;
    }
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    unsafe {
        libc::chmod(c.as_ptr(), (mode | bits) as libc::mode_t);
    }
}

/// Make sure www-data can reach the Python install: every ancestor of the
/// (real) prefix paths, and those paths themselves, get o+x. Idempotent.
pub fn ensure_python_reachable() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        for p in &python_info().real_paths {
            add_mode_bits_up_to_root(Path::new(p.as_str()), 0o001);
        }
    });
}

/// `add_mode_bits` on `path` and each of its ancestors.
pub(crate) fn add_mode_bits_up_to_root(path: &Path, bits: u32) {
    let mut cur = Some(path);
    while let Some(dir) = cur {
        if dir.as_os_str().is_empty() {
            break;
        }
        add_mode_bits(dir, bits);
        cur = dir.parent();
    }
}

/// Lets www-data traverse every ancestor of another Python's install.
fn make_reachable(python: &str) {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, os; print(os.path.realpath(sys.base_prefix))",
        ])
        .output()
        .expect("run the other python");
    let prefix = String::from_utf8_lossy(&out.stdout).trim().to_string();
    add_mode_bits_up_to_root(Path::new(prefix.as_str()), 0o005);
}

/// Hands a file to the user Apache's children run as.
pub fn chown_www_data(path: &Path) {
    let (uid, gid) = www_data_ids();
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated path.
    unsafe {
        libc::chown(c.as_ptr(), uid, gid);
    }
}

fn www_data_ids() -> (libc::uid_t, libc::gid_t) {
    let name = CString::new("www-data").unwrap();
    // SAFETY: getpwnam returns a pointer to static storage or NULL.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            (33, 33)
        } else {
            ((*pw).pw_uid, (*pw).pw_gid)
        }
    }
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Worker,
    Prefork,
}

impl Mpm {
    pub fn name(self) -> &'static str {
        match self {
            Mpm::Event => "event",
            Mpm::Worker => "worker",
            Mpm::Prefork => "prefork",
        }
    }
    pub fn is_threaded(self) -> bool {
        self != Mpm::Prefork
    }
}

pub struct ServerBuilder {
    root: PathBuf,
    mpm: Mpm,
    config: String,
    files: Vec<(String, Vec<u8>)>,
    writable_dirs: Vec<String>,
    log_level: String,
    wsgi: bool,
    single_process: bool,
    extra_modules: Vec<String>,
    /// A module (and the Python it embeds) other than MOD_WSGI_SO's.
    module_override: Option<(PathBuf, String)>,
    /// Variables added to Apache's otherwise cleared environment.
    extra_env: Vec<(String, String)>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerBuilder {
    pub fn new() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = PathBuf::from(format!("/tmp/mod_wsgi-test-{}-{}", std::process::id(), n));
        ServerBuilder {
            root,
            mpm: Mpm::Event,
            config: String::new(),
            files: Vec::new(),
            writable_dirs: Vec::new(),
            log_level: "info".to_string(),
            wsgi: true,
            single_process: false,
            extra_modules: Vec::new(),
            module_override: None,
            extra_env: Vec::new(),
        }
    }

    /// The server root this builder will use (known before `start()`).
    pub fn root_path(&self) -> &Path {
        &self.root
    }

    pub fn mpm(mut self, mpm: Mpm) -> Self {
        self.mpm = mpm;
        self
    }

    /// Append raw httpd.conf text (after the LoadModule for wsgi).
    /// `{root}` is replaced by the server root, `{port}` by the port.
    pub fn config(mut self, text: &str) -> Self {
        self.config.push_str(text);
        self.config.push('\n');
        self
    }

    /// Write a file (mode 0644) at `rel_path` under the server root;
    /// parent directories are created with mode 0755. `{root}` and
    /// `{port}` are NOT substituted in file contents.
    pub fn file(mut self, rel_path: &str, contents: impl AsRef<[u8]>) -> Self {
        self.files
            .push((rel_path.to_string(), contents.as_ref().to_vec()));
        self
    }

    /// Create a directory under the server root owned by www-data (0755).
    pub fn writable_dir(mut self, rel_path: &str) -> Self {
        self.writable_dirs.push(rel_path.to_string());
        self
    }

    /// LogLevel line argument(s), e.g. "warn" or "info wsgi:debug".
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_string();
        self
    }

    /// Do not load the wsgi module (to test the harness on plain Apache).
    pub fn without_wsgi(mut self) -> Self {
        self.wsgi = false;
        self
    }

    /// Limit Apache to exactly one child process (prefork: one child with
    /// one worker; threaded MPMs: one child with several threads) so that
    /// per-process Python state is observable across requests.
    pub fn single_process(mut self) -> Self {
        self.single_process = true;
        self
    }

    /// Load an extra Debian module by short name, e.g. "headers".
    /// Loads `so` (built against `python`) instead of MOD_WSGI_SO.
    pub fn module_path(mut self, so: &Path, python: &str) -> Self {
        self.module_override = Some((so.to_path_buf(), python.to_string()));
        self
    }

    fn wsgi_module_path(&self) -> PathBuf {
        match &self.module_override {
            Some((so, _)) => so.clone(),
            None => module_path(),
        }
    }

    /// Sets `name=value` in Apache's process environment (inherited by
    /// its children and daemon processes).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.extra_env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn module(mut self, short: &str) -> Self {
        self.extra_modules.push(short.to_string());
        self
    }

    fn mpm_config(&self) -> String {
        match (self.mpm, self.single_process) {
            (Mpm::Prefork, false) => "<IfModule mpm_prefork_module>\n  StartServers 2\n  MinSpareServers 1\n  MaxSpareServers 3\n  ServerLimit 3\n  MaxRequestWorkers 3\n  MaxConnectionsPerChild 0\n</IfModule>\n".into(),
            (Mpm::Prefork, true) => "<IfModule mpm_prefork_module>\n  StartServers 1\n  MinSpareServers 1\n  MaxSpareServers 1\n  ServerLimit 1\n  MaxRequestWorkers 1\n  MaxConnectionsPerChild 0\n</IfModule>\n".into(),
            (_, false) => "StartServers 2\nServerLimit 2\nThreadLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\nMaxConnectionsPerChild 0\n".into(),
            (_, true) => "StartServers 1\nServerLimit 1\nThreadLimit 4\nThreadsPerChild 4\nMaxRequestWorkers 4\nMinSpareThreads 1\nMaxSpareThreads 4\nMaxConnectionsPerChild 0\n".into(),
        }
    }

    fn render_conf(&self, root: &Path, port: u16) -> String {
        let root_s = root.display().to_string();
        let mods = apache_modules_dir();
        let mut c = String::new();
        c.push_str(&format!("ServerRoot \"{root_s}\"\n"));
        c.push_str(&format!("DefaultRuntimeDir \"{root_s}/run\"\n"));
        c.push_str(&format!("Listen 127.0.0.1:{port}\n"));
        c.push_str("ServerName 127.0.0.1\n");
        c.push_str(&format!("PidFile \"{root_s}/run/httpd.pid\"\n"));
        c.push_str(&format!("ErrorLog \"{root_s}/error_log\"\n"));
        c.push_str(&format!("LogLevel {}\n", self.log_level));
        c.push_str("User www-data\nGroup www-data\n");
        let mpm_mod = format!("mpm_{}", self.mpm.name());
        let mut modules: Vec<String> = vec![
            mpm_mod,
            "authz_core".into(),
            "authz_host".into(),
            "mime".into(),
            "alias".into(),
            "dir".into(),
        ];
        for m in &self.extra_modules {
            if !modules.contains(m) {
                modules.push(m.clone());
            }
        }
        for m in &modules {
            c.push_str(&format!("LoadModule {m}_module \"{mods}/mod_{m}.so\"\n"));
        }
        c.push_str("TypesConfig /etc/mime.types\n");
        c.push_str("Timeout 30\nKeepAlive Off\nHostnameLookups Off\n");
        c.push_str(&self.mpm_config());
        c.push_str(&format!("DocumentRoot \"{root_s}/htdocs\"\n"));
        c.push_str("<Directory />\n  AllowOverride None\n  Require all denied\n</Directory>\n");
        c.push_str(&format!(
            "<Directory \"{root_s}\">\n  AllowOverride None\n  Require all granted\n</Directory>\n"
        ));
        c.push_str("DirectoryIndex index.html\n");
        if self.wsgi {
            c.push_str(&format!(
                "LoadModule wsgi_module \"{}\"\n",
                self.wsgi_module_path().display()
            ));
        }
        let user = self
            .config
            .replace("{root}", &root_s)
            .replace("{port}", &port.to_string());
        c.push_str(&user);
        c.push('\n');
        c
    }

    fn prepare_root(&self) -> PathBuf {
        if self.wsgi {
            let so = self.wsgi_module_path();
            assert!(
                so.is_file(),
                "module not found at {} (build it, or set MOD_WSGI_SO)",
                so.display()
            );
            match &self.module_override {
                Some((_, python)) => make_reachable(python),
                None => ensure_python_reachable(),
            }
        }
        let root = self.root.clone();
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create server root");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["run", "htdocs"] {
            let p = root.join(d);
            fs::create_dir_all(&p).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        for (rel, data) in &self.files {
            let p = root.join(rel);
            if let Some(parent) = p.parent() {
                mkdirs_0755(&root, parent);
            }
            fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        }
        for rel in &self.writable_dirs {
            let p = root.join(rel);
            mkdirs_0755(&root, &p);
            chown_www_data(&p);
        }
        root
    }

    /// Run `apache2 -t -f conf`. Returns (success, combined output).
    pub fn configtest(self) -> (bool, String) {
        let root = self.prepare_root();
        let port = free_port();
        let conf = root.join("httpd.conf");
        fs::write(&conf, self.render_conf(&root, port)).unwrap();
        let out = apache_command(&conf, &self.extra_env)
            .arg("-t")
            .stdin(Stdio::null())
            .output()
            .expect("run apache2 -t");
        let mut text = String::from_utf8_lossy(&out.stdout).to_string();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        if let Ok(log) = fs::read_to_string(root.join("error_log")) {
            text.push_str(&log);
        }
        cleanup_root(&root);
        (out.status.success(), text)
    }

    /// Start Apache in the foreground and wait until it accepts connections.
    pub fn start(self) -> Server {
        let root = self.prepare_root();
        let mut last_err = String::new();
        for attempt in 0..START_ATTEMPTS {
            let port = free_port();
            let conf = root.join("httpd.conf");
            fs::write(&conf, self.render_conf(&root, port)).unwrap();
            let _ = fs::remove_file(root.join("error_log"));
            let _ = fs::remove_file(root.join("run/httpd.pid"));
            let out_path = root.join("apache_stdio.log");
            let out = fs::File::create(&out_path).unwrap();
            let err = out.try_clone().unwrap();
            let child = apache_command(&conf, &self.extra_env)
                .arg("-DFOREGROUND")
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .process_group(0)
                .spawn()
                .expect("spawn apache2");
            let mut server = Server {
                root: root.clone(),
                port,
                child: Some(child),
                mpm: self.mpm,
                conf,
                owns_root: true,
            };
            match server.wait_until_up() {
                Ok(()) => return server,
                Err(msg) => {
                    let addr_in_use =
                        msg.contains("Address already in use") || msg.contains("could not bind");
                    server.stop();
                    server.owns_root = false;
                    drop(server);
                    last_err = msg;
                    if !addr_in_use {
                        break;
                    }
                    eprintln!("attempt {attempt}: port {port} busy, retrying");
                }
            }
        }
        cleanup_root(&root);
        panic!("Apache failed to start:\n{last_err}");
    }
}

fn mkdirs_0755(root: &Path, dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d == root || !d.starts_with(root) {
            break;
        }
        let _ = fs::set_permissions(d, fs::Permissions::from_mode(0o755));
        cur = d.parent();
    }
}

fn cleanup_root(root: &Path) {
    if std::env::var_os("KEEP_TEST_ROOTS").is_none() {
        let _ = fs::remove_dir_all(root);
    } else {
        eprintln!("keeping server root {}", root.display());
    }
}

fn apache_command(conf: &Path, extra_env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(apache_bin());
    cmd.arg("-f").arg(conf);
    // Self-contained environment: don't leak PYTHON* variables of the runner
    // into the embedded interpreter.
    cmd.env_clear();
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    cmd.env("LANG", "C.UTF-8");
    if let Some(v) = std::env::var_os("LD_LIBRARY_PATH") {
        cmd.env("LD_LIBRARY_PATH", v);
    }
    cmd.envs(extra_env.iter().map(|(name, value)| (name, value)));
    cmd
}

/// Pick a currently-free port on 127.0.0.1 (bind port 0, read, release),
/// never one this test process has handed out before: the kernel may offer a
/// released port again before the server it was meant for has bound it, and
/// two servers on one port make one answer for the other.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no fresh port on 127.0.0.1 after 1000 tries");
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

pub struct Server {
    root: PathBuf,
    port: u16,
    child: Option<Child>,
    mpm: Mpm,
    conf: PathBuf,
    owns_root: bool,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn mpm(&self) -> Mpm {
        self.mpm
    }
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn wait_until_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "apache2 exited during startup ({status})\n--- stdout/stderr ---\n{}\n--- error_log ---\n{}",
                        self.stdio_output(),
                        self.error_log()
                    ));
                }
            }
            // Ready when our parent has written its pid file (done after the
            // listeners are bound) and the port accepts connections; the pid
            // check guards against talking to some other server on the port.
            let pid_ok = fs::read_to_string(self.root.join("run/httpd.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                == Some(self.pid());
            if pid_ok
                && TcpStream::connect_timeout(
                    &format!("127.0.0.1:{}", self.port).parse().unwrap(),
                    Duration::from_millis(200),
                )
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "apache2 did not accept connections within {START_TIMEOUT:?}\n--- stdout/stderr ---\n{}\n--- error_log ---\n{}",
                    self.stdio_output(),
                    self.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the Apache parent process is still running.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Contents of the error log file.
    pub fn error_log(&self) -> String {
        fs::read(self.root.join("error_log"))
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default()
    }

    /// Current size of the error log (use with `error_log_since`).
    pub fn log_len(&self) -> usize {
        fs::metadata(self.root.join("error_log"))
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// Error log content written after byte offset `offset`.
    pub fn error_log_since(&self, offset: usize) -> String {
        let b = fs::read(self.root.join("error_log")).unwrap_or_default();
        if offset >= b.len() {
            return String::new();
        }
        String::from_utf8_lossy(&b[offset..]).to_string()
    }

    /// What Apache printed on stdout/stderr (messages logged before the
    /// error log is opened end up here).
    pub fn stdio_output(&self) -> String {
        fs::read(self.root.join("apache_stdio.log"))
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default()
    }

    /// stdout/stderr output followed by the error log.
    pub fn all_logs(&self) -> String {
        format!("{}{}", self.stdio_output(), self.error_log())
    }

    /// Poll the error log (bounded) until it contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_for_log_since(0, needle, timeout)
    }

    /// Poll the error log after `offset` (bounded) until it contains `needle`.
    pub fn wait_for_log_since(&self, offset: usize, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.error_log_since(offset).contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET `path`; panics on transport errors.
    /// GETs `path` (with extra headers) and returns its JSON body, failing
    /// the test with the error log unless the status is 200.
    pub fn json_ok(&self, path: &str, headers: &[(&str, &str)]) -> json::Json {
        let r = self.request("GET", path, headers, b"");
        assert_eq!(
            r.status,
            200,
            "GET {path}: {:?}\n--- error_log ---\n{}",
            r.text(),
            self.error_log()
        );
        r.json()
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// GET `path` and read until Apache closes the connection
    /// (`Connection: close`), which it does only once the request is over:
    /// the handler has returned (in daemon mode, after the daemon sent its
    /// end-of-response frame) and the request has been logged. A readiness
    /// signal for what the module does after the last response byte, such
    /// as recording the request's metrics.
    pub fn get_until_closed(&self, path: &str) -> Response {
        http_exchange(self.port, "GET", path, &[], b"", HTTP_TIMEOUT, true).unwrap_or_else(|e| {
            panic!(
                "GET {path} failed: {e}\n--- error_log ---\n{}",
                self.error_log()
            )
        })
    }

    /// Send one request (Connection: close); panics on transport errors.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path} failed: {e}\n--- error_log ---\n{}",
                    self.error_log()
                )
            })
    }

    /// Send one request; returns transport errors instead of panicking.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        http_request(self.port, method, path, headers, body)
    }

    /// Stop Apache (SIGTERM, bounded wait, SIGKILL to the process group as
    /// a last resort). Idempotent.
    pub fn stop(&mut self) {
        let Some(pid) = self.terminate() else {
            return;
        };
        // Apache children share the parent's process group (we created it
        // with process_group(0)); make sure none survive.
        // SAFETY: the group id is our own child's pid.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops Apache as an operator does (SIGTERM to the parent), then
    /// lists what of this server is still there after a grace period: any
    /// process in its process group or running its configuration, and any
    /// socket file under its root. Whatever is left is then killed.
    ///
    /// scripts/leftovers.sh asks the same question once for a whole test
    /// run, and the two stay apart on purpose: while other tests run their
    /// own servers beside this one, only its process group tells its
    /// processes from theirs (a daemon renamed by `display-name` no longer
    /// names its root), and the script cannot see the group; the script,
    /// run after the suites, counts every Apache under a test root instead.
    pub fn stop_and_list_leftovers(&mut self) -> Vec<String> {
        let Some(pgid) = self.terminate() else {
            return Vec::new();
        };
        // The trailing slash keeps root "...-4" from matching "...-40".
        let root = format!("{}/", self.root.display());
        let leftovers = || {
            let mut left: Vec<String> = procs::in_process_group(pgid)
                .into_iter()
                .chain(procs::running_config_under(&root))
                .collect::<std::collections::BTreeSet<i32>>()
                .into_iter()
                .map(|pid| format!("process {pid} ({})", procs::cmdline(pid)))
                .collect();
            left.extend(
                socket_files(&self.root)
                    .into_iter()
                    .map(|p| format!("socket {}", p.display())),
            );
            left
        };
        procs::wait_until(LEFTOVER_GRACE, || leftovers().is_empty());
        let left = leftovers();
        self.stop();
        left
    }

    /// Waits briefly for the children to go idle, sends SIGTERM and waits
    /// (bounded) for the parent to exit. Returns the parent's pid (also its
    /// process group), or None if already stopped.
    fn terminate(&mut self) -> Option<libc::pid_t> {
        let child = self.child.as_mut()?;
        let pid = child.id() as libc::pid_t;
        if matches!(child.try_wait(), Ok(None)) {
            // An immediate stop races in the event MPM: its main thread can
            // close a connection socket whose pool a worker is just handing
            // back, and segfault. Workers are only in that window while
            // running, so wait (briefly) until every child thread blocks.
            let _ = procs::wait_until(QUIET_TIMEOUT, || procs::children_quiet(pid as u32));
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(pid)
    }
}

/// Socket files anywhere under `dir`.
fn socket_files(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(t) if t.is_socket() => found.push(entry.path()),
                _ => {}
            }
        }
    }
    found
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if !self.owns_root {
            return;
        }
        if std::thread::panicking() {
            eprintln!(
                "--- error_log of failed test ({}) ---\n{}\n--- end error_log ---",
                self.root.display(),
                self.all_logs()
            );
        }
        cleanup_root(&self.root);
    }
}

// ---------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Value of cookie `name` from the Set-Cookie headers.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                let first = v.split(';').next()?.trim();
                let (k, val) = first.split_once('=')?;
                (k == name).then(|| val.to_string())
            })
    }
    pub fn json(&self) -> json::Json {
        json::parse(&self.text()).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }
}

pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    http_request_within(port, method, path, headers, body, HTTP_TIMEOUT)
}

/// `http_request` with its own bound: `timeout` for connecting and for each
/// read or write, and twice it for the whole response.
pub fn http_request_within(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    http_exchange(port, method, path, headers, body, timeout, false)
}

/// One request; with `until_closed`, reads on after a complete response
/// until the server closes the connection (`Connection: close` is sent
/// unless `headers` names Connection).
fn http_exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
    until_closed: bool,
) -> io::Result<Response> {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    if !has("host") {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has("connection") {
        req.push_str("Connection: close\r\n");
    }
    if !has("content-length")
        && !has("transfer-encoding")
        && (!body.is_empty() || method == "POST" || method == "PUT")
    {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut data = req.into_bytes();
    data.extend_from_slice(body);
    s.write_all(&data)?;
    s.flush()?;

    let head_only = method == "HEAD";
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let deadline = Instant::now() + timeout * 2;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => {
                return parse_response(&buf, true, head_only)?.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("incomplete response: {:?}", String::from_utf8_lossy(&buf)),
                    )
                })
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // With until_closed only the close ends the exchange.
                let complete = if until_closed {
                    None
                } else {
                    parse_response(&buf, false, head_only)?
                };
                if let Some(r) = complete {
                    let _ = s.shutdown(Shutdown::Both);
                    return Ok(r);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; received so far: {:?}", String::from_utf8_lossy(&buf)),
                ))
            }
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "response deadline exceeded",
            ));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Try to parse a complete response from `buf`. Returns Ok(None) when more
/// data is needed (and `eof` is false).
fn parse_response(buf: &[u8], eof: bool, head_only: bool) -> io::Result<Option<Response>> {
    let Some(hend) = find(buf, b"\r\n\r\n") else {
        return if eof {
            Err(bad(format!(
                "no header terminator in {:?}",
                String::from_utf8_lossy(buf)
            )))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..hend]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let proto = parts.next().unwrap_or("");
    if !proto.starts_with("HTTP/") {
        return Err(bad(format!("bad status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let rest = &buf[hend + 4..];
    let hdr = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mk = |body: Vec<u8>| Response {
        status,
        headers: headers.clone(),
        body,
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some(mk(Vec::new())));
    }
    if hdr("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return match decode_chunked(rest)? {
            Some(b) => Ok(Some(mk(b))),
            None if eof => Err(bad("truncated chunked body")),
            None => Ok(None),
        };
    }
    if let Some(cl) = hdr("content-length") {
        let n: usize = cl
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {cl:?}")))?;
        if rest.len() >= n {
            return Ok(Some(mk(rest[..n].to_vec())));
        }
        return if eof {
            Err(bad(format!("body truncated: {} of {n} bytes", rest.len())))
        } else {
            Ok(None)
        };
    }
    if eof {
        Ok(Some(mk(rest.to_vec())))
    } else {
        Ok(None)
    }
}

fn decode_chunked(mut data: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(le) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&data[..le]).to_string();
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| bad(format!("bad chunk size {size_line:?}")))?;
        data = &data[le + 2..];
        if size == 0 {
            // Trailers end with an empty line.
            if data.starts_with(b"\r\n") || find(data, b"\r\n\r\n").is_some() {
                return Ok(Some(out));
            }
            return Ok(None);
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Base64 (standard alphabet, padded), for credentials in test requests.
pub fn base64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An `Authorization: Basic` value for `user` and `password`.
pub fn basic_credentials(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// An htpasswd line for `user`: made by `htpasswd -nb` when available,
/// else a {SHA} entry computed with Python.
pub fn htpasswd_line(user: &str, password: &str) -> String {
    if let Ok(out) = Command::new("htpasswd")
        .args(["-nb", user, password])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && text.starts_with(&format!("{user}:")) {
            return text;
        }
    }
    python_eval(
        "import base64, hashlib, os\n\
         d = hashlib.sha1(os.environ['P'].encode()).digest()\n\
         print(os.environ['U'] + ':{SHA}' + base64.b64encode(d).decode())",
        &[("U", user), ("P", password)],
    )
}

/// The wall-clock time in seconds since the epoch, as the module stamps
/// its `mod_wsgi.*_start` values and telemetry.
pub fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
