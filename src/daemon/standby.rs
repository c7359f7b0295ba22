//! Replacement first (ours): each daemon group keeps one standby process,
//! forked by the Apache parent and paused before Python starts. A process
//! that is about to recycle (maximum-requests, restart-interval,
//! memory-recycle) claims the standby, which then starts up and accepts on
//! the group's socket beside it; the old process stops accepting only once
//! the standby says it is ready. When the old process dies the parent
//! adopts the standby into its slot and forks a new standby.
//!
//! "Ready" means: Python is initialised and the group's `WSGIImportScript`
//! preloads have run. A script loaded lazily is imported by its first
//! request, as before. One standby per group means at most one process of
//! a group recycles at a time.
//!
//! A changed WSGI script (script reloading, daemon mode) is handled the
//! same way: the process that sees the change claims the standby for a
//! reload, naming the script; the standby imports it before it says it is
//! ready, and the old process serves the code it has until then. When the
//! import fails the standby exits, the old process keeps serving, and the
//! changed file is not tried again until it changes once more.
//!
//! The parent and the group's processes share one page (see
//! [`crate::sys::shared_memory`]) with the state below.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
#[cfg(not(test))]
use std::sync::OnceLock;

/// Room for the application group and script path of a reload.
const TEXT: usize = 4096;

/// `go` values: how the standby was set going.
const GO_REPLACE: u32 = 1;
const GO_RELOAD: u32 = 2;

/// The shared state of one group's standby. Zeroed: no standby yet.
#[repr(C)]
pub struct Handover {
    /// The standby's pid (written by the parent when it forks one).
    standby: AtomicI32,
    /// The pid of the process that claimed the standby (0: unclaimed).
    claim: AtomicI32,
    /// Set to 1 by the claimant once it has claimed: the standby starts.
    go: AtomicU32,
    /// The standby's pid once it accepts requests.
    ready: AtomicI32,
    /// The standby's pid when it could not start (or died trying).
    failed: AtomicI32,
    /// [`reload_key`] of a changed script a standby failed to import.
    refused: AtomicU64,
    /// For a reload: "application group NUL script path".
    text_len: AtomicU32,
    text: [AtomicU8; TEXT],
}

/// Identifies one version of a script: its path and modification time.
pub fn reload_key(script: &str, mtime: Option<i64>) -> u64 {
    use std::hash::{Hash, Hasher};
    // A fixed hasher, so every process of the group computes the same key.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (script, mtime).hash(&mut h);
    h.finish() | 1
}

/// What a claimant waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Starting,
    Ready,
    Failed,
}

impl Handover {
    /// A zeroed handover, as a fresh shared page holds it (for tests).
    #[cfg(test)]
    fn zeroed() -> Box<Handover> {
        Box::new(Handover {
            standby: AtomicI32::new(0),
            claim: AtomicI32::new(0),
            go: AtomicU32::new(0),
            ready: AtomicI32::new(0),
            failed: AtomicI32::new(0),
            refused: AtomicU64::new(0),
            text_len: AtomicU32::new(0),
            text: std::array::from_fn(|_| AtomicU8::new(0)),
        })
    }

    /// Parent: a new standby `pid` waits for a claim.
    pub fn reset_for(&self, pid: i32) {
        self.go.store(0, Ordering::Release);
        self.ready.store(0, Ordering::Release);
        self.failed.store(0, Ordering::Release);
        self.claim.store(0, Ordering::Release);
        self.standby.store(pid, Ordering::Release);
    }

    /// Parent: the current standby's pid (0: none).
    pub fn standby_pid(&self) -> i32 {
        self.standby.load(Ordering::Acquire)
    }

    /// Parent: whether `pid`, the standby, had been set going and had not
    /// given up, so it was starting or already serving when it ended: its
    /// workers accept before it says it is ready, and with
    /// graceful-timeout=0 its claimant does not wait for that, so "ready"
    /// alone would miss a standby killed in its first moments of serving.
    pub fn was_set_going(&self, pid: i32) -> bool {
        pid > 0
            && self.standby.load(Ordering::Acquire) == pid
            && self.go.load(Ordering::Acquire) != 0
            && self.failed.load(Ordering::Acquire) != pid
    }

