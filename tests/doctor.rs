//! `mod_wsgi-express doctor` and `python -m mod_wsgi.doctor`
//! (python/mod_wsgi/doctor.py): each check against a setup broken on
//! purpose, and a healthy one that passes them all.
//!
//! The doctor runs as root (as these suites do) and makes its checks as
//! www-data, or as the user the configuration names. It never starts
//! Apache; the configurations are written to scratch directories under
//! /tmp that www-data can read. The module is `MOD_WSGI_SO`, the Python
//! `MOD_WSGI_PYTHON`; virtualenvs are made without pip (no network).
//!
//! Run: `cargo test --release --test doctor`.

mod common;

use common::express::{express_command, is_root, python_command, strings, text, Scratch};
use common::json;
use common::{
    apache_modules_dir, ensure_python_reachable, module_path, python_eval, python_exe, python_info,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The checks run as www-data only when the doctor can switch to it.
fn require_root() {
    assert!(
        is_root(),
        "tests/doctor.rs must run as root: the doctor switches to www-data for its checks"
    );
    ensure_python_reachable();
}

/// `mod_wsgi-express doctor ARGS` in `cwd`.
fn doctor(args: &[&str], cwd: &Path) -> Output {
    let mut all = strings(&["doctor"]);
    all.extend(strings(args));
    express_command(&all, cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run mod_wsgi-express doctor")
}

/// A scratch directory tagged `tag` for a test that needs root.
fn scratch_as_root(tag: &str) -> Scratch {
    require_root();
    Scratch::new(tag)
}

/// Writes `contents` as httpd.conf in the scratch directory and runs
/// `doctor -f` on it there, asserting the exit status.
fn doctor_conf(scratch: &Scratch, contents: impl AsRef<[u8]>, status: i32) -> String {
    let conf = scratch.file("httpd.conf", contents);
    let out = doctor(&["-f", conf.to_str().unwrap()], &scratch.dir);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(status), "{t}");
    t
}

/// The one line of `output` that starts with `prefix` (such as
/// "FAIL access:") and contains `subject`.
fn line<'a>(output: &'a str, prefix: &str, subject: &str) -> &'a str {
    let found: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(subject))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one '{prefix}' line about {subject:?}:\n{output}"
    );
    found[0]
}

fn assert_no_line(output: &str, prefix: &str) {
    assert!(
        !output.lines().any(|l| l.starts_with(prefix)),
        "unexpected '{prefix}' line:\n{output}"
    );
}

/// "3.13"
fn version() -> String {
    python_info().version()
}

