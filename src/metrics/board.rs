//! The server-wide metrics board behind the `wsgi-metrics` handler: a
//! table of counters in memory shared by the Apache parent, its children
//! and the daemon processes, so that one scrape in any child sees them all.
//!
//! Pure logic over a slice of atomics; who maps the memory is not this
//! module's business. The parent lays out the table and registers the
//! process groups before it forks; every process that runs Python then
//! claims a process record. Writers only add to counters (one relaxed
//! atomic add each), and the reader copies them out, so a scrape never
//! waits for a request and a request never waits for a scrape.
//!
//! Group counters outlive the processes that add to them (a recycled
//! daemon process does not reset its group's request count); per-process
//! figures live as long as the process.

use super::histogram::{bucket_index, BUCKETS};
use crate::config::gil::GilKind;
use std::sync::atomic::{AtomicU64, Ordering};

/// Marks a laid-out table (and its layout version).
const MAGIC: u64 = 0x5753_4749_4d42_0001;

/// Groups a table holds: the embedded group and the daemon groups, over
/// all Apache generations that share the table.
pub const GROUP_CAPACITY: usize = 64;
/// Processes running Python at once (Apache children and daemons).
pub const PROCESS_CAPACITY: usize = 1024;

/// Longest group name kept; longer names are cut (and compared cut).
const NAME_WORDS: usize = 16;

/// Why a daemon process stopped, as the restart counter labels it: the
/// stop reasons of the daemon lifecycle, and `crashed` for one that ended
/// without stopping (killed by a signal, or `os._exit`), as its parent
/// sees it.
pub const RESTART_REASONS: [&str; 12] = [
    "maximum_requests",
    "restart_interval",
    "inactivity_timeout",
    "request_timeout",
    "deadlock_timeout",
    "startup_timeout",
    "cpu_time_limit",
    "memory_recycle",
    "eviction_signal",
    "script_reload",
    "shutdown_signal",
    "crashed",
];

/// The kinds of interpreter counted per process, with their label.
pub const INTERPRETER_KINDS: [(GilKind, &str); 3] = [
    (GilKind::Shared, "shared"),
    (GilKind::Own, "own"),
    (GilKind::FreeThreaded, "none"),
];

/// The timed phases a group keeps a histogram of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPhase {
    /// Daemon mode: waiting in the daemon's listen queue.
    Queue,
    /// Daemon mode: the Apache child connecting to the daemon socket.
    Connect,
    /// Inside the application.
    Application,
    /// From Apache receiving the request to the application finishing.
    Request,
}

impl GroupPhase {
    pub const ALL: [GroupPhase; 4] = [
        GroupPhase::Queue,
        GroupPhase::Connect,
        GroupPhase::Application,
        GroupPhase::Request,
    ];
}

/// Status classes counted: 1xx to 5xx (no status counts as 5xx).
pub const STATUS_CLASSES: usize = 5;

// Header words.
const H_MAGIC: usize = 0;
const HEADER_WORDS: usize = 4;

// Group record words.
const G_STATE: usize = 0;
const G_NAME_LEN: usize = 1;
const G_NAME: usize = 2;
const G_REQUESTS: usize = G_NAME + NAME_WORDS;
const G_QUEUE_TIMEOUTS: usize = G_REQUESTS + STATUS_CLASSES;
const G_RESTARTS: usize = G_QUEUE_TIMEOUTS + 1;
const G_PHASES: usize = G_RESTARTS + RESTART_REASONS.len();
/// Per phase: count, sum in microseconds, then the buckets.
const PHASE_WORDS: usize = 2 + BUCKETS;
const G_INTERPRETERS: usize = G_PHASES + PHASE_WORDS * GroupPhase::ALL.len();
/// Application groups (interpreters) counted per process group.
pub const INTERPRETER_CAPACITY: usize = 16;
// Per application group: state (0 free, 1 being named, 2 named), name
// length, name, then its counters.
const I_STATE: usize = 0;
const I_NAME_LEN: usize = 1;
const I_NAME: usize = 2;
const I_REQUESTS: usize = I_NAME + NAME_WORDS;
const I_GIL_WAIT: usize = I_REQUESTS + 1;
const INTERPRETER_WORDS: usize = I_GIL_WAIT + 1;
const GROUP_WORDS: usize = G_INTERPRETERS + INTERPRETER_WORDS * INTERPRETER_CAPACITY;

