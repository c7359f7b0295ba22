//! Apache auth hooks written in Python: `WSGIAuthUserScript` (an Apache
//! authentication provider named `wsgi`, for Basic and Digest),
//! `WSGIAuthGroupScript` (the `Require wsgi-group` authorisation provider)
//! and `WSGIAccessScript` (host access control), checked against a real
//! Apache (started as root, `User www-data`).
//!
//! Reference: configuration-directives/WSGIAuthUserScript.rst,
//! WSGIAuthGroupScript.rst, WSGIAccessScript.rst and
//! user-guides/access-control-mechanisms.rst of the mod_wsgi 6 docs.
//!
//! tests/apps/auth/auth.wsgi provides all four hooks; each call records its
//! arguments, its environ and the interpreter it ran in to
//! `<server root>/state/<function>.json`, and counts itself in a
//! `_auth_test_shared` module that a WSGI app in the same interpreter can
//! see. tests/apps/auth/app.wsgi reports REMOTE_USER, AUTH_TYPE, its
//! process and application group and that count.
//!
//! Where the docs say nothing (what a script that raises, is missing or
//! returns a bad type leads to, what `None` from allow_access means), the
//! tests assert what C mod_wsgi 6.1.1 does; every test passes against it.
//!
//! Run: `cargo test --release --test auth_scripts`
//! (see tests/common/mod.rs for MOD_WSGI_SO / MOD_WSGI_PYTHON).

#[macro_use]
mod common;

use common::json::{self, Json};
use common::{
    apache_modules_dir, basic_credentials, htpasswd_line, python_eval, Mpm, Response, Server,
    ServerBuilder,
};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

const AUTH: &str = include_str!("apps/auth/auth.wsgi");
const APP: &str = include_str!("apps/auth/app.wsgi");

const LOG_WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// auth.wsgi recording its calls under `<root>/state`.
fn auth_script(root: &Path) -> String {
    let line = format!("STATE_DIR = '{}/state'", root.display());
    let script = AUTH.replacen("STATE_DIR = None", &line, 1);
    assert!(script.contains(&line), "auth.wsgi lacks its STATE_DIR line");
    script
}

/// A server with auth.wsgi and app.wsgi at the root of the server root,
/// a `state` directory www-data can write to and Apache's Basic auth and
/// `Require valid-user` modules loaded.
fn builder(mpm: Mpm) -> ServerBuilder {
    let b = ServerBuilder::new().mpm(mpm);
    let script = auth_script(b.root_path());
    b.module("auth_basic")
        .module("authn_core")
        .module("authz_user")
        .writable_dir("state")
        .file("auth.wsgi", script)
        .file("app.wsgi", APP)
}

/// `<Location path>` with Basic auth against `{root}/auth.wsgi`
/// (`script_options` follow the script path); `body` adds the Require
/// line(s) and anything else.
fn basic_location(path: &str, script_options: &str, body: &str) -> String {
    format!(
        "<Location {path}>\n  AuthType Basic\n  AuthName \"Top Secret\"\n  \
         AuthBasicProvider wsgi\n  WSGIAuthUserScript {{root}}/auth.wsgi{script_options}\n\
         {body}\n</Location>\n"
    )
}

/// GET `path` with Basic credentials (`None`: no Authorization header)
/// and further headers.
fn get_as(
    server: &Server,
    path: &str,
    creds: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> Response {
    let auth = creds.map(|(u, p)| basic_credentials(u, p));
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if let Some(a) = &auth {
        all.push(("Authorization", a));
    }
    server.request("GET", path, &all, b"")
}

/// Fails the test with the response body and error log unless `r.status`
/// is `status`.
fn expect(server: &Server, r: &Response, status: u16, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: body {:?}\n--- error_log ---\n{}",
        r.text(),
        server.error_log()
    );
}

/// The JSON body of a 200 response.
fn ok_json(server: &Server, r: &Response, what: &str) -> Json {
    expect(server, r, 200, what);
    r.json()
}

fn state_path(server: &Server, function: &str) -> std::path::PathBuf {
    server.root().join(format!("state/{function}.json"))
}

/// Forget what `function` recorded, so the next record is from a new call.
fn clear_state(server: &Server, function: &str) {
    let _ = fs::remove_file(state_path(server, function));
}