/// A virtualenv of the Python under test, without pip, in `dir`.
fn make_venv(dir: &Path) -> PathBuf {
    let out = Command::new(python_exe())
        .args(["-m", "venv", "--without-pip"])
        .arg(dir)
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .output()
        .expect("run python -m venv");
    assert!(out.status.success(), "python -m venv: {}", text(&out));
    let chmod = Command::new("chmod")
        .args(["-R", "o+rX"])
        .arg(dir)
        .status()
        .expect("run chmod");
    assert!(chmod.success());
    dir.to_path_buf()
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

const HELLO: &str = "def application(environ, start_response):\n\
                     \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
                     \x20   return [b'hello']\n";

/// The config lines every test starts from: the module under test and the
/// Python it was built for as python-home.
fn head() -> String {
    head_for(&module_path(), &python_info().prefix)
}

/// `head`, then the hello-world script (written as app.wsgi) at /.
fn serving_hello(scratch: &Scratch, head: String) -> String {
    let script = scratch.file("app.wsgi", HELLO);
    format!("{head}WSGIScriptAlias / {}\n", script.display())
}

/// The config lines loading `module` with `home` as python-home.
fn head_for(module: &Path, home: &str) -> String {
    format!(
        "LoadModule wsgi_module \"{}\"\nWSGIPythonHome \"{home}\"\n",
        module.display()
    )
}

#[test]
fn healthy_configuration_passes_every_check() {
    let scratch = scratch_as_root("doctor-healthy");
    let venv = make_venv(&scratch.path("venv"));
    scratch.file("site/app.wsgi", format!("import helper\n{HELLO}"));
    scratch.file("lib/helper.py", "VALUE = 1\n");
    scratch.dir("run");
    // ServerRoot-relative Include with a glob, a quoted path with a
    // continuation line, and the socket prefix relative to ServerRoot.
    scratch.file(
        "conf.d/app.conf",
        format!(
            "WSGIPythonHome {venv}\n\
             WSGISocketPrefix run/wsgi\n\
             WSGIDaemonProcess site user=www-data group=www-data \\\n\
             \x20   python-path={lib} threads=2\n\
             <VirtualHost *:80>\n\
             \x20   WSGIProcessGroup site\n\
             \x20   WSGIScriptAlias /app \"{script}\"\n\
             </VirtualHost>\n",
            venv = venv.display(),
            lib = scratch.s("lib"),
            script = scratch.s("site/app.wsgi"),
        ),
    );
    let t = doctor_conf(
        &scratch,
        format!(
            "ServerRoot \"{root}\"\n\
             LoadModule wsgi_module {so}\n\
             User www-data\n\
             Group www-data\n\
             IncludeOptional conf.d/*.conf\n",
            root = scratch.dir.display(),
            so = module_path().display()
        ),
        0,
    );
    assert_no_line(&t, "FAIL");
    assert_no_line(&t, "WARN");
    line(&t, "OK   module:", "the module built with this package");
    line(
        &t,
        "OK   python:",
        &format!("the module is built for Python {}", version()),
    );
    line(
        &t,
        "OK   encodings:",
        "started as www-data imports encodings",
    );
    line(
        &t,
        "OK   access:",
        &format!(
            "www-data can read WSGI script {}",
            scratch.s("site/app.wsgi")
        ),
    );
    line(
        &t,
        "OK   access:",
        &format!("www-data can reach python-home {}", venv.display()),
    );
    line(
        &t,
        "OK   access:",
        &format!(
            "www-data can reach python-path directory {}",
            scratch.s("lib")
        ),
    );
    line(
        &t,
        "OK   socket:",
        &format!("WSGISocketPrefix {}", scratch.s("run/wsgi")),
    );
    line(
        &t,
        "OK   import:",
        &format!(
            "{} loads as www-data and defines 'application'",
            scratch.s("site/app.wsgi")
        ),
    );
    // The default application group is a sub-interpreter with the shared
    // GIL: the audit loads the script in one.
    line(
        &t,
        "OK   gil-mode:",
        "works in a shared-GIL sub-interpreter",
    );
    assert!(t.contains("doctor: 0 failed, 0 warned, "), "{t}");
}

#[test]
fn python_home_without_the_standard_library_fails_encodings() {
    let scratch = scratch_as_root("doctor-encodings");
    scratch.dir("empty-home/lib");
    let t = doctor_conf(
        &scratch,
        serving_hello(&scratch, head_for(&module_path(), &scratch.s("empty-home"))),
        1,
    );
    let v = version();
    let encodings = line(&t, "FAIL encodings:", "No module named 'encodings'");
    assert!(
        encodings.contains(&format!(
            "Python {v} will not find its standard library from python-home {}: no {}/lib/python{v}/encodings",
            scratch.s("empty-home"),
            scratch.s("empty-home")
        )),
        "{encodings}"
    );
    assert!(encodings.contains(&format!(
        "Fix: set python-home to sys.prefix of a Python {v}"
    )));
    let python = line(&t, "FAIL python:", "is neither a virtualenv");
    assert!(
        python.contains("(no pyvenv.cfg) nor a Python installation"),
        "{python}"
    );
}

#[test]
fn virtualenv_of_another_python_version_fails_python() {
    let scratch = scratch_as_root("doctor-version");
    // What `python3.9 -m venv` writes; the doctor reads the version from
    // it. No Python 3.9 is needed for that.
    scratch.file(
        "venv39/pyvenv.cfg",
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.9.18\n",
    );
    scratch.file("app.wsgi", HELLO);
    let t = doctor_conf(
        &scratch,
        format!(
            "LoadModule wsgi_module {}\nWSGIDaemonProcess old python-home={}\n\
             WSGIScriptAlias / {} process-group=old\nWSGISocketPrefix {}/wsgi\n",
            module_path().display(),
            scratch.s("venv39"),
            scratch.s("app.wsgi"),
            scratch.dir.display()
        ),
        1,
    );
    let python = line(&t, "FAIL python:", "virtualenv of Python 3.9.18");
    assert!(
        python.contains(&format!(
            "python-home {} is a virtualenv of Python 3.9.18, but the module is built for Python {}",
            scratch.s("venv39"),
            version()
        )),
        "{python}"
    );
    assert!(
        python.contains(&format!(
            "Fix: point python-home at a virtualenv made with Python {}",
            version()
        )),
        "{python}"
    );
}

#[test]
fn module_built_for_free_threaded_python_fails_abi() {
    let scratch = scratch_as_root("doctor-abi");
    // The module as if linked against the free-threaded libpython
    // (libpython3.Yt.so): its DT_NEEDED name changed in place, same length.
    let data = fs::read(module_path()).unwrap();
    let v = version();
    let needed = format!("libpython{v}.so.1.0\0");
    let patched = format!("libpython{v}t.so.1\0\0");
    assert_eq!(needed.len(), patched.len());
    let at = data
        .windows(needed.len())
        .position(|w| w == needed.as_bytes())
        .unwrap_or_else(|| panic!("{needed:?} is not in the module"));
    let mut copy = data.clone();
    copy[at..at + needed.len()].copy_from_slice(patched.as_bytes());
    let so = scratch.file("mod_wsgi_t.so", copy);
    let t = doctor_conf(
        &scratch,
        serving_hello(&scratch, head_for(&so, &python_info().prefix)),
        1,
    );
    let python = line(&t, "FAIL python:", "the ABI flags differ");
    assert!(
        python.contains(&format!(
            "but the module is built for Python {v}t (libpython{v}t.so.1): the ABI flags differ ('' against 't')"
        )),
        "{python}"
    );
    // And it is not the module this package built.
    line(
        &t,
        "FAIL module:",
        "which is not the module built with this package",
    );
}

#[test]
fn script_under_a_private_directory_fails_access_naming_it() {
    let scratch = scratch_as_root("doctor-access");
    let private = scratch.dir("private");
    scratch.file("private/app.wsgi", HELLO);
    // A readable directory inside the private one, reached by a link
    // from outside it.
    scratch.file("private/open/linked.wsgi", HELLO);
    std::os::unix::fs::symlink(scratch.path("private/open"), scratch.path("link")).unwrap();
    set_mode(&private, 0o700);
    let unreadable = scratch.file("unreadable.wsgi", HELLO);
    set_mode(&unreadable, 0o600);
    let t = doctor_conf(
        &scratch,
        format!(
            "{}WSGIScriptAlias /a {}\nWSGIScriptAlias /b {}\nWSGIScriptAlias /c {}\n",
            head(),
            scratch.s("private/app.wsgi"),
            unreadable.display(),
            scratch.s("link/linked.wsgi"),
        ),
        1,
    );
    let p = private.display().to_string();
    let blocked = line(&t, "FAIL access:", "private/app.wsgi");
    assert!(
        blocked.contains(&format!(
            "www-data cannot reach WSGI script {p}/app.wsgi: no search (x) permission on {p} (mode 0700, owner root:root)."
        )),
        "{blocked}"
    );
    assert!(
        blocked.contains(&format!("Fix: chmod o+x {p} ")),
        "{blocked}"
    );
    let denied = line(&t, "FAIL access:", "unreadable.wsgi");
    assert!(
        denied.contains(&format!(
            "www-data cannot read WSGI script {} (mode 0600, owner root:root). Fix: chmod o+r {}",
            unreadable.display(),
            unreadable.display()
        )),
        "{denied}"
    );
    // The directory that stops it, not the link in front of it.
    let linked = line(&t, "FAIL access:", "link/linked.wsgi");
    assert!(
        linked.contains(&format!(
            "www-data cannot reach WSGI script {}: no search (x) permission on {p} \
             (reached through the symbolic link {}) (mode 0700, owner root:root). Fix: chmod o+x {p} ",
            scratch.s("link/linked.wsgi"),
            scratch.s("link")
        )),
        "{linked}"
    );
    // Loading them would fail the same way: not tried.
    assert!(!t.contains("import:"), "{t}");
}

#[test]
fn socket_prefix_in_a_private_directory_fails_socket() {
    let scratch = scratch_as_root("doctor-socket");
    let private = scratch.dir("private");
    set_mode(&private, 0o700);
    scratch.file("app.wsgi", HELLO);
    let t = doctor_conf(
        &scratch,
        format!(
            "{}WSGISocketPrefix {}/wsgi\nWSGIDaemonProcess app\n\
             WSGIScriptAlias / {} process-group=app\n",
            head(),
            private.display(),
            scratch.s("app.wsgi")
        ),
        1,
    );
    let p = private.display().to_string();
    let socket = line(&t, "FAIL socket:", "Permission denied");
    assert!(
        socket.contains(&format!(
            "WSGISocketPrefix {p}/wsgi: www-data cannot reach the daemon sockets in {p}: no search (x) permission on {p} (mode 0700"
        )),
        "{socket}"
    );
    assert!(
        socket.contains(&format!("Fix: chmod o+x {p}, or set WSGISocketPrefix")),
        "{socket}"
    );
    // The application itself is fine.
    line(&t, "OK   import:", "app.wsgi loads as www-data");
}

#[test]
fn socket_prefix_in_a_missing_directory_fails_socket() {
    let scratch = scratch_as_root("doctor-socket-missing");
    scratch.file("app.wsgi", HELLO);
    let missing = scratch.path("no-such-dir");
    let t = doctor_conf(
        &scratch,
        format!(
            "{}WSGISocketPrefix {}/wsgi\nWSGIDaemonProcess app\n\
             WSGIScriptAlias / {} process-group=app\n",
            head(),
            missing.display(),
            scratch.s("app.wsgi")
        ),
        1,
    );
    let socket = line(&t, "FAIL socket:", "does not exist");
    assert!(
        socket.contains(&format!(
            "the directory {} does not exist, so Apache cannot create the daemon sockets. Fix: mkdir -p {}",
            missing.display(),
            missing.display()
        )),
        "{socket}"
    );
}

#[test]
fn script_raising_import_error_fails_import_with_the_traceback() {
    let scratch = scratch_as_root("doctor-import");
    let script = scratch.file(
        "broken.wsgi",
        format!("import os\nimport doctor_no_such_module\n{HELLO}"),
    );
    let nameless = scratch.file("nameless.wsgi", "VALUE = 1\n");
    let t = doctor_conf(
        &scratch,
        format!(
            "{}WSGIScriptAlias /broken {}\nWSGIScriptAlias /nameless {}\n",
            head(),
            script.display(),
            nameless.display()
        ),
        1,
    );
    let s = script.display().to_string();
    let failed = line(&t, "FAIL import:", &s);
    assert_eq!(
        failed,
        format!(
            "FAIL import: {s} fails to load as www-data: ModuleNotFoundError: No module named \
             'doctor_no_such_module'. Fix: see the traceback below."
        )
    );
    // The traceback follows, starting at the script's own frame.
    let after: Vec<&str> = t
        .lines()
        .skip_while(|l| *l != failed)
        .skip(1)
        .take_while(|l| l.starts_with("     | "))
        .collect();
    assert_eq!(
        after.first(),
        Some(&"     | Traceback (most recent call last):"),
        "{t}"
    );
    assert!(
        after
            .iter()
            .any(|l| l.contains(&format!("File \"{s}\", line 2, in <module>"))),
        "{t}"
    );
    assert_eq!(
        after.last(),
        Some(&"     | ModuleNotFoundError: No module named 'doctor_no_such_module'"),
        "{t}"
    );
    // A script that loads but names no WSGI callable.
    let n = nameless.display().to_string();
    let missing = line(&t, "FAIL import:", &n);
    assert!(
        missing.contains(&format!(
            "{n} loads as www-data but defines no 'application'"
        )),
        "{missing}"
    );
    // The GIL-mode audit is not run for a script that does not load.
    assert!(!t.contains(&format!("gil-mode: {s}")), "{t}");
}

#[test]
fn script_that_never_finishes_loading_fails_import_at_the_timeout() {
    let scratch = scratch_as_root("doctor-timeout");
    // Module-level code that waits for something that never comes.
    let script = scratch.file(
        "stuck.wsgi",
        format!("import threading\nthreading.Event().wait()\n{HELLO}"),
    );
    scratch.file(
        "httpd.conf",
        format!("{}WSGIScriptAlias / {}\n", head(), script.display()),
    );
    let out = doctor(
        &["-f", scratch.s("httpd.conf").as_str(), "--timeout", "2"],
        &scratch.dir,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let stuck = line(&t, "FAIL import:", &script.display().to_string());
    assert!(
        stuck.contains("did not finish loading within 2 seconds as www-data."),
        "{stuck}"
    );
}

#[test]
fn load_module_naming_a_missing_file_fails_module() {
    let scratch = scratch_as_root("doctor-module-missing");
    let missing = scratch.path("modules/mod_wsgi.so");
    let t = doctor_conf(
        &scratch,
        serving_hello(&scratch, head_for(&missing, &python_info().prefix)),
        1,
    );
    let module = line(&t, "FAIL module:", "does not exist");
    assert!(
        module.contains(&format!(
            "names {}, which does not exist. Fix: point LoadModule at {}",
            missing.display(),
            module_path().display()
        )),
        "{module}"
    );
}

#[test]
fn load_module_naming_another_module_fails_module() {
    let scratch = scratch_as_root("doctor-module-other");
    scratch.file("app.wsgi", HELLO);
    let other = Path::new(&apache_modules_dir()).join("mod_status.so");
    assert!(other.is_file(), "{} is missing (apache2)", other.display());
    let t = doctor_conf(
        &scratch,
        format!(
            "LoadModule wsgi_module {}\nWSGIScriptAlias / {}\n",
            other.display(),
            scratch.s("app.wsgi")
        ),
        1,
    );
    let module = line(&t, "FAIL module:", "mod_status.so");
    assert!(
        module.contains(&format!(
            "LoadModule loads {}, which is not the module built with this package ({}).",
            other.display(),
            module_path().display()
        )),
        "{module}"
    );
    line(&t, "WARN python:", "links no libpython");

    // A byte-for-byte copy (what install-module makes) is the same module.
    let copy = scratch.file("mod_wsgi-copy.so", fs::read(module_path()).unwrap());
    let t = doctor_conf(
        &scratch,
        serving_hello(&scratch, head_for(&copy, &python_info().prefix)),
        0,
    );
    line(
        &t,
        "OK   module:",
        "a copy of the module built with this package",
    );
}

#[test]
fn own_gil_configuration_runs_the_extension_audit() {
    let scratch = scratch_as_root("doctor-gil");
    // _testsinglephase (3.12+) declares no sub-interpreter support.
    let script = scratch.file(
        "single.wsgi",
        format!(
            "import sys\n\
             if sys.version_info >= (3, 12):\n\
             \x20   import _testsinglephase\n{HELLO}"
        ),
    );
    let info = python_info();
    let own_gil_available = (info.major, info.minor) >= (3, 12);
    let t = doctor_conf(
        &scratch,
        format!(
            "{}<WSGIInterpreterOptions application-group=shop>\n\
             \x20   WSGIPerInterpreterGIL On\n\
             </WSGIInterpreterOptions>\n\
             WSGIScriptAlias /shop {s} application-group=shop\n\
             WSGIScriptAlias /other {s} application-group=other\n",
            head(),
            s = script.display()
        ),
        if own_gil_available { 1 } else { 0 },
    );
    let s = script.display().to_string();
    let shop = format!("{s} (application group shop)");
    let other = format!("{s} (application group other)");
    if own_gil_available {
        let failed = line(&t, "FAIL gil-mode:", &shop);
        assert!(
            failed.contains(&format!(
                "{shop} fails in a sub-interpreter with its own GIL (WSGIPerInterpreterGIL On) \
                 (refused: _testsinglephase): ImportError: module _testsinglephase does not \
                 support loading in subinterpreters."
            )),
            "{failed}"
        );
        assert!(failed.contains("Fix: give it the shared GIL"), "{failed}");
    } else {
        // Documented: before 3.12 the directive only logs a warning and
        // the interpreter keeps the shared GIL, which is what is audited.
        let warned = line(&t, "WARN gil-mode:", &shop);
        assert!(
            warned.contains(&format!(
                "WSGIPerInterpreterGIL On has no effect with Python {}.{} (needs 3.12 or later)",
                info.major, info.minor
            )),
            "{warned}"
        );
        line(
            &t,
            "OK   gil-mode:",
            &format!("{shop} works in a shared-GIL sub-interpreter"),
        );
    }
    // Only the container's application group gets its own GIL: the same
    // script in another group has the shared GIL and works there.
    line(
        &t,
        "OK   gil-mode:",
        &format!("{other} works in a shared-GIL sub-interpreter"),
    );
}

#[test]
fn user_comes_from_defines_in_the_configuration() {
    let scratch = scratch_as_root("doctor-user");
    let script = scratch.file("app.wsgi", HELLO);
    let t = doctor_conf(
        &scratch,
        format!(
            "Define RUN_USER nobody\n{}User ${{RUN_USER}}\nGroup nogroup\n\
             WSGIScriptAlias / {} application-group=%{{GLOBAL}}\n",
            head(),
            script.display()
        ),
        0,
    );
    line(
        &t,
        "OK   import:",
        &format!("{} loads as nobody", script.display()),
    );
    line(
        &t,
        "OK   gil-mode:",
        "runs in the main interpreter (%{GLOBAL})",
    );
    // --user wins over the configuration.
    let out = doctor(
        &["-f", scratch.s("httpd.conf").as_str(), "--user", "www-data"],
        &scratch.dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    line(
        &text(&out),
        "OK   import:",
        &format!("{} loads as www-data", script.display()),
    );
}

#[test]
fn process_group_from_a_directory_section_picks_the_daemon_user() {
    let scratch = scratch_as_root("doctor-directory");
    let script = scratch.file("site/app.wsgi", HELLO);
    let elsewhere = scratch.file("other/app.wsgi", HELLO);
    // The usual layout: the group is chosen by the script's <Directory>,
    // and the daemon runs as its own user. The second script is outside
    // it and stays embedded, as www-data.
    let t = doctor_conf(
        &scratch,
        format!(
            "{head}WSGISocketPrefix {root}/wsgi\n\
             WSGIDaemonProcess site user=nobody group=nogroup\n\
             WSGIScriptAlias /site {script}\n\
             WSGIScriptAlias /other {elsewhere}\n\
             <Directory {root}/site>\n\
             \x20   WSGIProcessGroup site\n\
             \x20   WSGIApplicationGroup %{{GLOBAL}}\n\
             </Directory>\n\
             <Location /other>\n\
             \x20   WSGIApplicationGroup %{{GLOBAL}}\n\
             </Location>\n",
            head = head(),
            root = scratch.dir.display(),
            script = script.display(),
            elsewhere = elsewhere.display()
        ),
        0,
    );
    line(
        &t,
        "OK   import:",
        &format!("{} loads as nobody", script.display()),
    );
    line(
        &t,
        "OK   import:",
        &format!("{} loads as www-data", elsewhere.display()),
    );
    // Both in the main interpreter: no audit needed.
    for s in [&script, &elsewhere] {
        line(
            &t,
            "OK   gil-mode:",
            &format!(
                "{} (application group %{{GLOBAL}}) runs in the main interpreter",
                s.display()
            ),
        );
    }
    // The sockets are reached by Apache's children (www-data), not by
    // the daemon's user.
    line(&t, "OK   socket:", "and www-data can reach them");
}

#[test]
fn express_options_are_checked_as_start_server_would_run_them() {
    let scratch = scratch_as_root("doctor-express");
    let good = scratch.file("good.wsgi", HELLO);
    let root = scratch.s("server-root");
    let out = doctor(
        &["--server-root", &root, good.to_str().unwrap()],
        &scratch.dir,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_no_line(&t, "FAIL");
    line(&t, "OK   module:", "the module built with this package");
    line(&t, "OK   encodings:", "started as www-data");
    // setup-server makes the server root, where the sockets go.
    line(
        &t,
        "OK   socket:",
        &format!("{root} does not exist yet; setup-server creates it"),
    );
    line(
        &t,
        "OK   import:",
        &format!("{} loads as www-data", good.display()),
    );

    let bad = scratch.file("bad.wsgi", "raise RuntimeError('doctor says no')\n");
    let out = doctor(
        &["--server-root", &root, bad.to_str().unwrap()],
        &scratch.dir,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    line(
        &t,
        "FAIL import:",
        &format!(
            "{} fails to load as www-data: RuntimeError: doctor says no.",
            bad.display()
        ),
    );

    // Options express itself refuses are a failed config check.
    let out = doctor(&[scratch.s("missing.wsgi").as_str()], &scratch.dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    line(&text(&out), "FAIL config:", "missing.wsgi: no such file");
}

#[test]
fn free_threading_on_a_module_with_a_gil_only_warns() {
    let scratch = scratch_as_root("doctor-free-threading");
    let script = scratch.file("app.wsgi", HELLO);
    // A free-threaded build (PYTHON_FREETHREADED) would honour it.
    let free_threaded = python_eval(
        "import sysconfig; print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))",
        &[],
    ) == "True";
    let t = doctor_conf(
        &scratch,
        format!(
            "{}WSGIFreeThreading On\nWSGIScriptAlias / {} application-group=%{{GLOBAL}}\n",
            head(),
            script.display()
        ),
        0,
    );
    let note = "WSGIFreeThreading on has no effect: the module is not built for a \
                free-threaded Python, so the process keeps its GIL";
    if free_threaded {
        assert!(!t.contains(note), "{t}");
    } else {
        // As the module does (docs/directives.md): a warning, and the
        // shared GIL, which is then what is checked.
        line(&t, "WARN gil-mode:", note);
        line(
            &t,
            "OK   gil-mode:",
            "runs in the main interpreter (%{GLOBAL})",
        );
    }
}

#[test]
fn module_form_prints_json() {
    let scratch = scratch_as_root("doctor-json");
    let script = scratch.file("app.wsgi", "import doctor_absent\n");
    scratch.file(
        "httpd.conf",
        format!("{}WSGIScriptAlias / {}\n", head(), script.display()),
    );
    let out = python_command(Path::new(&python_exe()), &scratch.dir)
        .args(["-m", "mod_wsgi.doctor", "--json", "-f"])
        .arg(scratch.path("httpd.conf"))
        .stdin(Stdio::null())
        .output()
        .expect("run python -m mod_wsgi.doctor");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let results = json::parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("doctor JSON does not parse ({e}):\n{}", text(&out)));
    let results = results.as_array().expect("a list of results");
    let import = results
        .iter()
        .find(|r| r.str_of("check") == "import")
        .unwrap_or_else(|| panic!("no import result: {results:?}"));
    assert_eq!(import.str_of("status"), "FAIL");
    assert!(
        import
            .str_of("detail")
            .ends_with("ModuleNotFoundError: No module named 'doctor_absent'."),
        "{import:?}"
    );
    assert!(import
        .str_of("more")
        .starts_with("Traceback (most recent call last):"));
    assert_eq!(import.str_of("fix"), "see the traceback below.");
    let module = results
        .iter()
        .find(|r| r.str_of("check") == "module")
        .unwrap();
    assert_eq!(module.str_of("status"), "OK");
}

#[test]
fn config_file_and_entry_point_together_is_a_usage_error() {
    let scratch = Scratch::new("doctor-usage");
    let out = doctor(
        &["-f", "/etc/apache2/apache2.conf", "app.wsgi"],
        &scratch.dir,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("give either -f FILE or an entry point, not both"));

    let out = doctor(&["-f", scratch.s("absent.conf").as_str()], &scratch.dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    line(
        &text(&out),
        "FAIL config:",
        &format!(
            "cannot read {}: No such file or directory.",
            scratch.s("absent.conf")
        ),
    );
}
