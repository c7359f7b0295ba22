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
    if Command::new("a2enmod").arg("-h").output().is_err() {
        eprintln!("skipping: a2enmod is not installed (not a Debian-style Apache)");
        return;
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