/// What the last call of `function` in auth.wsgi recorded.
fn state(server: &Server, function: &str) -> Json {
    let path = state_path(server, function);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{function} left no record at {} ({e}): was it called?\n--- error_log ---\n{}",
            path.display(),
            server.error_log()
        )
    });
    json::parse(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// Asserts that the error log written after `offset` comes to hold every
/// one of `needles`.
fn expect_log(server: &Server, offset: usize, needles: &[&str]) {
    for n in needles {
        assert!(
            server.wait_for_log_since(offset, n, LOG_WAIT),
            "{n:?} not logged; new error log output:\n{}",
            server.error_log_since(offset)
        );
    }
}

/// Rewrites `path` with `from` replaced by `to`, dated 5 s in the future
/// so a check of its modification time cannot miss the change.
fn edit_script(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
}

// ---------------------------------------------------------------------------
// 1. WSGIAuthUserScript: check_password() behind AuthType Basic
// ---------------------------------------------------------------------------

// Reference: access-control-mechanisms.rst "Apache Authentication Provider"
// (True / False / None from check_password, REMOTE_USER and AUTH_TYPE for
// the application), WSGIAuthUserScript.rst.
fn basic_auth_provider(mpm: Mpm) {
    let server = builder(mpm)
        .config("WSGIScriptAlias /basic {root}/app.wsgi")
        .config(&basic_location("/basic", "", "  Require valid-user"))
        .start();

    let r = get_as(&server, "/basic", None, &[]);
    expect(&server, &r, 401, "no credentials");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"Top Secret\""),
        "{:?}",
        r.headers
    );

    clear_state(&server, "check_password");
    let r = get_as(&server, "/basic", Some(("spy", "secret")), &[]);
    let j = ok_json(&server, &r, "right password");
    assert_eq!(j.str_of("REMOTE_USER"), "spy", "{j:?}");
    assert_eq!(j.str_of("AUTH_TYPE"), "Basic", "{j:?}");
    // The Authorization header itself stays hidden from the application.
    assert!(j.get("HTTP_AUTHORIZATION").is_null(), "{j:?}");
    let s = state(&server, "check_password");
    assert_eq!(s.get("args").str_of("user"), "spy");
    assert_eq!(s.get("args").str_of("password"), "secret");

    // False: the user exists but the password is wrong.
    let off = server.log_len();
    let r = get_as(&server, "/basic", Some(("spy", "wrong")), &[]);
    expect(&server, &r, 401, "wrong password");
    assert!(r.header("WWW-Authenticate").is_some(), "{:?}", r.headers);
    // mod_auth_basic tells AUTH_DENIED and AUTH_USER_NOT_FOUND apart.
    expect_log(
        &server,
        off,
        &["user spy: authentication failure", "Password Mismatch"],
    );

    // None: no such user.
    let off = server.log_len();
    let r = get_as(&server, "/basic", Some(("nobody", "secret")), &[]);
    expect(&server, &r, 401, "unknown user");
    expect_log(&server, off, &["user nobody not found"]);

    // A second user, after the failures, still gets in.
    let r = get_as(&server, "/basic", Some(("agent", "hunter2")), &[]);
    assert_eq!(ok_json(&server, &r, "agent").str_of("REMOTE_USER"), "agent");
}
mpm_tests!(basic_auth_provider => basic_auth_provider_event, basic_auth_provider_worker, basic_auth_provider_prefork);

// Reference: access-control-mechanisms.rst "Apache Authentication Provider"
// (a non-empty string result names the authenticated user).
#[test]
fn check_password_string_result_renames_the_user() {
    let server = builder(Mpm::Event)
        .config("WSGIScriptAlias /basic {root}/app.wsgi")
        .config(&basic_location("/basic", "", "  Require valid-user"))
        .start();
    let r = get_as(&server, "/basic", Some(("alias", "pw")), &[]);
    let j = ok_json(&server, &r, "alias user");
    assert_eq!(j.str_of("REMOTE_USER"), "canonical-user", "{j:?}");
    // The same function still refuses a wrong password for that user.
    let r = get_as(&server, "/basic", Some(("alias", "nope")), &[]);
    expect(&server, &r, 401, "alias with wrong password");
    // A non-ASCII name is stored as the UTF-8 encoding of the string, as
    // C 6.1.1 stores it, so the application's native string (one code
    // point per byte) shows those bytes: 'caf\xc3\xa9' comes back as
    // 'caf\xc3\x83\xc2\xa9'.
    let r = get_as(&server, "/basic", Some(("accent", "pw")), &[]);
    let j = ok_json(&server, &r, "accent user");
    assert_eq!(
        j.str_of("REMOTE_USER"),
        "caf\u{c3}\u{83}\u{c2}\u{a9}",
        "{j:?}"
    );
}

// ---------------------------------------------------------------------------
// 2. WSGIAuthUserScript: get_realm_hash() behind AuthType Digest
// ---------------------------------------------------------------------------

/// `Authorization: Digest ...` answering the challenge in `www_authenticate`
/// (RFC 2617, qop=auth, MD5) for a GET of `uri`.
fn digest_authorization(www_authenticate: &str, user: &str, password: &str, uri: &str) -> String {
    python_eval(
        "import hashlib, os, re\n\
         wa = os.environ['WA']\n\
         nonce = re.search(r'nonce=\"([^\"]*)\"', wa).group(1)\n\
         realm = re.search(r'realm=\"([^\"]*)\"', wa).group(1)\n\
         md5 = lambda s: hashlib.md5(s.encode()).hexdigest()\n\
         user, pw, uri = os.environ['U'], os.environ['P'], os.environ['URI']\n\
         ha1 = md5('%s:%s:%s' % (user, realm, pw))\n\
         ha2 = md5('GET:' + uri)\n\
         cnonce, nc = '0a4f113b', '00000001'\n\
         resp = md5(':'.join([ha1, nonce, nc, cnonce, 'auth', ha2]))\n\
         print('Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", algorithm=MD5, '\n\
               'response=\"%s\", qop=auth, nc=%s, cnonce=\"%s\"' % (user, realm, nonce, uri, resp, nc, cnonce))",
        &[
            ("WA", www_authenticate),
            ("U", user),
            ("P", password),
            ("URI", uri),
        ],
    )
}

