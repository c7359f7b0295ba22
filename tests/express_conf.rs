//! The rest of httpd.conf, directive by directive, against the C package's.
//!
//! For each of a handful of option sets, the C package's `setup-server`
//! and ours write a server root. Each generated httpd.conf is reduced to
//! what Apache would act on: comments and blank lines dropped,
//! continuation lines joined, `<IfDefine>` blocks resolved with the `-D`
//! defines that root's `apachectl` passes, `<IfModule>` blocks resolved
//! against Apache's compiled-in modules and the `LoadModule` lines read so
//! far, `${VAR}` replaced with what `apachectl`/`envvars` set, quotes
//! removed, old directive names mapped to their current ones, and the
//! paths that are bound to differ (server root, modules directory, the
//! wsgi module, the Python home) replaced by placeholders. Each directive
//! is kept with the sections it sits in (`<Directory {ROOT}/htdocs> >
//! RewriteEngine On`), and the two packages' lists are compared as
//! multisets.
//!
//! Every difference must be on `ALLOWED` with the reason we differ; an
//! unexplained one fails the test, and so does an `ALLOWED` entry that no
//! option set produces any more. The options of the `WSGIDaemonProcess`
//! line are compared by
//! `express_options::daemon_process_lines_match_the_c_package`; here only
//! the line itself (its group name) counts.
//!
//! Run: `cargo test --release --test express_conf`

mod common;

use common::differential::{c_module, setup_server};
use common::express::{run_express, strings, text, Scratch};
use common::{apache_bin, apache_modules_dir, module_path};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const APP: &str =
    "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n";

/// The port both packages are told to listen on (nothing is started).
const PORT: &str = "8555";
const HTTPS_PORT: &str = "8556";

/// Which package wrote a directive that the other did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Only {
    C,
    Ours,
}

/// A difference we accept: the package that writes the directive, the
/// normalised directive (a trailing `*` matches any rest), and why.
struct Allowed {
    only: Only,
    directive: &'static str,
    why: &'static str,
}

const fn allowed(only: Only, directive: &'static str, why: &'static str) -> Allowed {
    Allowed {
        only,
        directive,
        why,
    }
}

const SIZING: &str = "ours sizes Apache's worker pool by its own documented rule \
    (docs/express.md, --max-clients)";
const ROUTING: &str = "the C package sends every request through its handler.wsgi \
    with a rewrite rule; ours mounts the script with WSGIScriptAlias (docs/express.md)";
const DOC_ROOT: &str = "with a document root at /, ours hands missing files to its \
    generated handler under its own handler name (docs/express.md)";
const REWRITE_CONF: &str =
    "ours includes rewrite.conf only with --rewrite-rules (the C package's is empty)";
const MODULE_DEFAULT: &str = "the module's default; ours does not spell it out";
const APACHE_DEFAULT: &str = "Apache's default; written or not, nothing changes";