    /// Parent: the group has no standby for now (it died).
    pub fn clear(&self, dead: i32) {
        let _ = self
            .standby
            .compare_exchange(dead, 0, Ordering::AcqRel, Ordering::Acquire);
        // A claimant still waiting on it learns it failed.
        if self.go.load(Ordering::Acquire) != 0 && self.ready.load(Ordering::Acquire) != dead {
            self.failed.store(dead, Ordering::Release);
        }
    }

    /// Parent: whether the process `pid`, just ended, had claimed the
    /// standby and set it going (so the standby takes its slot).
    pub fn claimed_by(&self, pid: i32) -> Option<i32> {
        let standby = self.standby.load(Ordering::Acquire);
        (pid > 0
            && standby > 0
            && self.claim.load(Ordering::Acquire) == pid
            && self.go.load(Ordering::Acquire) != 0
            && self.failed.load(Ordering::Acquire) != standby)
            .then_some(standby)
    }

    /// Daemon: claims the standby for this process and sets it going;
    /// returns its pid, or `None` when there is none or another process of
    /// the group is recycling.
    pub fn claim(&self, me: i32) -> Option<i32> {
        self.claim_with(me, None)
    }

    /// Daemon: claims the standby to load the changed `script` into
    /// `application_group` before it takes over.
    pub fn claim_for_reload(&self, me: i32, application_group: &str, script: &str) -> Option<i32> {
        self.claim_with(me, Some((application_group, script)))
    }

    fn claim_with(&self, me: i32, reload: Option<(&str, &str)>) -> Option<i32> {
        let text = reload.map(|(group, script)| format!("{group}\0{script}"));
        if text.as_ref().is_some_and(|t| t.len() > TEXT) {
            return None;
        }
        let standby = self.standby.load(Ordering::Acquire);
        if standby <= 0 {
            return None;
        }
        self.claim
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        if self.standby.load(Ordering::Acquire) != standby {
            // It died meanwhile.
            self.claim.store(0, Ordering::Release);
            return None;
        }
        let go = match text {
            Some(text) => {
                for (cell, byte) in self.text.iter().zip(text.bytes()) {
                    cell.store(byte, Ordering::Relaxed);
                }
                self.text_len.store(text.len() as u32, Ordering::Release);
                GO_RELOAD
            }
            None => GO_REPLACE,
        };
        self.go.store(go, Ordering::Release);
        Some(standby)
    }

    /// Daemon: how the standby `pid` that this process claimed is doing.
    pub fn progress(&self, pid: i32) -> Progress {
        if self.ready.load(Ordering::Acquire) == pid {
            Progress::Ready
        } else if self.failed.load(Ordering::Acquire) == pid
            || self.standby.load(Ordering::Acquire) != pid
        {
            Progress::Failed
        } else {
            Progress::Starting
        }
    }

    /// Whether another process of the group holds the claim.
    pub fn claimed_by_other(&self, me: i32) -> bool {
        let claim = self.claim.load(Ordering::Acquire);
        claim != 0 && claim != me
    }

    /// Standby: the application group and script to load before it is
    /// ready, when it was set going for a reload.
    pub fn reload_target(&self) -> Option<(String, String)> {
        if self.go.load(Ordering::Acquire) != GO_RELOAD {
            return None;
        }
        let len = (self.text_len.load(Ordering::Acquire) as usize).min(TEXT);
        let bytes: Vec<u8> = self.text[..len]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let text = String::from_utf8(bytes).ok()?;
        let (group, script) = text.split_once('\0')?;
        Some((group.to_string(), script.to_string()))
    }

    /// Standby: it could not get ready (the changed script failed).
    pub fn announce_failed(&self, me: i32) {
        if self.standby.load(Ordering::Acquire) == me {
            self.failed.store(me, Ordering::Release);
        }
    }