// Reference: access-control-mechanisms.rst "Apache Authentication Provider"
// (AuthDigestProvider wsgi, get_realm_hash returning md5(user:realm:pw)).
#[test]
fn digest_auth_provider() {
    // Debian's apache2 package ships mod_auth_digest.so: its absence is a
    // broken set-up, not a reason to pass without checking.
    assert!(
        Path::new(&apache_modules_dir())
            .join("mod_auth_digest.so")
            .exists(),
        "this test needs mod_auth_digest.so in {} (part of Debian's apache2 package)",
        apache_modules_dir()
    );
    let server = builder(Mpm::Event)
        .module("auth_digest")
        .config(
            "WSGIScriptAlias /digest {root}/app.wsgi\n\
             <Location /digest>\n  AuthType Digest\n  AuthName \"Digest Realm\"\n  \
             AuthDigestProvider wsgi\n  WSGIAuthUserScript {root}/auth.wsgi\n  \
             Require valid-user\n</Location>",
        )
        .start();

    let challenge = |what: &str| {
        let r = get_as(&server, "/digest", None, &[]);
        expect(&server, &r, 401, what);
        let wa = r.header("WWW-Authenticate").unwrap_or("").to_string();
        assert!(
            wa.starts_with("Digest ") && wa.contains("realm=\"Digest Realm\""),
            "{wa:?}"
        );
        wa
    };

    let wa = challenge("no credentials");
    clear_state(&server, "get_realm_hash");
    let auth = digest_authorization(&wa, "spy", "secret", "/digest");
    let r = server.request("GET", "/digest", &[("Authorization", &auth)], b"");
    let j = ok_json(&server, &r, "right digest");
    assert_eq!(j.str_of("REMOTE_USER"), "spy", "{j:?}");
    assert_eq!(j.str_of("AUTH_TYPE"), "Digest", "{j:?}");
    let s = state(&server, "get_realm_hash");
    assert_eq!(s.get("args").str_of("user"), "spy");
    assert_eq!(s.get("args").str_of("realm"), "Digest Realm");

    let wa = challenge("before the wrong password");
    let auth = digest_authorization(&wa, "spy", "wrong", "/digest");
    let r = server.request("GET", "/digest", &[("Authorization", &auth)], b"");
    expect(&server, &r, 401, "wrong digest password");

    // None: unknown user.
    let wa = challenge("before the unknown user");
    let auth = digest_authorization(&wa, "nobody", "secret", "/digest");
    let r = server.request("GET", "/digest", &[("Authorization", &auth)], b"");
    expect(&server, &r, 401, "unknown digest user");
}

// ---------------------------------------------------------------------------
// 3. WSGIAuthGroupScript: groups_for_user() and Require wsgi-group
// ---------------------------------------------------------------------------

// Reference: access-control-mechanisms.rst "Apache Group Authorisation"
// (groups_for_user, Require wsgi-group, usable with any authentication
// provider), WSGIAuthGroupScript.rst.
#[test]
fn group_script_requires_membership() {
    let server = builder(Mpm::Event)
        .module("authn_file")
        .file(
            "htpasswd",
            format!("{}\n", htpasswd_line("spy", "filepass")),
        )
        .config(
            "WSGIScriptAlias /agents {root}/app.wsgi\n\
             WSGIScriptAlias /staff {root}/app.wsgi\n\
             WSGIScriptAlias /file {root}/app.wsgi",
        )
        .config(&basic_location(
            "/agents",
            "",
            "  WSGIAuthGroupScript {root}/auth.wsgi\n  Require wsgi-group secret-agents",
        ))
        .config(&basic_location(
            "/staff",
            "",
            "  WSGIAuthGroupScript {root}/auth.wsgi\n  Require wsgi-group staff",
        ))
        .config(
            "<Location /file>\n  AuthType Basic\n  AuthName \"File\"\n  \
             AuthBasicProvider file\n  AuthUserFile {root}/htpasswd\n  \
             WSGIAuthGroupScript {root}/auth.wsgi\n  Require wsgi-group secret-agents\n\
             </Location>",
        )
        .start();

    clear_state(&server, "groups_for_user");
    let r = get_as(&server, "/agents", Some(("spy", "secret")), &[]);
    let j = ok_json(&server, &r, "member of secret-agents");
    assert_eq!(j.str_of("REMOTE_USER"), "spy");
    assert_eq!(
        state(&server, "groups_for_user").get("args").str_of("user"),
        "spy"
    );

    // An authenticated user outside the group: authz_core answers 401 (the
    // request carried credentials, so the client may try other ones).
    let off = server.log_len();
    let r = get_as(&server, "/agents", Some(("agent", "hunter2")), &[]);
    expect(&server, &r, 401, "authenticated non-member");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"Top Secret\""),
        "{:?}",
        r.headers
    );
    expect_log(
        &server,
        off,
        &[
            "not a member of designated groups",
            "user agent: authorization failure for \"/agents\"",
        ],
    );
    assert_eq!(
        state(&server, "groups_for_user").get("args").str_of("user"),
        "agent"
    );

    let r = get_as(&server, "/agents", None, &[]);
    expect(&server, &r, 401, "no credentials");

    // The same user is in another group.
    let r = get_as(&server, "/staff", Some(("agent", "hunter2")), &[]);
    assert_eq!(ok_json(&server, &r, "staff").str_of("REMOTE_USER"), "agent");

    // Group authorisation on top of Apache's own password file.
    clear_state(&server, "check_password");
    clear_state(&server, "groups_for_user");
    let r = get_as(&server, "/file", Some(("spy", "filepass")), &[]);
    assert_eq!(
        ok_json(&server, &r, "file user").str_of("REMOTE_USER"),
        "spy"
    );
    assert_eq!(
        state(&server, "groups_for_user").get("args").str_of("user"),
        "spy"
    );
    assert!(
        !state_path(&server, "check_password").exists(),
        "check_password ran although AuthBasicProvider is file"
    );
    let r = get_as(&server, "/file", Some(("spy", "secret")), &[]);
    expect(&server, &r, 401, "password of the script, not of the file");
}

