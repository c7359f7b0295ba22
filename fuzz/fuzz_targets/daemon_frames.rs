//! Whatever bytes arrive on a daemon's (or a child's) socket: reading
//! frames must end in frames, a clean end or an error; never a panic, and
//! never a payload buffer beyond `MAX_FRAME`. Every frame read must also
//! survive being written and read again unchanged.
//!
//! The first input byte sets how many bytes each `read` returns, so the
//! partial-read paths of a real socket are exercised too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::daemon::wire::Frame;
use std::io::{self, Read};

/// A reader that hands out at most `step` bytes per call, as a socket may.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let mut input = Trickle {
        data: stream,
        step: usize::from(step % 16) + 1,
    };
    // The input is finite, so the loop ends on `None` or an error.
    while let Ok(Some(frame)) = Frame::read_from(&mut input) {
        let mut encoded = Vec::new();
        frame.write_to(&mut encoded).expect("writing to a Vec");
        let again = Frame::read_from(&mut &encoded[..])
            .expect("a frame we wrote reads back")
            .expect("a frame we wrote is not the end of the stream");
        assert_eq!(again, frame);
    }
});