const ALLOWED: &[Allowed] = &[
    allowed(Only::C, "WSGIVerboseDebugging Off", MODULE_DEFAULT),
    allowed(Only::C, "WSGIDestroyInterpreter On", MODULE_DEFAULT),
    allowed(Only::C, "WSGIServerMetrics Off", MODULE_DEFAULT),
    allowed(Only::C, "AccessFileName .htaccess", APACHE_DEFAULT),
    allowed(Only::Ours, "UseCanonicalName Off", APACHE_DEFAULT),
    allowed(
        Only::C,
        "ThreadStackSize 262144",
        "ours keeps Apache's default thread stack: in embedded mode Python runs on \
         these threads and deep recursion needs more than 256 KiB",
    ),
    allowed(Only::C, "ServerLimit *", SIZING),
    allowed(Only::C, "ThreadLimit *", SIZING),
    allowed(Only::C, "ThreadsPerChild *", SIZING),
    allowed(Only::C, "MaxRequestWorkers *", SIZING),
    allowed(Only::C, "MinSpareThreads *", SIZING),
    allowed(Only::C, "MaxSpareThreads *", SIZING),
    allowed(Only::C, "StartServers *", SIZING),
    allowed(Only::C, "MaxSpareServers *", SIZING),
    allowed(Only::Ours, "ServerLimit *", SIZING),
    allowed(Only::Ours, "ThreadLimit *", SIZING),
    allowed(Only::Ours, "ThreadsPerChild *", SIZING),
    allowed(Only::Ours, "MaxRequestWorkers *", SIZING),
    allowed(Only::Ours, "MinSpareThreads *", SIZING),
    allowed(Only::Ours, "MaxSpareThreads *", SIZING),
    allowed(Only::Ours, "StartServers *", SIZING),
    allowed(Only::Ours, "MaxSpareServers *", SIZING),
    allowed(Only::C, "<Directory {ROOT}> > AllowOverride None", ROUTING),
    allowed(
        Only::C,
        "<Directory {ROOT}> > <Files handler.wsgi> > Require all granted",
        ROUTING,
    ),
    allowed(Only::C, "<Directory {ROOT}/htdocs> > Rewrite*", ROUTING),
    allowed(
        Only::C,
        "WSGIHandlerScript wsgi-handler {ROOT}/handler.wsgi *",
        ROUTING,
    ),
    allowed(
        Only::C,
        "WSGIImportScript {ROOT}/handler.wsgi process-group='*",
        ROUTING,
    ),
    allowed(
        Only::Ours,
        "WSGIScriptAlias / {SCRATCH}/app.wsgi *",
        ROUTING,
    ),
    allowed(
        Only::Ours,
        "<Directory {SCRATCH}> > <Files app.wsgi> > Require all granted",
        ROUTING,
    ),
    allowed(Only::Ours, "WSGIProcessGroup 127.0.0.1:8555", ROUTING),
    allowed(Only::Ours, "WSGIApplicationGroup %{GLOBAL}", ROUTING),
    allowed(
        Only::Ours,
        "DirectoryIndex disabled",
        "the application answers for directories, so Apache does not look for index files",
    ),
    allowed(
        Only::C,
        "<Directory {ROOT}/htdocs> > Include {ROOT}/rewrite.conf",
        REWRITE_CONF,
    ),
    allowed(
        Only::C,
        "<Directory {SCRATCH}/site> > Include {ROOT}/rewrite.conf",
        REWRITE_CONF,
    ),
    allowed(
        Only::C,
        "<Directory {SCRATCH}/site> > RewriteOptions InheritDownBefore",
        REWRITE_CONF,
    ),
    allowed(
        Only::C,
        "<Directory {SCRATCH}/site> > RewriteRule .* - [H=wsgi-handler]",
        DOC_ROOT,
    ),
    allowed(
        Only::Ours,
        "<Directory {SCRATCH}/site> > RewriteRule .* - [H=express-resource]",
        DOC_ROOT,
    ),
    allowed(Only::Ours, "WSGIHandlerScript express-resource *", DOC_ROOT),
    allowed(
        Only::Ours,
        "WSGIImportScript {ROOT}/handler.wsgi process-group=127.0.0.1:8555 *",
        DOC_ROOT,
    ),
    allowed(
        Only::C,
        "WSGICallableObject application",
        "with a document root ours's generated handler takes the callable itself",
    ),
    allowed(
        Only::Ours,
        "<Directory {SCRATCH}/site> > Options +FollowSymLinks",
        "mod_rewrite in a directory needs it; Apache's default has it anyway",
    ),
    allowed(
        Only::Ours,
        "LoadModule socache_shmcb_module {MODULES}/mod_socache_shmcb.so",
        "ours gives HTTPS a TLS session cache (SSLSessionCache)",
    ),
    allowed(
        Only::Ours,
        "SSLSessionCache shmcb:{ROOT}/ssl_scache(512000)",
        "ours gives HTTPS a TLS session cache",
    ),
    allowed(
        Only::C,
        "LogFormat %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" combined",
        "header names are case-insensitive: User-agent and User-Agent log the same",
    ),
    allowed(
        Only::Ours,
        "LogFormat %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" combined",
        "header names are case-insensitive: User-agent and User-Agent log the same",
    ),
    allowed(
        Only::C,
        "LogFormat undefined custom",
        "the C package defines a format named custom from an unset \
         --access-log-format; nothing uses it",
    ),
];

/// Reads `NAME=VALUE` assignments of a generated shell script in order,
/// resolving `${NAME}` and `${NAME:-DEFAULT}` against what came before
/// (apachectl runs in a clean environment, so nothing else is set).
fn shell_assignments(script: &str, env: &mut BTreeMap<String, String>) {
    for line in script.lines() {
        let line = line.trim();
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        let resolved = substitute(value, env);
        env.insert(name.to_string(), resolved);
    }
}

