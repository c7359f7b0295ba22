//! `mod_wsgi-express audit-extensions` and `python -m mod_wsgi.audit`
//! (python/mod_wsgi/audit.py) against a virtualenv of `MOD_WSGI_PYTHON`
//! with real extension packages from PyPI: numpy, MarkupSafe,
//! psycopg2-binary, lxml and cryptography (PyO3), plus the standard
//! library's `_testsinglephase` (3.12+) and `_testmultiphase`.
//!
//! The verdicts asserted are what those builds declare and what CPython
//! does with them (docs/gil-modes.md, "Auditing extension modules"). On
//! 3.11 the own-GIL columns must say "not available before 3.12" and the
//! own-GIL exit status is 1, and that is asserted instead. No Apache.
//!
//! Run: `cargo test --release --test audit` (the virtualenv is built once
//! and cached, see tests/common/venv.rs).

mod common;

use common::express::{express_command, python_command, strings, text, Scratch};
use common::json::{self, Json};
use common::venv::{venv_with, Venv};
use common::{python_info, skipped};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::OnceLock;

/// Pinned builds with wheels for 3.11 to 3.13 (cffi and pycparser are
/// cryptography's dependencies).
const REQUIREMENTS: &[&str] = &[
    "numpy==2.2.6",
    "MarkupSafe==3.0.2",
    "psycopg2-binary==2.9.10",
    "lxml==5.3.1",
    "cryptography==44.0.2",
    "cffi==1.17.1",
    "pycparser==2.22",
];

const REFUSAL: &str = "does not support loading in subinterpreters";

fn venv() -> Option<&'static Venv> {
    static VENV: OnceLock<Result<Venv, String>> = OnceLock::new();
    match VENV.get_or_init(|| venv_with(REQUIREMENTS)) {
        Ok(v) => Some(v),
        Err(e) => {
            if std::env::var("MOD_WSGI_SKIP_FRAMEWORKS").as_deref() == Ok("1") {
                skipped(&format!(
                    "MOD_WSGI_SKIP_FRAMEWORKS=1 and the audit virtualenv is unavailable: {e}"
                ));
                None
            } else {
                panic!(
                    "cannot build the audit virtualenv (pip needs PyPI; set \
                     MOD_WSGI_SKIP_FRAMEWORKS=1 to skip):\n{e}"
                );
            }
        }
    }
}

fn own_gil_available() -> bool {
    let info = python_info();
    (info.major, info.minor) >= (3, 12)
}

fn at_least_313() -> bool {
    let info = python_info();
    (info.major, info.minor) >= (3, 13)
}

/// `mod_wsgi-express audit-extensions --python VENV ARGS`.
fn express_audit(venv: &Venv, args: &[&str], cwd: &Path) -> Output {
    let mut all = strings(&["audit-extensions", "--python"]);
    all.push(venv.dir.display().to_string());
    all.extend(strings(args));
    express_command(&all, cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run mod_wsgi-express audit-extensions")
}

fn report(out: &Output) -> Json {
    json::parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("audit JSON does not parse ({e}):\n{}", text(out)))
}

fn module<'a>(report: &'a Json, name: &str) -> &'a Json {
    report
        .get("modules")
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m.get("name").as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} is not in the report"))
}

fn verdict<'a>(module: &'a Json, mode: &str) -> &'a Json {
    module.get("modes").get(mode)
}

/// The own-GIL verdict of `name`: "no" with CPython's refusal on 3.12+,
/// "n/a" on 3.11.
fn assert_refused(report: &Json, name: &str, def_name: &str) {
    let m = module(report, name);
    let v = verdict(m, "own-gil");
    if at_least_313() {
        assert_eq!(v.str_of("verdict"), "no", "{name}: {m:?}");
        assert_eq!(
            v.str_of("error"),
            format!("ImportError: module {def_name} {REFUSAL}"),
            "{name}"
        );
    } else if own_gil_available() {
        // 3.12's own stdlib C modules (_datetime among them) refuse an
        // isolated interpreter too, so a module that needs one fails on
        // that first, with its own ImportError.
        assert_eq!(v.str_of("verdict"), "no", "{name}: {m:?}");
        assert!(
            v.str_of("error").starts_with("ImportError: "),
            "{name}: {m:?}"
        );
    } else {
        assert_eq!(v.str_of("verdict"), "n/a", "{name}: {m:?}");
        assert_eq!(v.str_of("why"), "not available before 3.12");
    }
}