// Process record words.
const P_OWNER: usize = 0;
const P_PID: usize = 1;
const P_GROUP: usize = 2;
const P_STARTED: usize = 3;
const P_THREADS: usize = 4;
const P_BUSY: usize = 5;
const P_REQUESTS: usize = 6;
const P_GIL_WAIT: usize = 7;
const P_GIL_ENABLED: usize = 8;
const P_STOPPING: usize = 9;
/// Interpreter counts, one per [`INTERPRETER_KINDS`] entry.
const P_INTERPRETERS: usize = 10;
const PROCESS_WORDS: usize = P_INTERPRETERS + INTERPRETER_KINDS.len();

const GROUPS_AT: usize = HEADER_WORDS;
const PROCESSES_AT: usize = GROUPS_AT + GROUP_CAPACITY * GROUP_WORDS;

/// The number of 64-bit words a table takes.
pub const TABLE_WORDS: usize = PROCESSES_AT + PROCESS_CAPACITY * PROCESS_WORDS;

/// A board over its shared words.
#[derive(Clone, Copy)]
pub struct Board {
    words: &'static [AtomicU64],
}

/// A group's place on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupId(usize);

fn micros(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1_000_000.0) as u64
    } else {
        0
    }
}

fn name_words(name: &str) -> (u64, [u64; NAME_WORDS]) {
    let bytes = name.as_bytes();
    let kept = &bytes[..bytes.len().min(NAME_WORDS * 8)];
    let mut words = [0u64; NAME_WORDS];
    for (i, chunk) in kept.chunks(8).enumerate() {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        words[i] = u64::from_le_bytes(word);
    }
    (kept.len() as u64, words)
}

impl Board {
    /// A board over `words`, laid out afresh unless it already is (a
    /// restarted Apache keeps its counters). None when the slice is too
    /// small.
    pub fn lay_out(words: &'static [AtomicU64]) -> Option<Board> {
        if words.len() < TABLE_WORDS {
            return None;
        }
        if words[H_MAGIC].load(Ordering::Acquire) != MAGIC {
            for w in words {
                w.store(0, Ordering::Relaxed);
            }
            words[H_MAGIC].store(MAGIC, Ordering::Release);
        }
        Some(Board { words })
    }

    fn group_word(&self, group: GroupId, offset: usize) -> &AtomicU64 {
        &self.words[GROUPS_AT + group.0 * GROUP_WORDS + offset]
    }

    fn process_word(&self, slot: usize, offset: usize) -> &AtomicU64 {
        &self.words[PROCESSES_AT + slot * PROCESS_WORDS + offset]
    }

    fn group_name_matches(&self, group: GroupId, len: u64, words: &[u64; NAME_WORDS]) -> bool {
        self.group_word(group, G_NAME_LEN).load(Ordering::Relaxed) == len
            && words
                .iter()
                .enumerate()
                .all(|(i, w)| self.group_word(group, G_NAME + i).load(Ordering::Relaxed) == *w)
    }

    /// The group called `name` (`""`: embedded mode), if registered.
    pub fn find_group(&self, name: &str) -> Option<GroupId> {
        let (len, words) = name_words(name);
        (0..GROUP_CAPACITY).map(GroupId).find(|&g| {
            self.group_word(g, G_STATE).load(Ordering::Acquire) == 1
                && self.group_name_matches(g, len, &words)
        })
    }

    /// The group called `name`, registered if it is new. Only the Apache
    /// parent registers, before it forks; None when the table is full.
    pub fn register_group(&self, name: &str) -> Option<GroupId> {
        if let Some(found) = self.find_group(name) {
            return Some(found);
        }
        let (len, words) = name_words(name);
        let free = (0..GROUP_CAPACITY)
            .map(GroupId)
            .find(|&g| self.group_word(g, G_STATE).load(Ordering::Acquire) == 0)?;
        self.group_word(free, G_NAME_LEN)
            .store(len, Ordering::Relaxed);
        for (i, w) in words.iter().enumerate() {
            self.group_word(free, G_NAME + i)
                .store(*w, Ordering::Relaxed);
        }
        self.group_word(free, G_STATE).store(1, Ordering::Release);
        Some(free)
    }

