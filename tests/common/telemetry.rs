//! Receiving and decoding the telemetry reporter's datagrams
//! (`WSGITelemetryService unix:PATH`).
//!
//! * [`Collector`] binds the UNIX `SOCK_DGRAM` socket the reporter sends to
//!   (world-writable, so Apache's children and daemon processes, running as
//!   www-data, can `sendto()` it) and keeps every datagram it receives, from
//!   a background thread, until dropped.
//! * [`Collector::decode`] writes the raw datagrams to files and decodes each
//!   one with the wire decoder of the `mod-wsgi-telemetry` package from PyPI
//!   (`mod_wsgi.telemetry.wire.decode`, unchanged): the decoder the ingester
//!   uses is the judge of the wire format.
//! * [`decoder_venv`] is the virtualenv holding that package: the framework
//!   virtualenv of tests/common/venv.rs, which pins it. It needs network
//!   access to PyPI the first time; with `MOD_WSGI_SKIP_PIP` set the tests
//!   that need it skip themselves, visibly (`super::skipped`).

#![allow(dead_code)]

use super::json::{self, Json};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The package (and version) whose decoder defines the wire format.
pub const TELEMETRY_PACKAGE: &str = "mod-wsgi-telemetry==1.1.0";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Decodes every `*.bin` file of a directory (argv[1]) with the package's
/// own decoder; one JSON object per line. Byte strings are shown decoded
/// (UTF-8, invalid bytes replaced) with their type kept in `types`; `names`
/// lists the fields in wire order.
const DECODE_SCRIPT: &str = r#"
import json, math, os, sys
from mod_wsgi.telemetry import wire

if not os.path.realpath(wire.__file__).startswith(os.path.realpath(sys.prefix)):
    sys.exit('decoder not from the virtualenv: %s' % wire.__file__)

def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode('utf-8', 'replace')
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

def type_name(v):
    if isinstance(v, list):
        inner = sorted({type(x).__name__ for x in v})
        return 'list[%s]' % '|'.join(inner)
    return type(v).__name__

d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if not name.endswith('.bin'):
        continue
    with open(os.path.join(d, name), 'rb') as f:
        data = f.read()
    try:
        s = wire.decode(data)
    except Exception as e:
        print(json.dumps({'file': name, 'error': '%s: %s' % (type(e).__name__, e),
                          'length': len(data), 'head': data[:32].hex()}))
        continue
    print(json.dumps({
        'file': name, 'length': len(data), 'version': s.version, 'kind': s.kind,
        'kind_name': s.kind_name, 'pid': s.pid, 'seq': s.seq, 'stamp': s.stamp,
        'names': list(s.fields),
        'types': {k: type_name(v) for k, v in s.fields.items()},
        'fields': {k: plain(v) for k, v in s.fields.items()},
    }, allow_nan=False))
"#;

// ---------------------------------------------------------------------------
// The decoder's virtualenv
// ---------------------------------------------------------------------------

/// The virtualenv holding the decoder: the framework virtualenv, which
/// pins [`TELEMETRY_PACKAGE`] among its packages. `None` (after saying
/// why) when `MOD_WSGI_SKIP_PIP` is set.
pub fn decoder_venv() -> Option<&'static Path> {
    if std::env::var_os("MOD_WSGI_SKIP_PIP").is_some() {
        super::skipped(&format!(
            "MOD_WSGI_SKIP_PIP is set, and decoding telemetry needs \
             {TELEMETRY_PACKAGE} from PyPI"
        ));
        return None;
    }
    super::venv::framework_venv().map(|venv| venv.dir.as_path())
}

// ---------------------------------------------------------------------------
// Decoded datagrams
// ---------------------------------------------------------------------------

/// One datagram as the package's decoder read it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Name of the file the raw datagram was written to (arrival order).
    pub file: String,
    pub length: usize,
    pub version: i64,
    pub kind: i64,
    /// The package's name for the kind ("request_metrics", ...).
    pub kind_name: String,
    pub pid: i64,
    pub seq: i64,
    pub stamp: f64,
    /// Field name to value (byte strings as text).
    pub fields: BTreeMap<String, Json>,
    /// Field names in wire order.
    pub names: Vec<String>,
    /// Field name to the Python type the decoder produced ("int", "bytes",
    /// "float", "list[int]", ...).
    pub types: BTreeMap<String, String>,
}

impl Sample {
    pub fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    pub fn field(&self, name: &str) -> Option<&Json> {
        self.fields.get(name)
    }

    /// A byte-string field as text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Json::as_str)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.fields.get(name).and_then(Json::as_i64)
    }

    /// A numeric field (integer or float) as f64.
    pub fn num(&self, name: &str) -> Option<f64> {
        self.fields.get(name).and_then(Json::as_f64)
    }

    /// An array field as numbers.
    pub fn nums(&self, name: &str) -> Option<Vec<f64>> {
        self.fields
            .get(name)
            .and_then(Json::as_array)
            .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
    }

    /// One line for failure messages: kind, pid, seq and the fields
    /// (arrays shortened).
    pub fn brief(&self) -> String {
        let fields: Vec<String> = self
            .names
            .iter()
            .map(|n| {
                let v = &self.fields[n];
                match v.as_array() {
                    Some(a) if a.len() > 8 => format!("{n}=[{} items]", a.len()),
                    _ => format!("{n}={}", show(v)),
                }
            })
            .collect();
        format!(
            "{} pid={} seq={} {}",
            self.kind_name,
            self.pid,
            self.seq,
            fields.join(" ")
        )
    }
}