// ---------------------------------------------------------------------------
// 4. WSGIAccessScript: allow_access()
// ---------------------------------------------------------------------------

// Reference: access-control-mechanisms.rst "Host Access Controls"
// (allow_access(environ, host) returning True or False), WSGIAccessScript.rst.
// The docs only name True and False; C 6.1.1 treats None as "no decision"
// (Apache's own Require lines decide: 200 here) and anything else as an
// error that denies (403, "must be a boolean or None" logged).
#[test]
fn access_script_allows_and_denies() {
    let server = builder(Mpm::Event)
        .file("htdocs/guarded/page.txt", "guarded page\n")
        .config(
            "WSGIScriptAlias /access {root}/app.wsgi\n\
             <Location /access>\n  WSGIAccessScript {root}/auth.wsgi\n</Location>\n\
             <Directory {root}/htdocs/guarded>\n  WSGIAccessScript {root}/auth.wsgi\n</Directory>",
        )
        .start();

    clear_state(&server, "allow_access");
    let r = get_as(&server, "/access", None, &[("X-Access", "allow")]);
    let j = ok_json(&server, &r, "allow_access True");
    assert!(j.get("REMOTE_USER").is_null(), "{j:?}");
    // HostnameLookups Off: the host is the client's address.
    let s = state(&server, "allow_access");
    assert_eq!(s.get("args").str_of("host"), "127.0.0.1", "{s:?}");

    let off = server.log_len();
    let r = get_as(&server, "/access", None, &[("X-Access", "deny")]);
    expect(&server, &r, 403, "allow_access False");
    assert!(r.header("WWW-Authenticate").is_none(), "{:?}", r.headers);
    expect_log(&server, off, &["denied by server configuration"]);

    let r = get_as(&server, "/access", None, &[("X-Access", "none")]);
    expect(&server, &r, 200, "allow_access None");

    let off = server.log_len();
    let r = get_as(&server, "/access", None, &[("X-Access", "other")]);
    expect(&server, &r, 403, "allow_access returning a string");
    expect_log(&server, off, &["must be a boolean or None"]);

    // It guards static files as well.
    let r = get_as(&server, "/guarded/page.txt", None, &[("X-Access", "allow")]);
    expect(&server, &r, 200, "static file, allowed");
    assert_eq!(r.text(), "guarded page\n");
    let r = get_as(&server, "/guarded/page.txt", None, &[("X-Access", "deny")]);
    expect(&server, &r, 403, "static file, denied");
}

// ---------------------------------------------------------------------------
// 5. application-group=: which interpreter the scripts run in
// ---------------------------------------------------------------------------

