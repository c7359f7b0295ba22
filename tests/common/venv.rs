//! Virtualenvs of the Python under test (`MOD_WSGI_PYTHON`) with pinned
//! packages from PyPI, built once and reused by later test runs: the
//! framework one (Flask, Django, the mod-wsgi-telemetry ingester) and any
//! other set through `venv_with` (the C mod_wsgi of tests/differential.rs).
//!
//! Location: `/var/tmp/mod_wsgi-test-venvs/py<X.Y>-<hash>` (the base
//! directory can be changed with `MOD_WSGI_TEST_VENVS`), where the hash
//! covers the interpreter (real path and full version) and the pinned
//! requirements, so a change of either gets a fresh virtualenv. Outside
//! /root, so the www-data Apache children can read it.
//!
//! Creation is serialised by `OnceLock` inside one test process and by an
//! exclusive `flock` on `<dir>.lock` across processes. A virtualenv is only
//! used once its marker file (written last) exists; a partial one left by a
//! killed run is removed and built again.
//!
//! When the virtualenv cannot be built (for example no network for pip),
//! `framework_venv()` panics with the pip output, unless
//! `MOD_WSGI_SKIP_FRAMEWORKS=1` is set: then it returns `None` and the
//! caller skips its test.

use super::{add_mode_bits, add_mode_bits_up_to_root};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// Everything installed, pinned (transitive dependencies included) so the
/// tests see the same code on every run. All support Python 3.10 to 3.13.
pub const REQUIREMENTS: &[&str] = &[
    "Flask==3.1.3",
    "Werkzeug==3.1.9",
    "Jinja2==3.1.6",
    "MarkupSafe==3.0.4",
    "itsdangerous==2.2.0",
    "click==8.5.1",
    "blinker==1.9.0",
    "Django==5.2.19",
    "asgiref==3.13.0",
    "sqlparse==0.6.1",
    // The telemetry ingester and UI (mod_wsgi-express --enable-telemetry).
    super::telemetry::TELEMETRY_PACKAGE,
    "aiohttp==3.14.5",
    "aiohappyeyeballs==2.7.1",
    "aiosignal==1.4.0",
    "attrs==26.1.0",
    "frozenlist==1.8.0",
    "idna==3.20",
    "multidict==7.2.1",
    "propcache==0.5.4",
    "typing_extensions==4.16.0",
    "yarl==1.25.1",
];

pub const DEFAULT_BASE_DIR: &str = "/var/tmp/mod_wsgi-test-venvs";
const MARKER: &str = ".mod_wsgi-test-complete";

/// A complete virtualenv.
#[derive(Debug, Clone)]
pub struct Venv {
    /// The virtualenv's directory (what `WSGIPythonHome` names).
    pub dir: PathBuf,
    /// Its site-packages directory (as reported by the venv's python).
    pub site_packages: PathBuf,
    /// "3.12"
    pub version: String,
}

/// The framework virtualenv for `MOD_WSGI_PYTHON`, built on first use.
/// Panics with a clear message when it cannot be built, unless
/// `MOD_WSGI_SKIP_FRAMEWORKS=1`, where it prints why and returns `None`.
pub fn framework_venv() -> Option<&'static Venv> {
    static VENV: OnceLock<Result<Venv, String>> = OnceLock::new();
    match VENV.get_or_init(|| venv_with(REQUIREMENTS)) {
        Ok(v) => Some(v),
        Err(e) => {
            if std::env::var("MOD_WSGI_SKIP_FRAMEWORKS").as_deref() == Ok("1") {
                super::skipped(&format!(
                    "MOD_WSGI_SKIP_FRAMEWORKS=1 and the framework virtualenv is unavailable: {e}"
                ));
                None
            } else {
                panic!(
                    "cannot build the Flask/Django virtualenv (pip needs network access to \
                     PyPI; set MOD_WSGI_SKIP_FRAMEWORKS=1 to skip these tests):\n{e}"
                );
            }
        }
    }
}