#[test]
fn environment_report_gives_each_packages_verdicts() {
    let Some(venv) = venv() else { return };
    let scratch = Scratch::new("audit-env");
    let out = express_audit(venv, &["--json"], &scratch.dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = report(&out);
    assert_eq!(
        r.get("python").str_of("executable"),
        venv.dir.join("bin/python").display().to_string()
    );

    // Single-phase C and Rust extensions: no sub-interpreter support.
    for (name, def_name) in [
        ("markupsafe._speedups", "_speedups"),
        ("psycopg2._psycopg", "_psycopg"),
        ("cryptography.hazmat.bindings._rust", "_rust"),
    ] {
        let m = module(&r, name);
        assert_eq!(m.str_of("init"), "single-phase", "{name}: {m:?}");
        assert_refused(&r, name, def_name);
    }
    let speedups = module(&r, "markupsafe._speedups");
    assert_eq!(verdict(speedups, "shared").str_of("verdict"), "yes");
    // PyO3 lets only the first interpreter that loads it have it. On
    // 3.13.0 a shared-GIL sub-interpreter gets PyO3's refusal (the same
    // happens with numpy and psycopg2 there, see docs/gil-modes.md); on
    // 3.11 the sub-interpreter is the first to load it, and it works.
    let rust = verdict(module(&r, "cryptography.hazmat.bindings._rust"), "shared");
    if at_least_313() {
        assert_eq!(rust.str_of("verdict"), "global-only", "{rust:?}");
        assert_eq!(
            rust.str_of("error"),
            "ImportError: PyO3 modules do not yet support subinterpreters, \
             see https://github.com/PyO3/pyo3/issues/576"
        );
    }

    // numpy 2.2's core: single-phase too. Its init function imports numpy
    // itself; in a sub-interpreter on 3.13 that runs its one-time set-up
    // twice, so the error is numpy's own rather than CPython's refusal.
    let numpy = module(&r, "numpy._core._multiarray_umath");
    assert_eq!(numpy.str_of("init"), "single-phase", "{numpy:?}");
    let v = verdict(numpy, "own-gil");
    if at_least_313() {
        assert_eq!(v.str_of("verdict"), "no", "{numpy:?}");
        let error = v.str_of("error");
        assert!(
            error.contains(REFUSAL) || error.contains("CPU dispatcher tracer already init"),
            "{error}"
        );
    } else if own_gil_available() {
        // On 3.12 it fails earlier, on the datetime C API that 3.12's
        // _datetime does not offer an isolated interpreter.
        assert_eq!(v.str_of("verdict"), "no", "{numpy:?}");
    } else {
        assert_eq!(v.str_of("verdict"), "n/a");
    }

    // lxml (Cython 3.0): multi-phase, no Py_mod_multiple_interpreters slot,
    // so "supported" but not with a per-interpreter GIL.
    let lxml = module(&r, "lxml.etree");
    assert_eq!(lxml.str_of("init"), "multi-phase");
    if own_gil_available() {
        assert_eq!(lxml.str_of("multiple_interpreters"), "default (supported)");
    } else {
        assert_eq!(lxml.str_of("multiple_interpreters"), "n/a");
    }
    assert_eq!(verdict(lxml, "shared").str_of("verdict"), "yes", "{lxml:?}");
    assert_refused(&r, "lxml.etree", "lxml.etree");

    // The standard library's test modules.
    let multi = module(&r, "_testmultiphase");
    assert_eq!(multi.str_of("init"), "multi-phase");
    if own_gil_available() {
        assert_eq!(multi.str_of("multiple_interpreters"), "per-interpreter-gil");
        assert_eq!(verdict(multi, "own-gil").str_of("verdict"), "yes");
        let single = module(&r, "_testsinglephase");
        assert_eq!(single.str_of("init"), "single-phase");
        assert_refused(&r, "_testsinglephase", "_testsinglephase");
    } else {
        assert_eq!(verdict(multi, "own-gil").str_of("verdict"), "n/a");
    }

    // Py_mod_gil exists from 3.13; this is not a free-threaded build.
    let ft = verdict(multi, "free-threading");
    assert_eq!(ft.str_of("verdict"), "n/a");
    if at_least_313() {
        assert_eq!(multi.str_of("gil"), "not-used");
        assert_eq!(ft.get("declared").as_bool(), Some(true));
        assert_eq!(lxml.str_of("gil"), "default (used)");
        let lxml_ft = verdict(lxml, "free-threading");
        assert_eq!(lxml_ft.get("declared").as_bool(), Some(false));
    } else {
        assert_eq!(ft.str_of("why"), "not available before 3.13");
    }
}

#[test]
fn module_form_prints_a_table() {
    let Some(venv) = venv() else { return };
    let scratch = Scratch::new("audit-table");
    let out = python_command(&venv.dir.join("bin/python"), &scratch.dir)
        .args(["-m", "mod_wsgi.audit"])
        .stdin(Stdio::null())
        .output()
        .expect("run python -m mod_wsgi.audit");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("MODULE") && t.contains("OWN GIL"), "{t}");
    let row = t
        .lines()
        .find(|l| l.starts_with("markupsafe._speedups "))
        .unwrap_or_else(|| panic!("no markupsafe row:\n{t}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "single-phase", "{row}");
    let own_gil_cell = if own_gil_available() { "NO" } else { "n/a" };
    assert_eq!(cells[5], own_gil_cell, "{row}");
    if own_gil_available() {
        assert!(
            t.contains(&format!(
                "markupsafe._speedups [own-gil]: ImportError: module _speedups {REFUSAL}"
            )),
            "{t}"
        );
    } else {
        assert!(t.contains("own-gil: not available before 3.12"), "{t}");
    }
}

#[test]
fn numpy_script_fails_under_own_gil_and_works_shared() {
    let Some(venv) = venv() else { return };
    let scratch = Scratch::new("audit-numpy");
    let script = scratch.file(
        "app.wsgi",
        "import numpy\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [str(numpy.arange(3).sum()).encode()]\n",
    );
    let script = script.display().to_string();
    let out = express_audit(
        venv,
        &["--json", "--only-imported", "--mode", "own-gil", &script],
        &scratch.dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    let imports = r.get("script").get("imports");
    let imports: Vec<&str> = imports
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    assert!(
        imports.contains(&"numpy._core._multiarray_umath"),
        "{imports:?}"
    );
    let own = r.get("script").get("modes").get("own-gil");
    assert_eq!(own.get("ok").as_bool(), Some(false));
    if own_gil_available() {
        assert!(!own.str_of("error").is_empty());
    } else {
        assert_eq!(own.str_of("unavailable"), "not available before 3.12");
    }
    // Every module listed is one the script imports.
    for m in r.get("modules").as_array().unwrap() {
        assert_eq!(m.get("imported_by_script").as_bool(), Some(true), "{m:?}");
    }

    let out = express_audit(
        venv,
        &["--only-imported", "--mode", "shared", &script],
        &scratch.dir,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("numpy._core._multiarray_umath*"), "{t}");
    assert!(t.contains("shared:") && t.contains("works"), "{t}");
}

#[test]
fn markupsafe_falls_back_to_pure_python_under_own_gil() {
    let Some(venv) = venv() else { return };
    let scratch = Scratch::new("audit-markupsafe");
    let script = scratch.file(
        "app.wsgi",
        "import markupsafe\n\
         assert markupsafe.escape('<') == '&lt;'\n\
         application = None\n",
    );
    let script = script.display().to_string();
    let out = express_audit(
        venv,
        &["--json", "--only-imported", "--mode", "own-gil", &script],
        &scratch.dir,
    );
    let r = report(&out);
    let modes = r.get("script").get("modes");
    let extensions = |mode: &str| -> Vec<String> {
        modes
            .get(mode)
            .get("extensions")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    // With a shared GIL the C speedups load.
    assert_eq!(
        modes.get("shared").get("ok").as_bool(),
        Some(true),
        "{}",
        text(&out)
    );
    assert!(extensions("shared").contains(&"markupsafe._speedups".to_string()));
    if own_gil_available() {
        // With its own GIL the import of _speedups is refused, markupsafe
        // catches the ImportError and uses its pure-Python code.
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(modes.get("own-gil").get("ok").as_bool(), Some(true));
        assert!(!extensions("own-gil").contains(&"markupsafe._speedups".to_string()));
        assert_refused(&r, "markupsafe._speedups", "_speedups");
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
}

#[test]
fn unknown_python_is_a_usage_error() {
    let scratch = Scratch::new("audit-usage");
    let out = express_command(
        &strings(&["audit-extensions", "--python", "/nonexistent/python"]),
        &scratch.dir,
    )
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("audit-extensions: error: no such Python: /nonexistent/python"));
}