// Reference: WSGIAuthUserScript.rst, WSGIAuthGroupScript.rst,
// WSGIAccessScript.rst (application-group= option, default %{GLOBAL}),
// access-control-mechanisms.rst ("The namespace for authentication groups
// is shared with that for application groups").
#[test]
fn application_group_option_selects_the_interpreter() {
    let server = builder(Mpm::Event)
        .single_process()
        .config(
            "WSGIScriptAlias /split {root}/app.wsgi application-group=appgrp\n\
             WSGIScriptAlias /named {root}/app.wsgi application-group=authgrp\n\
             WSGIScriptAlias /global {root}/app.wsgi application-group=%{GLOBAL}\n\
             WSGIScriptAlias /hooks {root}/app.wsgi application-group=appgrp",
        )
        .config(&basic_location(
            "/split",
            " application-group=authgrp",
            "  Require valid-user",
        ))
        .config(&basic_location(
            "/named",
            " application-group=authgrp",
            "  Require valid-user",
        ))
        .config(&basic_location("/global", "", "  Require valid-user"))
        .config(&basic_location(
            "/hooks",
            " application-group=%{GLOBAL}",
            "  WSGIAuthGroupScript {root}/auth.wsgi application-group=grpgrp\n  \
             WSGIAccessScript {root}/auth.wsgi application-group=accgrp\n  \
             Require wsgi-group staff",
        ))
        .start();
    let spy = Some(("spy", "secret"));

    // The script ran in 'authgrp', not in the app's interpreter.
    let r = get_as(&server, "/split", spy, &[]);
    let j = ok_json(&server, &r, "/split");
    assert_eq!(j.str_of("application_group"), "appgrp");
    assert!(j.get("shared_calls").is_null(), "{j:?}");
    let s = state(&server, "check_password");
    assert_eq!(s.str_of("module_application_group"), "authgrp", "{s:?}");
    assert_eq!(
        s.get("environ").str_of("mod_wsgi.application_group"),
        "authgrp"
    );

    // An app in 'authgrp' shares the interpreter: it sees both calls.
    let r = get_as(&server, "/named", spy, &[]);
    let j = ok_json(&server, &r, "/named");
    assert_eq!(j.str_of("application_group"), "authgrp");
    assert_eq!(j.get("shared_calls").as_i64(), Some(2), "{j:?}");

    // Default: the main interpreter, application group ''.
    let r = get_as(&server, "/global", spy, &[]);
    let j = ok_json(&server, &r, "/global");
    assert_eq!(j.str_of("application_group"), "");
    assert_eq!(j.get("shared_calls").as_i64(), Some(1), "{j:?}");
    let s = state(&server, "check_password");
    assert_eq!(s.str_of("module_application_group"), "", "{s:?}");
    assert_eq!(s.get("environ").str_of("mod_wsgi.application_group"), "");

    // Each of the three directives honours its own option.
    let r = get_as(&server, "/hooks", spy, &[]);
    ok_json(&server, &r, "/hooks");
    for (function, group) in [
        ("check_password", ""),
        ("groups_for_user", "grpgrp"),
        ("allow_access", "accgrp"),
    ] {
        let s = state(&server, function);
        assert_eq!(s.str_of("module_application_group"), group, "{function}");
        assert_eq!(
            s.get("environ").str_of("mod_wsgi.application_group"),
            group,
            "{function}"
        );
        // Each interpreter loaded the script once, on its first call.
        assert_eq!(s.get("loads").as_i64(), Some(1), "{function}: {s:?}");
    }
}

// ---------------------------------------------------------------------------
// 6. Scripts that raise or return the wrong type
// ---------------------------------------------------------------------------

// The docs do not say; C 6.1.1: an exception in check_password, a result
// other than True/False/None/str, or an empty string is a server error (500,
// the exception, WSGI0177 or WSGI0176 logged), and the server goes on
// serving.
#[test]
fn user_script_errors_are_500_and_the_server_keeps_serving() {
    let mut server = builder(Mpm::Event)
        .config("WSGIScriptAlias /basic {root}/app.wsgi")
        .config(&basic_location("/basic", "", "  Require valid-user"))
        .start();
    let script = format!("{}/auth.wsgi", server.root().display());
    // As in C, the lines are tagged with the file the request is for.
    let tag = format!("[script {}/app.wsgi]", server.root().display());

    let off = server.log_len();
    let r = get_as(&server, "/basic", Some(("boom", "x")), &[]);
    expect(&server, &r, 500, "check_password raised");
    expect_log(
        &server,
        off,
        &[
            &format!(
                "WSGI0174: {tag} RuntimeError exception raised processing WSGI script \
                 '{script}' for main interpreter in embedded mode."
            ),
            "RuntimeError: check_password exploded for boom",
        ],
    );

    let off = server.log_len();
    let r = get_as(&server, "/basic", Some(("weird", "x")), &[]);
    expect(&server, &r, 500, "check_password returned 42");
    expect_log(
        &server,
        off,
        &[&format!(
            "{tag} WSGI0177: Basic auth provider must return True, False, None or user name as string."
        )],
    );

    // An empty name is refused, not taken as a grant.
    let off = server.log_len();
    let r = get_as(&server, "/basic", Some(("nameless", "x")), &[]);
    expect(&server, &r, 500, "check_password returned ''");
    expect_log(
        &server,
        off,
        &[&format!(
            "{tag} WSGI0176: Basic auth provider returned empty user name string."
        )],
    );

    for _ in 0..3 {
        let r = get_as(&server, "/basic", Some(("spy", "secret")), &[]);
        assert_eq!(
            ok_json(&server, &r, "after errors").str_of("REMOTE_USER"),
            "spy"
        );
    }
    assert!(server.is_alive(), "Apache died");
}

// The docs do not say; C 6.1.1: an exception in groups_for_user denies the
// user (401 from authz_core), one in allow_access denies the client (403);
// both are logged.
#[test]
fn group_and_access_script_exceptions_deny() {
    let mut server = builder(Mpm::Event)
        .config(
            "WSGIScriptAlias /group {root}/app.wsgi\n\
             WSGIScriptAlias /access {root}/app.wsgi\n\
             <Location /access>\n  WSGIAccessScript {root}/auth.wsgi\n</Location>",
        )
        .config(&basic_location(
            "/group",
            "",
            "  WSGIAuthGroupScript {root}/auth.wsgi\n  Require wsgi-group staff",
        ))
        .start();

    let off = server.log_len();
    let r = get_as(&server, "/group", Some(("boom-group", "pw")), &[]);
    expect(&server, &r, 401, "groups_for_user raised");
    expect_log(
        &server,
        off,
        &[
            "RuntimeError: groups_for_user exploded",
            "user boom-group: authorization failure",
        ],
    );

    let off = server.log_len();
    let r = get_as(&server, "/access", None, &[("X-Access", "raise")]);
    expect(&server, &r, 403, "allow_access raised");
    expect_log(&server, off, &["RuntimeError: allow_access exploded"]);

    let r = get_as(&server, "/group", Some(("agent", "hunter2")), &[]);
    assert_eq!(
        ok_json(&server, &r, "group after error").str_of("REMOTE_USER"),
        "agent"
    );
    let r = get_as(&server, "/access", None, &[]);
    expect(&server, &r, 200, "access after error");
    assert!(server.is_alive(), "Apache died");
}