    fn group_name(&self, group: GroupId) -> String {
        let len = self.group_word(group, G_NAME_LEN).load(Ordering::Relaxed) as usize;
        let mut bytes: Vec<u8> = (0..NAME_WORDS)
            .flat_map(|i| {
                self.group_word(group, G_NAME + i)
                    .load(Ordering::Relaxed)
                    .to_le_bytes()
            })
            .collect();
        bytes.truncate(len.min(NAME_WORDS * 8));
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn add(word: &AtomicU64, n: u64) {
        word.fetch_add(n, Ordering::Relaxed);
    }

    /// A request of `group` finished with `status` (0: none was sent).
    pub fn count_request(&self, group: GroupId, status: u16) {
        let class = match status / 100 {
            1..=5 => (status / 100) as usize - 1,
            _ => 4,
        };
        Self::add(self.group_word(group, G_REQUESTS + class), 1);
    }

    /// One duration of `phase` in `group`.
    pub fn time(&self, group: GroupId, phase: GroupPhase, seconds: f64) {
        let at = G_PHASES + PHASE_WORDS * phase as usize;
        Self::add(self.group_word(group, at), 1);
        Self::add(self.group_word(group, at + 1), micros(seconds));
        Self::add(self.group_word(group, at + 2 + bucket_index(seconds)), 1);
    }

    /// The counters of application group `name` within `group`, named
    /// on first use. Slots are taken in order and a slot being named is
    /// waited for, so two processes never name two slots alike. None when
    /// the table is full (or a namer stalls).
    fn interpreter_slot(&self, group: GroupId, name: &str) -> Option<usize> {
        let (len, words) = name_words(name);
        let at = |slot: usize, offset: usize| {
            self.group_word(group, G_INTERPRETERS + slot * INTERPRETER_WORDS + offset)
        };
        for slot in 0..INTERPRETER_CAPACITY {
            let state = at(slot, I_STATE);
            if state
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                at(slot, I_NAME_LEN).store(len, Ordering::Relaxed);
                for (i, w) in words.iter().enumerate() {
                    at(slot, I_NAME + i).store(*w, Ordering::Relaxed);
                }
                state.store(2, Ordering::Release);
                return Some(slot);
            }
            // Bounded: a namer writes 17 words, then publishes.
            let mut spins = 0;
            while state.load(Ordering::Acquire) == 1 {
                spins += 1;
                if spins > 100_000 {
                    return None;
                }
                std::hint::spin_loop();
            }
            let same = at(slot, I_NAME_LEN).load(Ordering::Relaxed) == len
                && words
                    .iter()
                    .enumerate()
                    .all(|(i, w)| at(slot, I_NAME + i).load(Ordering::Relaxed) == *w);
            if same {
                return Some(slot);
            }
        }
        None
    }

    /// A request of `group` ran in application group `name`, and waited
    /// `gil_wait` seconds for the GIL.
    pub fn count_interpreter_request(&self, group: GroupId, name: &str, gil_wait: f64) {
        if let Some(slot) = self.interpreter_slot(group, name) {
            let base = G_INTERPRETERS + slot * INTERPRETER_WORDS;
            Self::add(self.group_word(group, base + I_REQUESTS), 1);
            Self::add(self.group_word(group, base + I_GIL_WAIT), micros(gil_wait));
        }
    }

    /// A daemon turned a request back because it waited past
    /// `queue-timeout`.
    pub fn count_queue_timeout(&self, group: GroupId) {
        Self::add(self.group_word(group, G_QUEUE_TIMEOUTS), 1);
    }

    /// A daemon process of `group` stopped for `reason` (one of
    /// [`RESTART_REASONS`]; others are not counted).
    pub fn count_restart(&self, group: GroupId, reason: &str) {
        if let Some(i) = RESTART_REASONS.iter().position(|r| *r == reason) {
            Self::add(self.group_word(group, G_RESTARTS + i), 1);
        }
    }