/// 64-bit FNV-1a: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Runs a command with Python variables of the test runner removed;
/// returns stdout, or an error with everything it printed.
pub fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("PYTHON") || k == "VIRTUAL_ENV" {
                cmd.env_remove(k);
            }
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {cmd:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Holds an exclusive `flock` until dropped.
struct FileLock(fs::File);

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock, String> {
        use std::os::fd::AsRawFd;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("open lock {}: {e}", path.display()))?;
        loop {
            // SAFETY: a valid open descriptor.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock(f));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(format!("flock {}: {err}", path.display()));
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// A virtualenv of `MOD_WSGI_PYTHON` with exactly `requirements`
/// installed, built on first use and reused (see the module comment for
/// where it lives and how concurrent builders are serialised). Callers
/// keep the result in their own `OnceLock`.
pub fn venv_with(requirements: &[&str]) -> Result<Venv, String> {
    let python = super::python_exe();
    let ident = run(
        Command::new(&python).args([
            "-c",
            "import sys, os; print('%d.%d' % sys.version_info[:2]); \
             print(os.path.realpath(sys.executable)); print(sys.version)",
        ]),
        "query the python under test",
    )?;
    let mut lines = ident.lines();
    let version = lines.next().unwrap_or("").to_string();
    if version.is_empty() {
        return Err(format!("unexpected output from {python}: {ident:?}"));
    }
    let mut key = ident.clone();
    for r in requirements {
        key.push('\n');
        key.push_str(r);
    }
    let name = format!("py{version}-{:016x}", fnv1a(key.as_bytes()));
    let base = match std::env::var_os("MOD_WSGI_TEST_VENVS") {
        Some(b) if !b.is_empty() => PathBuf::from(b),
        _ => PathBuf::from(DEFAULT_BASE_DIR),
    };
    let base = base.as_path();
    fs::create_dir_all(base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
    fs::set_permissions(base, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", base.display()))?;
    let dir = base.join(&name);
    let _lock = FileLock::acquire(&base.join(format!("{name}.lock")))?;

    if !dir.join(MARKER).is_file() {
        let started = Instant::now();
        if dir.exists() {
            eprintln!("removing incomplete virtualenv {}", dir.display());
            fs::remove_dir_all(&dir).map_err(|e| format!("rm -r {}: {e}", dir.display()))?;
        }
        eprintln!("creating virtualenv {} with {python}", dir.display());
        run(
            Command::new(&python).arg("-m").arg("venv").arg(&dir),
            "python -m venv",
        )?;
        let venv_python = dir.join("bin/python");
        let mut pip = Command::new(&venv_python);
        pip.args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--timeout",
            "20",
            "--retries",
            "2",
        ])
        .args(requirements);
        if let Err(e) = run(&mut pip, "pip install") {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        make_world_readable(&dir).map_err(|e| format!("chmod -R o+rX {}: {e}", dir.display()))?;
        fs::write(dir.join(MARKER), requirements.join("\n"))
            .map_err(|e| format!("write marker: {e}"))?;
        eprintln!(
            "virtualenv {} ready in {:.1}s",
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }

    let site = run(
        Command::new(dir.join("bin/python")).args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ]),
        "query the virtualenv's site-packages",
    )?;
    // www-data must be able to reach the directory itself.
    add_mode_bits_up_to_root(&dir, 0o005);
    Ok(Venv {
        dir,
        site_packages: PathBuf::from(site),
        version,
    })
}

/// Adds o+r to files and o+rx to directories below `dir` (symlinks are left
/// alone: they point at the base interpreter, made reachable elsewhere).
fn make_world_readable(dir: &Path) -> std::io::Result<()> {
    add_mode_bits(dir, 0o005);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let p = entry.path();
        if ft.is_dir() {
            make_world_readable(&p)?;
        } else if ft.is_file() {
            let mode = entry.metadata()?.permissions().mode();
            // Executables stay executable for everyone.
            let bits = if mode & 0o100 != 0 { 0o005 } else { 0o004 };
            add_mode_bits(&p, bits);
        }
    }
    Ok(())
}
