//! Running `mod_wsgi-express` (python/mod_wsgi/express) from the source
//! tree: scratch directories www-data can read, the command itself
//! (`PYTHON -m mod_wsgi.express` with `PYTHONPATH=<repo>/python` and
//! `MOD_WSGI_SO`), and `start-server` as a child process that is Apache in
//! the foreground, stopped with SIGINT.
//!
//! Used by tests/express.rs and tests/express_frameworks.rs.

#![allow(dead_code)]

use super::procs::{self, pid_alive};
use super::{free_port, http_request_within, module_path, python_exe, Response};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long `start-server` may take until it answers HTTP.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long Apache and its processes may take to go after SIGINT.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Tries with a fresh port when the chosen one was taken meanwhile.
pub const START_ATTEMPTS: usize = 4;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn www_data_uid() -> u32 {
    let name = std::ffi::CString::new("www-data").unwrap();
    // SAFETY: getpwnam returns static storage or NULL.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            33
        } else {
            (*pw).pw_uid
        }
    }
}

pub fn keep_roots() -> bool {
    std::env::var_os("KEEP_TEST_ROOTS").is_some()
}

// ---------------------------------------------------------------------------
// Scratch directories
// ---------------------------------------------------------------------------

/// A directory under /tmp that www-data can read, removed on drop (kept
/// with `KEEP_TEST_ROOTS`).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!(
            "/tmp/mod_wsgi-express-test-{}-{n}-{tag}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Creates the directory (and those between it and the scratch
    /// directory) with mode 0755.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).unwrap();
        let mut cur = Some(p.as_path());
        while let Some(d) = cur {
            if !d.starts_with(&self.dir) {
                break;
            }
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
            cur = d.parent();
        }
        p
    }

    /// Writes a file (0644), creating its directories (0755).
    pub fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            let rel_parent = parent.strip_prefix(&self.dir).unwrap();
            self.dir(rel_parent.to_str().unwrap());
        }
        fs::write(&p, contents).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        p
    }

    pub fn s(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if keep_roots() {
            eprintln!("keeping {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------

/// `MOD_WSGI_PYTHON -m mod_wsgi.express ARGS` in a clean environment.
pub fn express_command(args: &[String], cwd: &Path) -> Command {
    express_command_with(Path::new(&python_exe()), args, cwd)
}

/// `PYTHON -m mod_wsgi.express ARGS` in a clean environment, for another
/// interpreter of the same Python (a virtualenv's `bin/python`: express
/// then writes `WSGIPythonHome <venv>`).
pub fn express_command_with(python: &Path, args: &[String], cwd: &Path) -> Command {
    let mut cmd = python_command(python, cwd);
    cmd.arg("-m").arg("mod_wsgi.express").args(args);
    cmd
}

/// `PYTHON` in `cwd`, in a clean environment that imports this checkout's
/// `mod_wsgi` package and module (add the arguments).
pub fn python_command(python: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(python);
    cmd.current_dir(cwd);
    cmd.env_clear();
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    cmd.env("LANG", "C.UTF-8");
    cmd.env(
        "PYTHONPATH",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("python"),
    );
    cmd.env("PYTHONDONTWRITEBYTECODE", "1");
    cmd.env("MOD_WSGI_SO", module_path());
    if let Some(v) = std::env::var_os("LD_LIBRARY_PATH") {
        cmd.env("LD_LIBRARY_PATH", v);
    }
    cmd
}

pub fn run_express(args: &[String], cwd: &Path) -> Output {
    express_command(args, cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run python -m mod_wsgi.express")
}

/// stdout followed by stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `--user www-data --group www-data` when running as root.
pub fn identity_args() -> Vec<String> {
    if is_root() {
        strings(&["--user", "www-data", "--group", "www-data"])
    } else {
        Vec::new()
    }
}

/// `setup-server APP --server-root ROOT OPTIONS...`: an express
/// `setup-server` (ours or the C package's) writing the root for `app`
/// into `root`. The express takes the last of a repeated option, so an
/// option in `options` overrides these (`--server-root` included).
pub fn setup_server_args(app: &Path, root: &Path, options: &[String]) -> Vec<String> {
    let mut args = strings(&["setup-server"]);
    args.push(app.display().to_string());
    args.push("--server-root".into());
    args.push(root.display().to_string());
    args.extend(options.iter().cloned());
    args
}

/// `setup_server_args` for our express, which (like Apache) needs
/// `identity_args` when running as root; they come before `options` so
/// that `options` can override them.
pub fn our_setup_server_args(app: &Path, root: &Path, options: &[String]) -> Vec<String> {
    setup_server_args(app, root, &[identity_args(), options.to_vec()].concat())
}

/// Live descendants of `pid`.
pub fn descendants(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in procs::children_named(p, "") {
            out.push(c);
            todo.push(c as u32);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// start-server
// ---------------------------------------------------------------------------

/// `start-server` running as a child process in a process group of its
/// own: it writes the server root and then is Apache, in the foreground,
/// with the same process id. Killed (the whole group) on drop.
pub struct StartServer {
    child: Option<Child>,
    pid: u32,
    port: u16,
    root: PathBuf,
    output: PathBuf,
}

impl StartServer {
    /// `PYTHON -m mod_wsgi.express start-server ARGS --host 127.0.0.1
    /// --port P --server-root SCRATCH/server-root` (plus `--user/--group
    /// www-data` as root), run in `cwd`; waits (bounded) until Apache has
    /// the child's pid in `httpd.pid` and answers `GET ready_path` with
    /// any status. Retried with another port when the port was taken.
    pub fn start(
        python: &Path,
        scratch: &Scratch,
        args: &[String],
        cwd: &Path,
        ready_path: &str,
    ) -> StartServer {
        let mut all = strings(&["start-server"]);
        all.extend(args.iter().cloned());
        Self::start_command(scratch, &all, ready_path, |all| {
            express_command_with(python, all, cwd)
        })
    }

    /// As `start`, for any command that ends up running Apache in the
    /// foreground (`manage.py runmodwsgi`): `command` gets `args` plus the
    /// host, port, server root and identity options.
    pub fn start_command(
        scratch: &Scratch,
        args: &[String],
        ready_path: &str,
        command: impl Fn(&[String]) -> Command,
    ) -> StartServer {
        super::ensure_python_reachable();
        let root = scratch.path("server-root");
        let mut last = String::new();
        for attempt in 0..START_ATTEMPTS {
            let port = free_port();
            let mut all = args.to_vec();
            all.extend(strings(&["--host", "127.0.0.1", "--port"]));
            all.push(port.to_string());
            all.push("--server-root".into());
            all.push(root.display().to_string());
            all.extend(identity_args());
            let output = scratch.path(&format!("start-server-{attempt}.out"));
            let log = fs::File::create(&output).unwrap();
            let child = command(&all)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .process_group(0)
                .spawn()
                .expect("spawn start-server");
            let pid = child.id();
            let mut server = StartServer {
                child: Some(child),
                pid,
                port,
                root: root.clone(),
                output,
            };
            match server.wait_until_up(ready_path) {
                Ok(()) => return server,
                Err(msg) => {
                    server.kill();
                    last = msg;
                    if !last.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("start-server did not come up:\n{last}");
    }

    fn wait_until_up(&mut self, ready_path: &str) -> Result<(), String> {
        let mut exited = None;
        let port = self.port;
        let pid = self.pid;
        let pid_file = self.root.join("httpd.pid");
        let child = self.child.as_mut().unwrap();
        let up = procs::wait_until(START_TIMEOUT, || {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return true;
            }
            let pid_ok = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
                == Some(pid);
            pid_ok
                && http_request_within(port, "GET", ready_path, &[], b"", Duration::from_secs(5))
                    .is_ok()
        });
        if up && exited.is_none() {
            return Ok(());
        }
        Err(format!(
            "start-server {} ({exited:?}):\n{}",
            if up { "exited" } else { "timed out" },
            self.logs()
        ))
    }

    /// Apache's pid (that of the start-server command).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What the command (and Apache, with `--log-to-terminal`) printed.
    pub fn output(&self) -> String {
        fs::read(&self.output)
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default()
    }

    /// The error log in the server root (empty with `--log-to-terminal`).
    pub fn error_log(&self) -> String {
        fs::read(self.root.join("error_log"))
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        format!(
            "--- start-server output ---\n{}\n--- error_log ---\n{}",
            self.output(),
            self.error_log()
        )
    }

    /// One request to 127.0.0.1:port (bounded by `HTTP_TIMEOUT`); panics
    /// with the logs on a transport error.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        super::http_request(self.port, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.logs()))
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// Sends SIGINT (to Apache, or to the whole process group as Ctrl-C in
    /// a terminal does) and waits (bounded) until Apache has exited and
    /// every process it had started is gone. Returns Apache's exit status,
    /// or what was left. The group is killed either way.
    pub fn interrupt(&mut self, whole_group: bool) -> Result<std::process::ExitStatus, String> {
        let Some(mut child) = self.child.take() else {
            return Err("already stopped".into());
        };
        let pid = self.pid as i32;
        let tree = descendants(self.pid);
        // SAFETY: signalling our own child (now Apache), or the process
        // group we created for it.
        unsafe {
            if whole_group {
                libc::killpg(pid, libc::SIGINT);
            } else {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let mut status = None;
        let gone = procs::wait_until(STOP_TIMEOUT, || {
            if status.is_none() {
                status = child.try_wait().ok().flatten();
            }
            status.is_some() && tree.iter().all(|&p| !pid_alive(p))
        });
        let left: Vec<(i32, String)> = tree
            .iter()
            .copied()
            .filter(|&p| pid_alive(p))
            .map(|p| (p, procs::cmdline(p)))
            .collect();
        // SAFETY: clean up whatever is left of our process group.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
        match status {
            Some(s) if gone => Ok(s),
            _ => Err(format!(
                "after SIGINT: apache status {status:?}, left {left:?}\n{}",
                self.logs()
            )),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: the process group we created for the child.
            unsafe { libc::killpg(self.pid as i32, libc::SIGKILL) };
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for StartServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- logs of failed test ---\n{}", self.logs());
        }
    }
}
