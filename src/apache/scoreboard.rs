//! A read of Apache's scoreboard (`mod_wsgi.server_metrics()`): every
//! process and worker slot, copied out of shared memory.

use super::ffi;

#[derive(Debug, Clone, Default)]
pub struct Worker {
    pub thread_num: i32,
    pub generation: i32,
    /// The `mod_status` letter for the slot's state.
    pub status: char,
    pub access_count: u64,
    pub bytes_served: i64,
    /// Seconds since the epoch.
    pub start_time: f64,
    pub stop_time: f64,
    pub last_used: f64,
    pub client: String,
    pub request: String,
    pub vhost: String,
}

#[derive(Debug, Clone, Default)]
pub struct Process {
    pub process_num: i32,
    pub pid: i32,
    pub generation: i32,
    pub quiescing: bool,
    pub workers: Vec<Worker>,
}

#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    pub server_limit: i32,
    pub thread_limit: i32,
    pub running_generation: i32,
    pub restart_time: f64,
    pub processes: Vec<Process>,
}

fn seconds(t: ffi::apr_time_t) -> f64 {
    t as f64 / 1_000_000.0
}

/// `mod_status`'s letter for a worker state.
fn status_letter(status: u8) -> char {
    const LETTERS: &[u8] = b".S_RWKLDCGI";
    LETTERS.get(status as usize).map_or('?', |&b| b as char)
}

fn text(field: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    // Native text for Python, as the C module reads these fields.
    crate::config::text::latin1(&bytes).into_owned()
}

/// Copies the scoreboard; None when this server has none.
pub fn read() -> Option<Scoreboard> {
    // SAFETY: the scoreboard is shared memory set up by the Apache parent
    // before any child or daemon starts and never unmapped while they
    // run; the accessors index within server_limit × thread_limit.
    unsafe {
        if ffi::ap_exists_scoreboard_image() == 0 || ffi::ap_scoreboard_image.is_null() {
            return None;
        }
        let global = (*ffi::ap_scoreboard_image).global;
        if global.is_null() {
            return None;
        }
        let g = &*global;
        let mut board = Scoreboard {
            server_limit: g.server_limit,
            thread_limit: g.thread_limit,
            running_generation: g.running_generation,
            restart_time: seconds(g.restart_time),
            processes: Vec::new(),
        };
        for i in 0..g.server_limit {
            let p = ffi::ap_get_scoreboard_process(i);
            if p.is_null() {
                continue;
            }
            let p = &*p;
            let mut process = Process {
                process_num: i,
                pid: p.pid,
                generation: p.generation,
                quiescing: p.quiescing != 0,
                workers: Vec::new(),
            };
            for j in 0..g.thread_limit {
                let w = ffi::ap_get_scoreboard_worker_from_indexes(i, j);
                if w.is_null() {
                    continue;
                }
                let w = &*w;
                process.workers.push(Worker {
                    thread_num: w.thread_num,
                    generation: w.generation,
                    status: status_letter(w.status),
                    access_count: w.access_count,
                    bytes_served: w.bytes_served,
                    start_time: seconds(w.start_time),
                    stop_time: seconds(w.stop_time),
                    last_used: seconds(w.last_used),
                    client: text(&w.client64),
                    request: text(&w.request),
                    vhost: text(&w.vhost),
                });
            }
            board.processes.push(process);
        }
        Some(board)
    }
}
