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
//! The parent and the group's processes share one page (see
//! [`crate::sys::shared`]) with the state below.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::OnceLock;

/// The shared state of one group's standby. Zeroed: no standby yet.
#[repr(C)]
#[derive(Default)]
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
}

/// What a claimant waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Starting,
    Ready,
    Failed,
}

impl Handover {
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
        self.go.store(1, Ordering::Release);
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
static HANDOVER: OnceLock<&'static Handover> = OnceLock::new();

pub fn install(handover: &'static Handover) {
    let _ = HANDOVER.set(handover);
}

pub fn handover() -> Option<&'static Handover> {
    HANDOVER.get().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_at_a_time_and_the_standby_takes_the_slot_once_claimed() {
        let h = Handover::default();
        assert_eq!(h.claim(10), None, "no standby yet");
        h.reset_for(99);
        assert!(!h.woken());
        assert_eq!(h.claim(10), Some(99));
        assert!(h.woken());
        assert_eq!(h.claim(11), None, "a second process waits its turn");
        assert_eq!(h.progress(99), Progress::Starting);
        h.announce_ready(98);
        assert_eq!(h.progress(99), Progress::Starting, "only the standby");
        h.announce_ready(99);
        assert_eq!(h.progress(99), Progress::Ready);
        assert_eq!(h.claimed_by(11), None);
        assert_eq!(h.claimed_by(10), Some(99));
        h.reset_for(100);
        assert_eq!(h.claim(11), Some(100));
    }

    #[test]
    fn a_standby_that_dies_starting_is_a_failure_for_its_claimant() {
        let h = Handover::default();
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
