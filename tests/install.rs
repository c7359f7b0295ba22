//! The system-Apache route: `apxs/install.sh` puts the module into Apache's
//! module directory and writes Debian's `mods-available/wsgi.load` and
//! `wsgi.conf`; `a2enmod wsgi` enables them. Both run against a private copy
//! of the configuration tree (`LIBEXECDIR`, `SYSCONFDIR`, `APACHE_CONFDIR`),
//! so the test never touches /etc/apache2; a server then loads the module
//! only through the enabled files.

mod common;

use common::{ensure_python_reachable, module_path, ServerBuilder};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch Debian-style Apache tree, removed on drop.
struct Tree(PathBuf);

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

#[test]
fn apxs_install_then_a2enmod_loads_the_module() {
    // a2enmod comes with Debian's apache2 package, which the suite runs
    // against: without it this is not the documented machine, so fail.
    if let Err(e) = Command::new("a2enmod").arg("-h").output() {
        panic!("this test needs `a2enmod` (Debian's apache2 package): {e}");
    }
    let tree = Tree(PathBuf::from(format!(
        "/tmp/mod_wsgi-install-test-{}",
        std::process::id()
    )));
    let (modules, etc, state) = (
        tree.0.join("modules"),
        tree.0.join("etc"),
        tree.0.join("state"),
    );
    for dir in [
        &modules,
        &etc.join("mods-available"),
        &etc.join("mods-enabled"),
        &state,
    ] {
        fs::create_dir_all(dir).unwrap();
    }
    fs::copy("/etc/apache2/envvars", etc.join("envvars")).expect("copy envvars");

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let so = module_path();
    let said = run(Command::new("bash")
        .arg(repo.join("apxs/install.sh"))
        .arg(&so)
        .env("LIBEXECDIR", &modules)
        .env("SYSCONFDIR", &etc));
    assert!(said.contains("a2enmod wsgi"), "{said}");
    let installed = modules.join("mod_wsgi.so");
    assert_eq!(
        fs::read(&installed).expect("installed module"),
        fs::read(&so).unwrap(),
        "apxs -i copied another file"
    );
    let load = fs::read_to_string(etc.join("mods-available/wsgi.load")).unwrap();
    assert_eq!(
        load.trim(),
        format!("LoadModule wsgi_module {}", installed.display())
    );
    assert!(fs::read_to_string(etc.join("mods-available/wsgi.conf"))
        .unwrap()
        .contains("<IfModule mod_wsgi.c>"));

    run(Command::new("a2enmod")
        .arg("wsgi")
        .env("APACHE_CONFDIR", &etc)
        .env("APACHE_STATE_DIRECTORY", &state));
    for name in ["wsgi.load", "wsgi.conf"] {
        let link = etc.join("mods-enabled").join(name);
        assert!(
            fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()),
            "a2enmod did not link {}",
            link.display()
        );
    }

    // A server that loads mod_wsgi only through the enabled files.
    ensure_python_reachable();
    let enabled = etc.join("mods-enabled");
    let server = ServerBuilder::new()
        .without_wsgi()
        .file(
            "app.wsgi",
            "def application(environ, start_response):\n\
             \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
             \x20   return [b'installed via apxs']\n",
        )
        .config(&format!(
            "Include {0}/wsgi.load\nInclude {0}/wsgi.conf\nWSGIScriptAlias /app {{root}}/app.wsgi",
            enabled.display()
        ))
        .start();
    let r = server.get("/app");
    assert_eq!(r.status, 200, "{}", server.error_log());
    assert_eq!(r.text(), "installed via apxs");
}

/// `pip install <checkout>` into a virtualenv builds the module for that
/// Python (setuptools-rust from `pyproject.toml`), installs it inside the
/// `mod_wsgi` package with `mod_wsgi-express`, and `module-location` /
/// `module-config` name that build; a server set up with the installed
/// command (no `MOD_WSGI_SO`) serves a request with it.
#[test]
fn pip_install_builds_the_module_for_the_virtualenv() {
    if std::env::var_os("MOD_WSGI_SKIP_PIP").is_some() {
        common::skipped("MOD_WSGI_SKIP_PIP is set");
        return;
    }
    ensure_python_reachable();
    let python = common::python_exe();
    let label = python.replace('/', "_");
    let tree = Tree(PathBuf::from(format!(
        "/var/tmp/mod_wsgi-pip-test-{}",
        std::process::id()
    )));
    fs::create_dir_all(&tree.0).unwrap();
    let venv = tree.0.join("venv");
    run(Command::new(&python).args(["-m", "venv"]).arg(&venv));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .arg(repo)
        // Its own target directory: the build is for the venv's Python.
        .env("CARGO_TARGET_DIR", repo.join(format!("target/pip{label}")))
        .env_remove("MOD_WSGI_SO"));

    let express = venv.join("bin/mod_wsgi-express");
    let location = run(Command::new(&express)
        .arg("module-location")
        .env_remove("MOD_WSGI_SO"));
    let location = PathBuf::from(location.trim());
    assert!(
        location.starts_with(&venv) && location.is_file(),
        "module-location {} is not inside {}",
        location.display(),
        venv.display()
    );
    let config = run(Command::new(&express)
        .arg("module-config")
        .env_remove("MOD_WSGI_SO"));
    assert!(
        config.contains(&format!(
            "LoadModule wsgi_module \"{}\"",
            location.display()
        )),
        "{config}"
    );
    assert!(
        config.contains(&format!("WSGIPythonHome \"{}\"", venv.display())),
        "{config}"
    );
    // install-module copies it into a modules directory and says how to load it.
    let modules = tree.0.join("modules");
    fs::create_dir_all(&modules).unwrap();
    let said = run(Command::new(&express)
        .arg("install-module")
        .arg("--modules-directory")
        .arg(&modules)
        .env_remove("MOD_WSGI_SO"));
    let version = common::python_eval("import sys; print('%d%d' % sys.version_info[:2])", &[]);
    let copied = modules.join(format!("mod_wsgi-py{version}.so"));
    assert!(
        said.contains(&format!("LoadModule wsgi_module \"{}\"", copied.display())),
        "{said}"
    );
    assert_eq!(fs::read(&copied).unwrap(), fs::read(&location).unwrap());
    // Linked (by rpath) to the library of the Python the venv was made from.
    let libdir = common::python_eval(
        "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))",
        &[],
    );
    let dynamic = run(Command::new("readelf").arg("-d").arg(&location));
    assert!(dynamic.contains(&libdir), "{libdir} not in:\n{dynamic}");

    // Serve a request through the installed command and module.
    let root = tree.0.join("server");
    let app = tree.0.join("wsgi.py");
    fs::write(
        &app,
        "def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [b'served by the pip-installed module']\n",
    )
    .unwrap();
    common::add_mode_bits_up_to_root(&tree.0, 0o755);
    let port = common::free_port();
    run(Command::new(&express)
        .arg("setup-server")
        .arg(&app)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--user", "www-data", "--group", "www-data"])
        .arg("--server-root")
        .arg(&root)
        .env_remove("MOD_WSGI_SO"));
    let apachectl = root.join("apachectl");
    run(Command::new("sh").arg(&apachectl).arg("start"));
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(r) = common::http_request(port, "GET", "/", &[], b"") {
            answer = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = Command::new("sh").arg(&apachectl).arg("stop").output();
    for _ in 0..50 {
        if !root.join("httpd.pid").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let r = answer.expect("the server set up by the installed mod_wsgi-express did not answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "served by the pip-installed module");
}