// ---------------------------------------------------------------------------
// 7. A script file that does not exist
// ---------------------------------------------------------------------------

// The docs do not say; C 6.1.1 logs that it could not read the file
// ("(2)No such file or directory" ... "FileNotFoundError") and answers 500
// for the user script, 401 for the group script (authorization failure),
// 403 for the access script.
#[test]
fn missing_script_files() {
    let server = builder(Mpm::Event)
        .config(
            "WSGIScriptAlias /user {root}/app.wsgi\n\
             WSGIScriptAlias /group {root}/app.wsgi\n\
             WSGIScriptAlias /access {root}/app.wsgi\n\
             <Location /user>\n  AuthType Basic\n  AuthName \"Top Secret\"\n  \
             AuthBasicProvider wsgi\n  WSGIAuthUserScript {root}/missing-user.wsgi\n  \
             Require valid-user\n</Location>\n\
             <Location /access>\n  WSGIAccessScript {root}/missing-access.wsgi\n</Location>",
        )
        .config(&basic_location(
            "/group",
            "",
            "  WSGIAuthGroupScript {root}/missing-group.wsgi\n  Require wsgi-group staff",
        ))
        .start();
    let root = server.root().display().to_string();

    for (path, creds, status, missing) in [
        ("/user", Some(("spy", "secret")), 500, "missing-user.wsgi"),
        ("/group", Some(("spy", "secret")), 401, "missing-group.wsgi"),
        ("/access", None, 403, "missing-access.wsgi"),
    ] {
        let off = server.log_len();
        let r = get_as(&server, path, creds, &[]);
        expect(&server, &r, status, path);
        expect_log(
            &server,
            off,
            &[&format!("{root}/{missing}"), "No such file or directory"],
        );
    }
    // Without credentials the user script is never needed.
    let r = get_as(&server, "/user", None, &[]);
    expect(&server, &r, 401, "/user without credentials");
}

// ---------------------------------------------------------------------------
// 8. The environ passed to the scripts
// ---------------------------------------------------------------------------