    /// Claims a process record for `pid` in `group`, taking over one left
    /// by a process that is gone (`alive` says which are not). None when
    /// every record is held by a live process.
    pub fn claim_process(
        &self,
        pid: u32,
        group: GroupId,
        threads: u64,
        started: f64,
        alive: &dyn Fn(u32) -> bool,
    ) -> Option<ProcessRecord> {
        let pid = u64::from(pid);
        let take = |slot: usize, from: u64| {
            self.process_word(slot, P_OWNER)
                .compare_exchange(from, pid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        let slot = (0..PROCESS_CAPACITY).find(|&s| take(s, 0)).or_else(|| {
            (0..PROCESS_CAPACITY).find(|&s| {
                let owner = self.process_word(s, P_OWNER).load(Ordering::Relaxed);
                owner != pid && !alive(owner as u32) && take(s, owner)
            })
        })?;
        let word = |o| self.process_word(slot, o);
        for offset in P_PID + 1..PROCESS_WORDS {
            word(offset).store(0, Ordering::Relaxed);
        }
        word(P_GROUP).store(group.0 as u64, Ordering::Relaxed);
        word(P_STARTED).store(started.to_bits(), Ordering::Relaxed);
        word(P_THREADS).store(threads, Ordering::Relaxed);
        word(P_GIL_ENABLED).store(1, Ordering::Relaxed);
        // Published last: readers only look at records with a pid.
        word(P_PID).store(pid, Ordering::Release);
        Some(ProcessRecord {
            board: *self,
            slot,
            group,
        })
    }

    /// The parent saw process `pid` end: frees its record and says
    /// whether it had begun to stop (false: it crashed). None when it had
    /// no record, or freed it itself.
    pub fn reap_process(&self, pid: u32) -> Option<bool> {
        let pid = u64::from(pid);
        let slot = (0..PROCESS_CAPACITY)
            .find(|&s| self.process_word(s, P_OWNER).load(Ordering::Acquire) == pid)?;
        let stopping = self.process_word(slot, P_STOPPING).load(Ordering::Relaxed) != 0;
        self.process_word(slot, P_PID).store(0, Ordering::Release);
        self.process_word(slot, P_OWNER)
            .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        Some(stopping)
    }

    /// Everything on the board now.
    pub fn snapshot(&self) -> Snapshot {
        let groups = (0..GROUP_CAPACITY)
            .map(GroupId)
            .filter(|&g| self.group_word(g, G_STATE).load(Ordering::Acquire) == 1)
            .map(|g| self.group_snapshot(g))
            .collect();
        let processes = (0..PROCESS_CAPACITY)
            .filter_map(|slot| {
                let word = |o| self.process_word(slot, o).load(Ordering::Relaxed);
                let pid = self.process_word(slot, P_PID).load(Ordering::Acquire);
                (pid != 0).then(|| ProcessSnapshot {
                    pid: pid as u32,
                    group: self.group_name(GroupId(word(P_GROUP) as usize)),
                    started: f64::from_bits(word(P_STARTED)),
                    threads: word(P_THREADS),
                    busy: word(P_BUSY),
                    requests: word(P_REQUESTS),
                    gil_wait: word(P_GIL_WAIT) as f64 / 1_000_000.0,
                    gil_enabled: word(P_GIL_ENABLED) != 0,
                    interpreters: std::array::from_fn(|k| word(P_INTERPRETERS + k)),
                })
            })
            .collect();
        Snapshot { groups, processes }
    }

    fn group_snapshot(&self, g: GroupId) -> GroupSnapshot {
        let word = |o| self.group_word(g, o).load(Ordering::Relaxed);
        let phases = GroupPhase::ALL.map(|phase| {
            let at = G_PHASES + PHASE_WORDS * phase as usize;
            PhaseCounts {
                count: word(at),
                sum: word(at + 1) as f64 / 1_000_000.0,
                buckets: (0..BUCKETS).map(|b| word(at + 2 + b)).collect(),
            }
        });
        let interpreters = (0..INTERPRETER_CAPACITY)
            .filter_map(|slot| {
                let base = G_INTERPRETERS + slot * INTERPRETER_WORDS;
                if self.group_word(g, base + I_STATE).load(Ordering::Acquire) != 2 {
                    return None;
                }
                let len = word(base + I_NAME_LEN) as usize;
                let mut bytes: Vec<u8> = (0..NAME_WORDS)
                    .flat_map(|i| word(base + I_NAME + i).to_le_bytes())
                    .collect();
                bytes.truncate(len.min(NAME_WORDS * 8));
                Some(InterpreterCounts {
                    application_group: String::from_utf8_lossy(&bytes).into_owned(),
                    requests: word(base + I_REQUESTS),
                    gil_wait: word(base + I_GIL_WAIT) as f64 / 1_000_000.0,
                })
            })
            .collect();
        GroupSnapshot {
            name: self.group_name(g),
            interpreters,
            requests: std::array::from_fn(|c| word(G_REQUESTS + c)),
            queue_timeouts: word(G_QUEUE_TIMEOUTS),
            restarts: std::array::from_fn(|r| word(G_RESTARTS + r)),
            phases,
        }
    }
}

/// This process's record on the board.
#[derive(Clone, Copy)]
pub struct ProcessRecord {
    board: Board,
    slot: usize,
    group: GroupId,
}

impl ProcessRecord {
    fn word(&self, offset: usize) -> &AtomicU64 {
        self.board.process_word(self.slot, offset)
    }

    /// This process turned back a request that waited past
    /// `queue-timeout`.
    pub fn count_queue_timeout(&self) {
        self.board.count_queue_timeout(self.group);
    }

    /// A request started on one of this process's threads.
    pub fn begin(&self) {
        Board::add(self.word(P_BUSY), 1);
    }

    /// The request begun with [`begin`](Self::begin) finished, in
    /// application group `application_group`.
    pub fn finish(&self, finished: &FinishedRequest, application_group: &str) {
        let _ = self
            .word(P_BUSY)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        Board::add(self.word(P_REQUESTS), 1);
        Board::add(self.word(P_GIL_WAIT), micros(finished.gil_wait));
        let board = self.board;
        board.count_request(self.group, finished.status);
        if let Some(queue) = finished.queue {
            board.time(self.group, GroupPhase::Queue, queue);
        }
        board.time(self.group, GroupPhase::Application, finished.application);
        board.time(self.group, GroupPhase::Request, finished.request);
        board.count_interpreter_request(self.group, application_group, finished.gil_wait);
    }

    /// Whether the GIL is on in this process (free-threaded builds can
    /// turn it back on).
    pub fn set_gil_enabled(&self, enabled: bool) {
        self.word(P_GIL_ENABLED)
            .store(u64::from(enabled), Ordering::Relaxed);
    }

    /// One more interpreter in this process, of GIL `kind`.
    pub fn count_interpreter(&self, kind: GilKind) {
        if let Some(k) = INTERPRETER_KINDS.iter().position(|(g, _)| *g == kind) {
            Board::add(self.word(P_INTERPRETERS + k), 1);
        }
    }

    /// The process has begun to stop for `reason` (counted for its group).
    pub fn stopping(&self, reason: &str) {
        if self.word(P_STOPPING).swap(1, Ordering::Relaxed) == 0 {
            self.board.count_restart(self.group, reason);
        }
    }

    /// The process is exiting: its record is free again.
    pub fn release(&self) {
        self.word(P_PID).store(0, Ordering::Release);
        self.word(P_OWNER).store(0, Ordering::Release);
    }
}

/// What a finished request adds to the board.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FinishedRequest {
    pub status: u16,
    /// Daemon mode: time in the listen queue.
    pub queue: Option<f64>,
    pub application: f64,
    pub request: f64,
    pub gil_wait: f64,
}

impl FinishedRequest {
    /// What `sample` adds to the board.
    pub fn of(sample: &super::RequestSample) -> FinishedRequest {
        use super::Phase;
        FinishedRequest {
            status: sample.status,
            queue: sample.phase(Phase::Queue),
            application: sample.phase(Phase::Application).unwrap_or(0.0),
            request: sample.phase(Phase::Request).unwrap_or(0.0),
            gil_wait: sample.gil_wait,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhaseCounts {
    pub count: u64,
    /// Seconds.
    pub sum: f64,
    /// One count per histogram bucket (see [`super::histogram`]).
    pub buckets: Vec<u64>,
}

/// Requests and GIL wait of one application group (an interpreter in
/// each process of its group).
#[derive(Debug, Clone, PartialEq)]
pub struct InterpreterCounts {
    pub application_group: String,
    pub requests: u64,
    /// Seconds.
    pub gil_wait: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupSnapshot {
    pub name: String,
    pub interpreters: Vec<InterpreterCounts>,
    pub requests: [u64; STATUS_CLASSES],
    pub queue_timeouts: u64,
    pub restarts: [u64; RESTART_REASONS.len()],
    /// In [`GroupPhase::ALL`] order.
    pub phases: [PhaseCounts; 4],
}

impl GroupSnapshot {
    pub fn phase(&self, phase: GroupPhase) -> &PhaseCounts {
        &self.phases[phase as usize]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSnapshot {
    pub pid: u32,
    pub group: String,
    pub started: f64,
    pub threads: u64,
    pub busy: u64,
    pub requests: u64,
    pub gil_wait: f64,
    pub gil_enabled: bool,
    /// In [`INTERPRETER_KINDS`] order.
    pub interpreters: [u64; INTERPRETER_KINDS.len()],
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub groups: Vec<GroupSnapshot>,
    pub processes: Vec<ProcessSnapshot>,
}

#[cfg(test)]
pub(crate) fn test_board() -> Board {
    let words: Vec<AtomicU64> = (0..TABLE_WORDS).map(|_| AtomicU64::new(0)).collect();
    Board::lay_out(Box::leak(words.into_boxed_slice())).expect("table sized")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_register_once_and_keep_their_names() {
        let board = test_board();
        let embedded = board.register_group("").unwrap();
        let daemon = board.register_group("site-a").unwrap();
        assert_ne!(embedded, daemon);
        assert_eq!(board.register_group("site-a"), Some(daemon));
        assert_eq!(board.find_group(""), Some(embedded));
        assert_eq!(board.find_group("site-b"), None);
        let long = "g".repeat(300);
        let id = board.register_group(&long).unwrap();
        assert_eq!(board.find_group(&long), Some(id));
        let names: Vec<String> = board
            .snapshot()
            .groups
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(
            names,
            vec!["".to_string(), "site-a".into(), "g".repeat(128)]
        );
    }

    #[test]
    fn a_full_group_table_refuses_more() {
        let board = test_board();
        for i in 0..GROUP_CAPACITY {
            assert!(board.register_group(&format!("g{i}")).is_some());
        }
        assert_eq!(board.register_group("one-too-many"), None);
        assert!(board.register_group("g3").is_some());
    }

    #[test]
    fn laying_out_again_keeps_the_counters() {
        let words: Vec<AtomicU64> = (0..TABLE_WORDS).map(|_| AtomicU64::new(0)).collect();
        let words: &'static [AtomicU64] = Box::leak(words.into_boxed_slice());
        let board = Board::lay_out(words).unwrap();
        let g = board.register_group("web").unwrap();
        board.count_request(g, 200);
        let again = Board::lay_out(words).unwrap();
        assert_eq!(again.snapshot().groups[0].requests, [0, 1, 0, 0, 0]);
        assert!(Board::lay_out(&words[..10]).is_none());
    }

    #[test]
    fn finished_requests_count_by_class_and_phase() {
        let board = test_board();
        let g = board.register_group("web").unwrap();
        let p = board.claim_process(41, g, 5, 100.0, &|_| true).unwrap();
        p.begin();
        p.begin();
        assert_eq!(board.snapshot().processes[0].busy, 2);
        for status in [200, 204, 404, 500, 0, 101, 302] {
            p.finish(
                &FinishedRequest {
                    status,
                    queue: Some(0.003),
                    application: 0.010,
                    request: 0.020,
                    gil_wait: 0.5,
                },
                if status == 404 { "site|/x" } else { "" },
            );
        }
        let snap = board.snapshot();
        let group = &snap.groups[0];
        assert_eq!(group.requests, [1, 2, 1, 1, 2]);
        let app = group.phase(GroupPhase::Application);
        assert_eq!(app.count, 7);
        assert!((app.sum - 0.07).abs() < 1e-6);
        assert_eq!(app.buckets[bucket_index(0.010)], 7);
        assert_eq!(group.phase(GroupPhase::Queue).count, 7);
        assert_eq!(group.phase(GroupPhase::Connect).count, 0);
        let process = &snap.processes[0];
        assert_eq!(process.busy, 0, "never below zero");
        assert_eq!(process.requests, 7);
        assert!((process.gil_wait - 3.5).abs() < 1e-6);
        assert_eq!((process.pid, process.group.as_str()), (41, "web"));
        let by_interpreter: Vec<(&str, u64)> = group
            .interpreters
            .iter()
            .map(|i| (i.application_group.as_str(), i.requests))
            .collect();
        assert_eq!(by_interpreter, vec![("", 6), ("site|/x", 1)]);
        assert!((group.interpreters[1].gil_wait - 0.5).abs() < 1e-6);
        assert_eq!(process.threads, 5);
    }

    #[test]
    fn a_request_sample_gives_its_phases() {
        let daemon = super::super::RequestSample {
            request_start: 10.0,
            queue_start: 10.5,
            daemon_start: 11.0,
            application_start: 11.25,
            application_finish: 12.0,
            status: 404,
            gil_wait: 0.125,
            ..Default::default()
        };
        assert_eq!(
            FinishedRequest::of(&daemon),
            FinishedRequest {
                status: 404,
                queue: Some(0.5),
                application: 0.75,
                request: 2.0,
                gil_wait: 0.125
            }
        );
        let embedded = super::super::RequestSample {
            queue_start: 0.0,
            daemon_start: 0.0,
            ..daemon
        };
        assert_eq!(FinishedRequest::of(&embedded).queue, None);
    }

    #[test]
    fn application_groups_are_named_once_and_the_table_has_a_limit() {
        let board = test_board();
        let g = board.register_group("web").unwrap();
        for i in 0..INTERPRETER_CAPACITY + 3 {
            board.count_interpreter_request(
                g,
                &format!("app{}", i % (INTERPRETER_CAPACITY + 1)),
                0.0,
            );
        }
        board.count_interpreter_request(g, "app0", 0.0);
        let counts = &board.snapshot().groups[0].interpreters;
        assert_eq!(counts.len(), INTERPRETER_CAPACITY);
        assert_eq!(counts[0].requests, 3);
        assert!(counts
            .iter()
            .all(|c| c.application_group != format!("app{INTERPRETER_CAPACITY}")));
    }

    #[test]
    fn restarts_and_queue_timeouts_count_per_group() {
        let board = test_board();
        let g = board.register_group("web").unwrap();
        board.count_restart(g, "maximum_requests");
        board.count_restart(g, "maximum_requests");
        board.count_restart(g, "crashed");
        board.count_restart(g, "not-a-reason");
        board
            .claim_process(9, g, 1, 0.0, &|_| true)
            .unwrap()
            .count_queue_timeout();
        let group = &board.snapshot().groups[0];
        assert_eq!(group.restarts[0], 2);
        assert_eq!(group.restarts[11], 1);
        assert_eq!(group.restarts.iter().sum::<u64>(), 3);
        assert_eq!(group.queue_timeouts, 1);
    }

    #[test]
    fn process_records_are_reused_only_from_dead_processes() {
        let board = test_board();
        let g = board.register_group("").unwrap();
        let records: Vec<ProcessRecord> = (1..=PROCESS_CAPACITY as u32)
            .map(|pid| board.claim_process(pid, g, 1, 0.0, &|_| true).unwrap())
            .collect();
        assert!(board.claim_process(5000, g, 1, 0.0, &|_| true).is_none());
        let taken = board
            .claim_process(5000, g, 1, 0.0, &|pid| pid != 7)
            .expect("pid 7 is gone");
        assert_eq!(
            board
                .snapshot()
                .processes
                .iter()
                .filter(|p| p.pid == 7)
                .count(),
            0
        );
        records[0].release();
        assert!(board.claim_process(5001, g, 1, 0.0, &|_| true).is_some());
        let pids: Vec<u32> = board.snapshot().processes.iter().map(|p| p.pid).collect();
        assert!(pids.contains(&5000) && pids.contains(&5001) && !pids.contains(&1));
        // The parent reaps what crashed, and what stopped on its way.
        records[1].stopping("maximum_requests");
        records[1].stopping("maximum_requests");
        assert_eq!(board.reap_process(2), Some(true));
        assert_eq!(board.reap_process(3), Some(false));
        assert_eq!(board.reap_process(3), None);
        assert_eq!(board.snapshot().groups[0].restarts[0], 1);
        taken.count_interpreter(GilKind::Own);
        taken.count_interpreter(GilKind::Shared);
        taken.count_interpreter(GilKind::Shared);
        taken.set_gil_enabled(false);
        let p = board
            .snapshot()
            .processes
            .into_iter()
            .find(|p| p.pid == 5000)
            .unwrap();
        assert_eq!(p.interpreters, [2, 1, 0]);
        assert!(!p.gil_enabled);
    }
}