    /// Daemon: this version of a script failed to import in a standby.
    pub fn refuse(&self, key: u64) {
        self.refused.store(key, Ordering::Release);
    }

    pub fn refused(&self, key: u64) -> bool {
        self.refused.load(Ordering::Acquire) == key
    }

    /// Standby: whether it has been set going.
    pub fn woken(&self) -> bool {
        self.go.load(Ordering::Acquire) != 0
    }

    /// Standby (now serving): tells the claimant it may stop accepting.
    pub fn announce_ready(&self, me: i32) {
        if self.standby.load(Ordering::Acquire) == me {
            self.ready.store(me, Ordering::Release);
        }
    }
}

/// This process's group's handover, in a daemon or standby process.
#[cfg(not(test))]
static HANDOVER: OnceLock<&'static Handover> = OnceLock::new();

#[cfg(not(test))]
pub fn install(handover: &'static Handover) {
    let _ = HANDOVER.set(handover);
}

#[cfg(not(test))]
pub fn handover() -> Option<&'static Handover> {
    HANDOVER.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_at_a_time_and_the_standby_takes_the_slot_once_claimed() {
        let h = Handover::zeroed();
        assert_eq!(h.claim(10), None, "no standby yet");
        h.reset_for(99);
        assert_eq!(h.standby_pid(), 99);
        assert!(!h.woken());
        assert_eq!(h.claim(10), Some(99));
        assert!(h.woken());
        assert_eq!(h.claim(11), None, "a second process waits its turn");
        assert_eq!(h.progress(99), Progress::Starting);
        h.announce_ready(98);
        assert_eq!(h.progress(99), Progress::Starting, "only the standby");
        assert!(h.was_set_going(99), "set going, not ready yet");
        h.announce_ready(99);
        assert_eq!(h.progress(99), Progress::Ready);
        assert!(h.was_set_going(99), "ready: it serves");
        assert!(!h.was_set_going(98), "only the standby");
        assert_eq!(h.claimed_by(11), None);
        assert_eq!(h.claimed_by(10), Some(99));
        h.reset_for(100);
        assert_eq!(h.claim(11), Some(100));
    }

    #[test]
    fn a_reload_names_its_script_and_a_failed_version_is_remembered() {
        let h = Handover::zeroed();
        h.reset_for(99);
        assert!(!h.was_set_going(99), "not set going");
        assert_eq!(h.reload_target(), None);
        assert_eq!(
            h.claim_for_reload(10, "site|/app", "/srv/app.wsgi"),
            Some(99)
        );
        assert!(h.claimed_by_other(11));
        assert!(!h.claimed_by_other(10));
        assert_eq!(
            h.reload_target(),
            Some(("site|/app".to_string(), "/srv/app.wsgi".to_string()))
        );
        assert!(h.was_set_going(99));
        h.announce_failed(99);
        assert_eq!(h.progress(99), Progress::Failed);
        assert!(!h.was_set_going(99), "it gave up: its end is no crash");
        let key = reload_key("/srv/app.wsgi", Some(5));
        assert!(!h.refused(key));
        h.refuse(key);
        assert!(h.refused(key));
        assert!(
            !h.refused(reload_key("/srv/app.wsgi", Some(6))),
            "a newer version is tried"
        );
        h.reset_for(100);
        assert_eq!(h.claim(11), Some(100));
        assert_eq!(h.reload_target(), None, "a plain replacement loads nothing");
    }

    #[test]
    fn a_standby_that_dies_starting_is_a_failure_for_its_claimant() {
        let h = Handover::zeroed();
        h.reset_for(99);
        assert_eq!(h.claim(10), Some(99));
        h.clear(99);
        assert_eq!(h.progress(99), Progress::Failed);
        assert_eq!(h.claimed_by(10), None, "nothing to adopt");
        // An unclaimed standby that dies is no one's failure.
        h.reset_for(100);
        h.clear(100);
        assert_eq!(h.claim(10), None);
    }
}