// Reference: access-control-mechanisms.rst (a cut-down WSGI environ with
// wsgi.errors; SetEnv values are not passed). The keys checked are those
// C 6.1.1 provides.
#[test]
fn scripts_get_a_cut_down_environ() {
    let server = builder(Mpm::Event)
        .module("env")
        .config(
            "SetEnv AUTH_TEST_SETENV visible\n\
             WSGIScriptAlias /env {root}/app.wsgi",
        )
        .config(&basic_location(
            "/env",
            "",
            "  WSGIAuthGroupScript {root}/auth.wsgi\n  \
             WSGIAccessScript {root}/auth.wsgi\n  Require wsgi-group staff",
        ))
        .start();
    let port = server.port().to_string();

    let off = server.log_len();
    let r = get_as(
        &server,
        "/env/extra?x=1",
        Some(("spy", "secret")),
        &[("X-Marker", "m-1")],
    );
    let j = ok_json(&server, &r, "/env/extra");
    // SetEnv does reach the application...
    assert_eq!(j.str_of("AUTH_TEST_SETENV"), "visible", "{j:?}");
    assert_eq!(j.str_of("SCRIPT_NAME"), "/env");
    assert_eq!(j.str_of("PATH_INFO"), "/extra");

    for function in ["check_password", "groups_for_user", "allow_access"] {
        let env = state(&server, function).get("environ").clone();
        let want = [
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/env/extra?x=1"),
            ("SCRIPT_NAME", "/env"),
            ("PATH_INFO", "/extra"),
            ("QUERY_STRING", "x=1"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("SERVER_NAME", "127.0.0.1"),
            ("SERVER_PORT", port.as_str()),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("HTTP_X_MARKER", "m-1"),
            ("mod_wsgi.application_group", ""),
            ("mod_wsgi.process_group", ""),
        ];
        for (key, value) in want {
            assert_eq!(
                env.get(key).as_str(),
                Some(value),
                "{function}: {key} in {env:?}"
            );
        }
        assert_eq!(
            env.get("HTTP_HOST").as_str(),
            Some(format!("127.0.0.1:{port}").as_str()),
            "{function}"
        );
        assert!(env.has("wsgi.errors"), "{function}: {env:?}");
        // ...but not to the auth scripts; nor do the credentials.
        assert!(!env.has("AUTH_TEST_SETENV"), "{function}: {env:?}");
        assert!(!env.has("HTTP_AUTHORIZATION"), "{function}: {env:?}");
    }
    // wsgi.errors writes reach the error log.
    expect_log(
        &server,
        off,
        &[
            "auth-test: allow_access called",
            "auth-test: check_password called",
            "auth-test: groups_for_user called",
        ],
    );
}

// ---------------------------------------------------------------------------
// 9. Script reloading
// ---------------------------------------------------------------------------

// Reference: WSGIScriptReloading.rst (On by default: a changed script file
// is reloaded). C 6.1.1 applies it to the auth scripts: the edited
// password takes effect on the next request, and not at all under
// WSGIScriptReloading Off.
#[test]
fn changed_user_script_is_reloaded() {
    let b = builder(Mpm::Event).single_process();
    let copy = auth_script(b.root_path());
    let server = b
        .file("fixed.wsgi", copy)
        .config(
            "WSGIScriptAlias /reload {root}/app.wsgi\n\
             WSGIScriptAlias /fixed {root}/app.wsgi\n\
             <Location /fixed>\n  WSGIScriptReloading Off\n  AuthType Basic\n  \
             AuthName \"Fixed\"\n  AuthBasicProvider wsgi\n  \
             WSGIAuthUserScript {root}/fixed.wsgi application-group=fixed\n  \
             Require valid-user\n</Location>",
        )
        .config(&basic_location("/reload", "", "  Require valid-user"))
        .start();
    let old = Some(("spy", "secret"));
    let new = Some(("spy", "changed"));

    for path in ["/reload", "/fixed"] {
        expect(&server, &get_as(&server, path, old, &[]), 200, path);
        expect(&server, &get_as(&server, path, new, &[]), 401, path);
    }
    assert_eq!(
        state(&server, "check_password").get("loads").as_i64(),
        Some(1)
    );

    let edit = |name: &str| {
        edit_script(
            &server.root().join(name),
            "'spy': 'secret'",
            "'spy': 'changed'",
        )
    };
    edit("auth.wsgi");
    edit("fixed.wsgi");

    clear_state(&server, "check_password");
    let r = get_as(&server, "/reload", old, &[]);
    expect(&server, &r, 401, "old password after the edit");
    let s = state(&server, "check_password");
    assert_eq!(s.get("loads").as_i64(), Some(2), "not reloaded: {s:?}");
    let r = get_as(&server, "/reload", new, &[]);
    assert_eq!(
        ok_json(&server, &r, "new password").str_of("REMOTE_USER"),
        "spy"
    );

    // WSGIScriptReloading Off keeps the loaded script.
    expect(
        &server,
        &get_as(&server, "/fixed", old, &[]),
        200,
        "/fixed old",
    );
    expect(
        &server,
        &get_as(&server, "/fixed", new, &[]),
        401,
        "/fixed new",
    );
}

// ---------------------------------------------------------------------------
// 10. .htaccess (AllowOverride AuthConfig)
// ---------------------------------------------------------------------------

// Reference: the three directive pages (Context: directory, .htaccess;
// Override: AuthConfig).
#[test]
fn htaccess_with_allow_override_auth_config() {
    let b = builder(Mpm::Event);
    let root = b.root_path().display().to_string();
    let user_conf = format!(
        "AuthType Basic\nAuthName \"htaccess realm\"\nAuthBasicProvider wsgi\n\
         WSGIAuthUserScript {root}/auth.wsgi\nWSGIAuthGroupScript {root}/auth.wsgi\n\
         Require wsgi-group secret-agents\n"
    );
    let mut b = b
        .file("htdocs/users/index.html", "users page\n")
        .file("htdocs/users/app.wsgi", APP)
        .file("htdocs/users/.htaccess", &user_conf)
        .file("htdocs/hosts/index.html", "hosts page\n")
        .file(
            "htdocs/hosts/.htaccess",
            format!("WSGIAccessScript {root}/auth.wsgi\n"),
        )
        .config(
            "WSGIScriptAlias /users-app {root}/htdocs/users/app.wsgi\n\
             <Directory {root}/htdocs/users>\n  AllowOverride AuthConfig\n</Directory>\n\
             <Directory {root}/htdocs/hosts>\n  AllowOverride AuthConfig\n</Directory>",
        );
    // Under another override class each directive is refused.
    let refused = [
        ("user", format!("WSGIAuthUserScript {root}/auth.wsgi\n")),
        ("group", format!("WSGIAuthGroupScript {root}/auth.wsgi\n")),
        ("access", format!("WSGIAccessScript {root}/auth.wsgi\n")),
    ];
    for (dir, line) in &refused {
        b = b
            .file(&format!("htdocs/fileinfo-{dir}/index.html"), "open\n")
            .file(&format!("htdocs/fileinfo-{dir}/.htaccess"), line)
            .config(&format!(
                "<Directory {{root}}/htdocs/fileinfo-{dir}>\n  AllowOverride FileInfo\n</Directory>"
            ));
    }
    let server = b.start();

    let r = get_as(&server, "/users/", None, &[]);
    expect(&server, &r, 401, "no credentials");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"htaccess realm\"")
    );
    let r = get_as(&server, "/users/", Some(("spy", "secret")), &[]);
    expect(&server, &r, 200, "member");
    assert_eq!(r.text(), "users page\n");
    let r = get_as(&server, "/users/", Some(("spy", "wrong")), &[]);
    expect(&server, &r, 401, "wrong password");
    let r = get_as(&server, "/users/", Some(("agent", "hunter2")), &[]);
    expect(&server, &r, 401, "not in secret-agents");
    let r = get_as(&server, "/users-app", Some(("spy", "secret")), &[]);
    assert_eq!(
        ok_json(&server, &r, "app under .htaccess").str_of("REMOTE_USER"),
        "spy"
    );

    let r = get_as(&server, "/hosts/", None, &[("X-Access", "deny")]);
    expect(&server, &r, 403, "access script denies");
    let r = get_as(&server, "/hosts/", None, &[]);
    expect(&server, &r, 200, "access script allows");
    assert_eq!(r.text(), "hosts page\n");

    for (dir, line) in &refused {
        let directive = line.split(' ').next().unwrap();
        let off = server.log_len();
        let r = get_as(&server, &format!("/fileinfo-{dir}/"), None, &[]);
        expect(&server, &r, 500, directive);
        expect_log(&server, off, &[&format!("{directive} not allowed here")]);
    }
}