/// Replaces `${NAME}` and `${NAME:-DEFAULT}`, innermost first.
fn substitute(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut s = text.to_string();
    while let Some(start) = s.rfind("${") {
        let Some(len) = s[start..].find('}') else {
            break;
        };
        let inner = &s[start + 2..start + len];
        let value = match inner.split_once(":-") {
            Some((name, default)) => env
                .get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_string()),
            None => env
                .get(inner)
                .cloned()
                .unwrap_or_else(|| format!("{{UNSET {inner}}}")),
        };
        s.replace_range(start..start + len + 1, &value);
    }
    s
}

/// The words of a directive line as Apache splits them: whitespace
/// separates, single or double quotes group and are removed.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            break;
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            // Inside quotes a backslash before the quote character
            // escapes it (LogFormat "... \"%r\" ...").
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek() == Some(&first) {
                    word.push(first);
                    chars.next();
                } else if c == first {
                    break;
                } else {
                    word.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    out
}

/// `mod_rewrite.c` and `rewrite_module` name the same module.
fn module_name(arg: &str) -> String {
    match arg.strip_prefix("mod_").and_then(|a| a.strip_suffix(".c")) {
        Some(base) => format!("{base}_module"),
        None => arg.to_string(),
    }
}

/// Apache's compiled-in modules (`apache2 -l`), by module name.
fn static_modules() -> BTreeSet<String> {
    let out = Command::new(apache_bin())
        .arg("-l")
        .output()
        .expect("run apache2 -l");
    assert!(out.status.success(), "apache2 -l failed");
    let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with(".c"))
        .map(module_name)
        .collect();
    assert!(
        listed.contains("so_module"),
        "apache2 -l lists no mod_so.c: {listed:?}"
    );
    listed
}

/// Old directive names Apache still accepts, as their current ones.
fn canonical_name(name: &str) -> &str {
    match name {
        "MaxClients" => "MaxRequestWorkers",
        "MaxRequestsPerChild" => "MaxConnectionsPerChild",
        _ => name,
    }
}

/// What differs between the two roots by construction, as placeholders.
struct Placeholders {
    root: String,
    python_home: String,
    /// The test's scratch directory (application, certificates, ...).
    scratch: String,
}

impl Placeholders {
    fn apply(&self, word: &str) -> String {
        let word = if word.len() > 1 {
            word.trim_end_matches('/')
        } else {
            word
        };
        word.replace(&self.root, "{ROOT}")
            .replace(&apache_modules_dir(), "{MODULES}")
            .replace(&self.scratch, "{SCRATCH}")
    }
}

