//! Generates Apache/APR bindings with bindgen and embeds an rpath to the
//! Python library so `LoadModule` needs no LD_LIBRARY_PATH.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn apxs_query(apxs: &str, var: &str) -> String {
    let out = Command::new(apxs)
        .args(["-q", var])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{apxs} -q {var}` (install apache2-dev or set APXS): {e}")
        });
    assert!(
        out.status.success(),
        "`{apxs} -q {var}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    println!("cargo:rerun-if-changed=apxs/wrapper.h");
    println!("cargo:rerun-if-env-changed=APXS");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");

    pyo3_build_config::use_pyo3_cfgs();
    let python = pyo3_build_config::get();
    println!(
        "cargo:rustc-env=MOD_WSGI_BUILD_PYTHON_VERSION={}.{}",
        python.version().major,
        python.version().minor
    );
    println!(
        "cargo:rustc-env=MOD_WSGI_BUILD_PYTHON_EXECUTABLE={}",
        python.executable().unwrap_or("")
    );
    if let Some(lib_dir) = python.lib_dir() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{lib_dir}");
    }

    let apxs = env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    let mut builder = bindgen::Builder::default()
        .header("apxs/wrapper.h")
        .allowlist_function("(ap|apr|apu)_.*")
        .allowlist_var("ap_unixd_config|ap_scoreboard_image")
        .allowlist_type("(ap|apr|apu)_.*|authn_provider|authz_provider|authn_status|authz_status|unixd_config_rec|request_rec|server_rec|conn_rec|module|command_rec|cmd_parms|process_rec|core_dir_config|scoreboard|global_score|process_score|worker_score")
        .allowlist_var("(AP|APR|APLOG|HTTP|OK|DECLINED|DONE|M_|OR_|OPT_|ACCESS_CONF|AUTHN_|AUTHZ_|SATISFY_|RSRC_CONF|EXEC_ON_READ|NOT_IN_|GLOBAL_ONLY|MODULE_MAGIC|REQUEST_CHUNKED|HTTP_).*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false);
    for var in ["INCLUDEDIR", "APR_INCLUDEDIR", "APU_INCLUDEDIR"] {
        builder = builder.clang_arg(format!("-I{}", apxs_query(&apxs, var)));
    }
    for flag in apxs_query(&apxs, "EXTRA_CPPFLAGS").split_whitespace() {
        builder = builder.clang_arg(flag.to_string());
    }
    let bindings = builder
        .generate()
        .expect("bindgen failed to process the Apache headers");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("apache_bindings.rs");
    bindings
        .write_to_file(out)
        .expect("cannot write Apache bindings");
}