fn show(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Num(n) => n.to_string(),
        Json::Str(s) => format!("{s:?}"),
        Json::Arr(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(",")),
        Json::Obj(_) => format!("{v:?}"),
    }
}

/// Everything decoded so far.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub samples: Vec<Sample>,
    /// "file: error" for each datagram the decoder rejected.
    pub errors: Vec<String>,
}

impl Decoded {
    pub fn of_kind<'a>(&'a self, kind_name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.kind_name == kind_name)
    }

    /// Every decoded sample, one line each, for failure messages.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for e in &self.errors {
            out.push_str(&format!("DECODE ERROR {e}\n"));
        }
        for s in &self.samples {
            out.push_str(&s.brief());
            out.push('\n');
        }
        out
    }

    /// Per kind, the field names seen (wire order of the first sample that
    /// had each, then any others) with the decoded Python type.
    pub fn field_lists(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &self.samples {
            let list = out.entry(s.kind_name.clone()).or_default();
            for n in &s.names {
                let entry = format!("{n}:{}", s.types.get(n).map(String::as_str).unwrap_or("?"));
                if !list.contains(&entry) {
                    list.push(entry);
                }
            }
        }
        out
    }
}

fn parse_sample(j: &Json) -> Result<Sample, String> {
    let file = j.get("file").as_str().unwrap_or("?").to_string();
    if let Some(e) = j.get("error").as_str() {
        return Err(format!(
            "{file}: {e} (length {}, first bytes {})",
            show(j.get("length")),
            show(j.get("head"))
        ));
    }
    let int = |k: &str| {
        j.get(k)
            .as_i64()
            .ok_or_else(|| format!("{file}: {k} missing in {j:?}"))
    };
    let fields = match j.get("fields") {
        Json::Obj(m) => m.clone(),
        other => return Err(format!("{file}: fields is {other:?}")),
    };
    let types = match j.get("types") {
        Json::Obj(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("?").to_string()))
            .collect(),
        _ => BTreeMap::new(),
    };
    let names = j
        .get("names")
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(Sample {
        length: int("length")? as usize,
        version: int("version")?,
        kind: int("kind")?,
        kind_name: j.get("kind_name").as_str().unwrap_or("?").to_string(),
        pid: int("pid")?,
        seq: int("seq")?,
        stamp: j.get("stamp").as_f64().unwrap_or(f64::NAN),
        fields,
        names,
        types,
        file,
    })
}

// ---------------------------------------------------------------------------
// The receiving socket
// ---------------------------------------------------------------------------

/// A bound UNIX datagram socket that keeps every datagram it receives.
/// Dropping it stops the receiver and removes its directory.
pub struct Collector {
    dir: PathBuf,
    socket_path: PathBuf,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    venv: PathBuf,
    written: Mutex<usize>,
}

impl Collector {
    /// Binds `/tmp/mod_wsgi-telemetry-<pid>-<n>/ingest.sock` (directory 0755,
    /// socket 0666) and starts receiving. A directory of its own, not the
    /// server root: the harness recreates the root when the server starts,
    /// and the socket must be there before Apache's processes send their
    /// first (process_started) datagram.
    pub fn bind(venv: &Path) -> Collector {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!(
            "/tmp/mod_wsgi-telemetry-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("datagrams")).expect("create the collector directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let socket_path = dir.join("ingest.sock");
        let sock = UnixDatagram::bind(&socket_path)
            .unwrap_or_else(|e| panic!("bind {}: {e}", socket_path.display()));
        fs::set_permissions(&socket_path, fs::Permissions::from_mode(0o666)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(n) = sock.recv(&mut buf) {
                        received.lock().unwrap().push(buf[..n].to_vec());
                    }
                }
            })
        };
        Collector {
            dir,
            socket_path,
            received,
            stop,
            thread: Some(thread),
            venv: venv.to_path_buf(),
            written: Mutex::new(0),
        }
    }

    /// Path of the socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// `unix:<path>`, for `WSGITelemetryService`.
    pub fn target(&self) -> String {
        format!("unix:{}", self.socket_path.display())
    }

    /// How many datagrams have arrived.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Writes the datagrams not yet written to `datagrams/NNNNNN.bin` and
    /// decodes all of them with the package's decoder.
    pub fn decode(&self) -> Decoded {
        let out_dir = self.dir.join("datagrams");
        {
            let all = self.received.lock().unwrap().clone();
            let mut written = self.written.lock().unwrap();
            for (i, d) in all.iter().enumerate().skip(*written) {
                fs::write(out_dir.join(format!("{i:06}.bin")), d).expect("write datagram");
            }
            *written = all.len();
        }
        let mut cmd = Command::new(self.venv.join("bin/python"));
        cmd.args(["-I", "-c", DECODE_SCRIPT]).arg(&out_dir);
        let text =
            super::venv::run(&mut cmd, "decode the datagrams").unwrap_or_else(|e| panic!("{e}"));
        let mut decoded = Decoded::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let j = json::parse(line)
                .unwrap_or_else(|e| panic!("decoder output is not JSON ({e}): {line}"));
            match parse_sample(&j) {
                Ok(s) => decoded.samples.push(s),
                Err(e) => decoded.errors.push(e),
            }
        }
        decoded
    }

    /// Decodes every `poll` until `done` holds or `timeout` passes; the last
    /// decode either way.
    pub fn wait_decoded(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&Decoded) -> bool,
    ) -> Decoded {
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.decode();
            if done(&d) || Instant::now() >= deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if std::env::var_os("KEEP_TEST_ROOTS").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("keeping telemetry datagrams in {}", self.dir.display());
        }
    }
}