/// The directives of `root`'s httpd.conf that Apache acts on, each with
/// the sections around it, normalised as the module comment describes.
fn directives(root: &Path, python_home: &str, scratch: &Path) -> Vec<String> {
    let read = |name: &str| {
        std::fs::read_to_string(root.join(name))
            .unwrap_or_else(|e| panic!("read {}/{name}: {e}", root.display()))
    };
    let mut env = BTreeMap::new();
    shell_assignments(&read("apachectl"), &mut env);
    if root.join("envvars").exists() {
        shell_assignments(&read("envvars"), &mut env);
    }
    // The C package's apachectl passes its defines in HTTPD_ARGS, ours in
    // EXTRA.
    let defines: BTreeSet<String> = ["HTTPD_ARGS", "EXTRA"]
        .iter()
        .filter_map(|k| env.get(*k))
        .flat_map(|v| v.split_whitespace())
        .filter_map(|w| w.strip_prefix("-D"))
        .map(str::to_string)
        .collect();
    let placeholders = Placeholders {
        root: root.display().to_string(),
        python_home: python_home.to_string(),
        scratch: scratch.display().to_string(),
    };
    let mut loaded = static_modules();

    let conf = read("httpd.conf");
    let mut logical = Vec::new();
    let mut pending = String::new();
    for line in conf.lines() {
        let t = line.trim();
        if pending.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(t);
                logical.push(std::mem::take(&mut pending));
            }
        }
    }
    assert!(pending.is_empty(), "httpd.conf ends inside a continuation");

    // One entry per open section: whether its contents count, and the
    // section's own text when it is not a conditional.
    let mut stack: Vec<(bool, Option<String>)> = Vec::new();
    let mut out = Vec::new();
    for line in logical {
        let active = stack.last().is_none_or(|(a, _)| *a);
        if line.starts_with("</") {
            stack.pop().expect("a closing tag matches an open section");
            continue;
        }
        let line = if active {
            substitute(&line, &env)
        } else {
            line
        };
        if let Some(open) = line.strip_prefix('<') {
            let open = open.trim_end_matches('>');
            let w = words(open);
            let (kind, args) = w.split_first().expect("a section name");
            let test = |arg: &str, holds: &dyn Fn(&str) -> bool| match arg.strip_prefix('!') {
                Some(name) => !holds(name),
                None => holds(arg),
            };
            match kind.as_str() {
                "IfDefine" => {
                    let on = test(&args[0], &|d| defines.contains(d));
                    stack.push((active && on, None));
                }
                "IfModule" => {
                    let on = test(&args[0], &|m| loaded.contains(&module_name(m)));
                    stack.push((active && on, None));
                }
                _ => {
                    let args: Vec<String> = args.iter().map(|a| placeholders.apply(a)).collect();
                    let section = format!("<{kind} {}>", args.join(" "));
                    stack.push((active, Some(section)));
                }
            }
            continue;
        }
        if !active {
            continue;
        }
        let w = words(&line);
        let (name, args) = w.split_first().expect("a directive name");
        let name = canonical_name(name);
        let args: Vec<String> = match name {
            "LoadModule" => {
                loaded.insert(args[0].clone());
                let path = if args[0] == "wsgi_module" {
                    "{WSGI_MODULE}".to_string()
                } else {
                    placeholders.apply(&args[1])
                };
                vec![args[0].clone(), path]
            }
            // Its options are compared option by option elsewhere (see the
            // module comment).
            "WSGIDaemonProcess" => vec![args[0].clone()],
            // Only as a whole: a system Python's home is /usr, which other
            // paths start with too.
            "WSGIPythonHome" if args[0] == placeholders.python_home => {
                vec!["{PYTHON_HOME}".to_string()]
            }
            _ => args.iter().map(|a| placeholders.apply(a)).collect(),
        };
        let mut entry: String = stack
            .iter()
            .filter_map(|(_, s)| s.as_deref())
            .map(|s| format!("{s} > "))
            .collect();
        entry.push_str(name);
        for a in &args {
            entry.push(' ');
            entry.push_str(a);
        }
        out.push(entry);
    }
    assert!(stack.is_empty(), "httpd.conf leaves a section open");
    out
}

/// `a` minus `b`, as multisets.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for d in b {
        *left.entry(d).or_default() += 1;
    }
    let mut out = Vec::new();
    for d in a {
        match left.get_mut(d.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(d.clone()),
        }
    }
    out
}

fn matches(pattern: &str, directive: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => directive.starts_with(prefix),
        None => directive == pattern,
    }
}

/// The Python home each package writes: the C package's virtualenv, and
/// `sys.prefix` of the Python under test for ours.
fn python_homes() -> (String, String) {
    let out = Command::new(common::python_exe())
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .expect("run the python under test");
    assert!(out.status.success(), "python -c sys.prefix failed");
    let ours = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (c_module().venv.dir.display().to_string(), ours)
}

