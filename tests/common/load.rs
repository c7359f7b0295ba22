//! A bounded load generator for the fault-under-load tests: a few client
//! threads, each sending one request per connection (`Connection: close`)
//! until told to stop, counting every request sent and how it was
//! answered. A request is answered only when the status is 200 and the
//! whole declared body arrived; anything else is counted under the reason
//! it failed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Upper bound on requests per client thread, so a stop that never comes
/// still ends the loop.
const MAX_REQUESTS_PER_CLIENT: usize = 200_000;
/// How long one request may take before it counts as lost.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the clients saw, summed over all of them.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: usize,
    pub answered: usize,
    /// Failed requests by reason ("status 503", "closed before the body
    /// ended", ...).
    pub failures: BTreeMap<String, usize>,
}

impl Tally {
    pub fn lost(&self) -> usize {
        self.failures.values().sum()
    }

    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.answered += other.answered;
        for (reason, n) in other.failures {
            *self.failures.entry(reason).or_default() += n;
        }
    }

    /// "none" or "3 × status 500, 1 × closed before the body ended".
    pub fn failure_summary(&self) -> String {
        if self.failures.is_empty() {
            return "none".to_string();
        }
        self.failures
            .iter()
            .map(|(reason, n)| format!("{n} × {reason}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Shared {
    stop: AtomicBool,
    answered: AtomicUsize,
    /// The `X-Pid` of the latest answer: the process serving the app.
    last_pid: Mutex<Option<i32>>,
    pids: Mutex<BTreeSet<i32>>,
    /// The app's `X-Generation` values: one per loaded copy of the script
    /// (a new process, or the module reloaded).
    generations: Mutex<BTreeSet<String>>,
}

/// Clients running against one server.
pub struct Load {
    shared: Arc<Shared>,
    clients: Vec<JoinHandle<Tally>>,
}

impl Load {
    /// Starts `clients` threads requesting `path` on 127.0.0.1:`port`.
    pub fn start(port: u16, path: &str, clients: usize) -> Load {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            answered: AtomicUsize::new(0),
            last_pid: Mutex::new(None),
            pids: Mutex::new(BTreeSet::new()),
            generations: Mutex::new(BTreeSet::new()),
        });
        let clients = (0..clients)
            .map(|_| {
                let shared = Arc::clone(&shared);
                let path = path.to_string();
                std::thread::spawn(move || client(port, &path, &shared))
            })
            .collect();
        Load { shared, clients }
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `more` requests beyond those answered now have
    /// been answered; false if that took longer than `limit`.
    pub fn wait_for_more(&self, more: usize, limit: Duration) -> bool {
        let target = self.answered() + more;
        super::procs::wait_until(limit, || self.answered() >= target)
    }

    /// The process that served the latest answer.
    pub fn last_pid(&self) -> Option<i32> {
        *self.shared.last_pid.lock().unwrap()
    }

    /// Every process that has served an answer.
    pub fn pids(&self) -> BTreeSet<i32> {
        self.shared.pids.lock().unwrap().clone()
    }

    /// How many copies of the script have answered so far.
    pub fn generations(&self) -> usize {
        self.shared.generations.lock().unwrap().len()
    }

    /// Stops the clients after their current request and sums their counts.
    pub fn finish(self) -> Tally {
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut total = Tally::default();
        for handle in self.clients {
            total.merge(handle.join().expect("load client thread"));
        }
        total
    }
}

fn client(port: u16, path: &str, shared: &Shared) -> Tally {
    let mut tally = Tally::default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        tally.sent += 1;
        match one_request(port, request.as_bytes()) {
            Ok(answer) => {
                tally.answered += 1;
                shared.generations.lock().unwrap().insert(answer.generation);
                if let Some(pid) = answer.pid {
                    *shared.last_pid.lock().unwrap() = Some(pid);
                    shared.pids.lock().unwrap().insert(pid);
                }
                shared.answered.fetch_add(1, Ordering::SeqCst);
            }
            Err(reason) => *tally.failures.entry(reason).or_default() += 1,
        }
    }
    tally
}

struct Answer {
    generation: String,
    pid: Option<i32>,
}

fn one_request(port: u16, request: &[u8]) -> Result<Answer, String> {
    let started = Instant::now();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect failed ({:?})", e.kind()))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).ok();
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).ok();
    stream
        .write_all(request)
        .map_err(|e| format!("send failed ({:?})", e.kind()))?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if bytes.is_empty() => {
                return Err(format!("no response ({:?})", e.kind()));
            }
            Err(e) => return Err(format!("read failed mid-response ({:?})", e.kind())),
        }
        if started.elapsed() > REQUEST_TIMEOUT {
            return Err("timed out".to_string());
        }
    }
    parse_answer(&bytes)
}

fn parse_answer(bytes: &[u8]) -> Result<Answer, String> {
    if bytes.is_empty() {
        return Err("closed without a response".to_string());
    }
    let Some(end) = super::raw::find(bytes, b"\r\n\r\n") else {
        return Err("closed inside the response head".to_string());
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string();
    let mut length = None;
    let mut generation = String::new();
    let mut pid = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "x-generation" => generation = value.to_string(),
            "x-pid" => pid = value.parse::<i32>().ok(),
            _ => {}
        }
    }
    if status != "200" {
        return Err(format!("status {status}"));
    }
    let body = bytes.len() - end - 4;
    match length {
        Some(declared) if declared == body => Ok(Answer { generation, pid }),
        Some(_) => Err("closed before the body ended".to_string()),
        None => Err("no Content-Length".to_string()),
    }
}

/// Steady load on `path` from `clients` threads while `during` runs, each
/// client sending GET requests one after another (bounded by
/// `MAX_REQUESTS_PER_CLIENT`); returns what `answer` made of every reply,
/// and what `during` returned.
pub fn under_load<A: Send, R>(
    port: u16,
    path: &str,
    clients: usize,
    answer: impl Fn(std::io::Result<super::Response>) -> A + Sync,
    during: impl FnOnce() -> R,
) -> (Vec<A>, R) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let load: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) && seen.len() < MAX_REQUESTS_PER_CLIENT {
                        seen.push(answer(super::http_request(port, "GET", path, &[], b"")));
                    }
                    seen
                })
            })
            .collect();
        let result = during();
        stop.store(true, Ordering::Relaxed);
        let seen = load.into_iter().flat_map(|h| h.join().unwrap()).collect();
        (seen, result)
    })
}