// ---------------------------------------------------------------------------
// Daemon mode: the scripts still run in the Apache child
// ---------------------------------------------------------------------------

// Reference: the three directive pages ("the script always runs in
// processes associated with embedded mode"), access-control-mechanisms.rst
// ("always in the Apache child processes, never in a daemon process").
#[test]
fn auth_script_gates_a_daemon_mode_app() {
    let server = builder(Mpm::Event)
        .config(
            "WSGISocketPrefix {root}/run/wsgi\n\
             WSGIDaemonProcess authd threads=2\n\
             WSGIScriptAlias /d {root}/app.wsgi process-group=authd application-group=%{GLOBAL}",
        )
        .config(&basic_location(
            "/d",
            "",
            "  WSGIAuthGroupScript {root}/auth.wsgi\n  Require wsgi-group staff",
        ))
        .start();

    let r = get_as(&server, "/d", None, &[]);
    expect(&server, &r, 401, "no credentials");
    let r = get_as(&server, "/d", Some(("spy", "wrong")), &[]);
    expect(&server, &r, 401, "wrong password");

    let r = get_as(&server, "/d", Some(("spy", "secret")), &[]);
    let j = ok_json(&server, &r, "daemon app");
    assert_eq!(j.str_of("process_group"), "authd", "{j:?}");
    assert_eq!(j.str_of("REMOTE_USER"), "spy", "{j:?}");
    assert_eq!(j.str_of("AUTH_TYPE"), "Basic", "{j:?}");
    // The daemon's main interpreter never ran the auth script...
    assert!(j.get("shared_calls").is_null(), "{j:?}");
    // ...the Apache child did, outside any process group.
    let app_pid = j.get("pid").as_i64().unwrap();
    for function in ["check_password", "groups_for_user"] {
        let s = state(&server, function);
        assert_ne!(s.get("pid").as_i64(), Some(app_pid), "{function}: {s:?}");
        assert_eq!(s.str_of("module_process_group"), "", "{function}");
        assert_eq!(s.get("environ").str_of("mod_wsgi.process_group"), "");
    }
}

/// With mod_ssl loaded, the environ of an auth script carries the C
/// module's `mod_ssl.is_https()` and `mod_ssl.var_lookup(name)` (plain
/// HTTP here: 0 and `'off'`), with its argument checks, and no mod_wsgi.*
/// routing keys. Checked against C mod_wsgi 6.1.1.
#[test]
fn auth_script_environ_has_the_mod_ssl_functions() {
    let probe = "import sys\n\
def check_password(environ, user, password):\n    \
    keys = sorted(k for k in environ if k.startswith(('mod_ssl', 'mod_wsgi')))\n    \
    f, g = environ['mod_ssl.is_https'], environ['mod_ssl.var_lookup']\n    \
    out = [repr(keys), repr((f(), g('HTTPS'), g('SSL_CIPHER'), type(f).__name__))]\n    \
    for call in (lambda: g(), lambda: f(1), lambda: g(1)):\n        \
        try:\n            call()\n        \
        except TypeError as e:\n            out.append(str(e))\n    \
    sys.stderr.write('PROBE ' + ' | '.join(out) + '\\n')\n    \
    return password == 'pw'\n";
    let server = builder(Mpm::Event)
        .module("ssl")
        .file("probe.wsgi", probe)
        .config("WSGIScriptAlias /basic {root}/app.wsgi")
        .config(
            "<Location /basic>\n  AuthType Basic\n  AuthName \"Top Secret\"\n  \
             AuthBasicProvider wsgi\n  WSGIAuthUserScript {root}/probe.wsgi\n  \
             Require valid-user\n</Location>\n",
        )
        .start();
    let r = get_as(&server, "/basic", Some(("someone", "pw")), &[]);
    expect(&server, &r, 200, "probe user");
    let log = server.error_log();
    let line = log
        .lines()
        .find_map(|l| l.split_once("PROBE ").map(|(_, p)| p.to_string()))
        .unwrap_or_else(|| panic!("no probe line:\n{log}"));
    assert_eq!(
        line,
        "['mod_ssl.is_https', 'mod_ssl.var_lookup', 'mod_wsgi.application_group', \
         'mod_wsgi.process_group', 'mod_wsgi.version'] | \
         (0, 'off', '', 'builtin_function_or_method') | \
         ssl_var_lookup() takes exactly 1 argument (0 given) | \
         ssl_is_https() takes exactly 0 arguments (1 given) | \
         byte string value expected, value of type int found"
    );
}