#[test]
fn generated_configuration_matches_the_c_package() {
    let s = Scratch::new("conf");
    let app = s.file("app.wsgi", APP);
    s.file("static/index.html", "<p>index</p>\n");
    s.file("site/hello.txt", "hello\n");
    s.dir("lib");
    s.dir("work");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(s.path("server.key"))
        .arg("-out")
        .arg(s.path("server.crt"))
        .output()
        .expect("run openssl (install it, see scripts/deps.sh)");
    assert!(made.status.success(), "openssl req failed");

    let option_sets: Vec<(&str, Vec<String>)> = vec![
        ("defaults", vec![]),
        ("daemon", strings(&["--processes", "3", "--threads", "7"])),
        (
            "https",
            strings(&[
                "--https-port",
                HTTPS_PORT,
                "--ssl-certificate-file",
                &s.s("server.crt"),
                "--ssl-certificate-key-file",
                &s.s("server.key"),
                // The C package only writes its HTTPS virtual host for a
                // named server.
                "--server-name",
                "localhost",
            ]),
        ),
        (
            "static",
            strings(&[
                "--url-alias",
                "/static",
                &s.s("static"),
                "--document-root",
                &s.s("site"),
            ]),
        ),
        ("logging", strings(&["--log-level", "info", "--access-log"])),
        ("prefork", strings(&["--server-mpm", "prefork"])),
        ("python-path", strings(&["--python-path", &s.s("lib")])),
        (
            "working-directory",
            strings(&["--working-directory", &s.s("work")]),
        ),
        ("locale", strings(&["--locale", "C"])),
    ];

    let (c_home, our_home) = python_homes();
    let mut unexplained = Vec::new();
    let mut used = vec![false; ALLOWED.len()];
    for (label, options) in &option_sets {
        let c_root = s.path(&format!("c-{label}"));
        setup_server(&app, &c_root, PORT.parse().unwrap(), options)
            .unwrap_or_else(|e| panic!("C setup-server {options:?}: {e}"));
        // What common::differential::setup_server gives the C package.
        let fixed = strings(&[
            "--port",
            PORT,
            "--host",
            "127.0.0.1",
            "--user",
            "www-data",
            "--group",
            "www-data",
        ]);
        let ours_root = s.path(&format!("ours-{label}"));
        let args = common::express::setup_server_args(
            &app,
            &ours_root,
            &[fixed, options.clone()].concat(),
        );
        let out = run_express(&args, Path::new("/tmp"));
        assert!(out.status.success(), "ours {options:?}: {}", text(&out));

        let c = directives(&c_root, &c_home, &s.dir);
        let ours = directives(&ours_root, &our_home, &s.dir);
        let differences = minus(&c, &ours)
            .into_iter()
            .map(|d| (Only::C, d))
            .chain(minus(&ours, &c).into_iter().map(|d| (Only::Ours, d)));
        for (only, directive) in differences {
            let hit = ALLOWED
                .iter()
                .position(|a| a.only == only && matches(a.directive, &directive));
            match hit {
                Some(i) => used[i] = true,
                None => unexplained.push(format!("{label}: only {only:?}: {directive}")),
            }
        }
    }
    let stale: Vec<String> = ALLOWED
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(a, _)| format!("{:?}: {} ({})", a.only, a.directive, a.why))
        .collect();
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "httpd.conf differs from the C package's where ALLOWED does not say why:\n{}\n\
         ALLOWED entries no option set needs any more:\n{}\n(module: {})",
        unexplained.join("\n"),
        stale.join("\n"),
        module_path().display()
    );
}

/// The normaliser on a hand-written root: defines from apachectl,
/// variables from apachectl and envvars, `<IfModule>` against what was
/// loaded, continuation lines, quotes, old names and placeholders.
#[test]
fn normalising_resolves_defines_modules_and_variables() {
    let s = Scratch::new("conf-normalise");
    let root = s.dir("root");
    s.file(
        "root/apachectl",
        "HTTPD_ARGS=\"-f conf -DWANTED\"\nRUN_USER=\"${RUN_USER:-www-data}\"\n\
         USER_NAME=\"${USER_NAME:-${RUN_USER}}\"\n",
    );
    s.file("root/envvars", "EXTRA_VAR='x y'\n");
    let r = root.display();
    s.file(
        "root/httpd.conf",
        format!(
            "# comment\n\n\
             <IfDefine WANTED>\nUser ${{USER_NAME}}\n</IfDefine>\n\
             <IfDefine !WANTED>\nUser nobody\n</IfDefine>\n\
             <IfModule !rewrite_module>\nLoadModule rewrite_module '{m}/mod_rewrite.so'\n</IfModule>\n\
             <IfModule mod_rewrite.c>\nRewriteEngine On\n</IfModule>\n\
             <IfModule !mod_so.c>\nLoadModule so_module x\n</IfModule>\n\
             <Directory '{r}/htdocs/'>\n    Require \\\n        all granted\n</Directory>\n\
             MaxClients 20\nSetEnv V ${{EXTRA_VAR}}\n\
             WSGIDaemonProcess g threads=5 \\\n   processes=2\n",
            m = apache_modules_dir(),
        ),
    );
    assert_eq!(
        directives(&root, "/nowhere", &s.dir),
        strings(&[
            "User www-data",
            "LoadModule rewrite_module {MODULES}/mod_rewrite.so",
            "RewriteEngine On",
            "<Directory {ROOT}/htdocs> > Require all granted",
            "MaxRequestWorkers 20",
            "SetEnv V x y",
            "WSGIDaemonProcess g",
        ]),
        "{r}"
    );
    assert_eq!(
        minus(&strings(&["a", "a", "b"]), &strings(&["a"])),
        strings(&["a", "b"])
    );
    assert!(matches("Foo *", "Foo bar"));
    assert!(!matches("Foo", "Foo bar"));
}
