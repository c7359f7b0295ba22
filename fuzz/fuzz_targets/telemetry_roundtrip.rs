//! Telemetry datagrams: whatever fields and values a process reports, the
//! bytes decode (by the format the ingester reads, written out here
//! independently of the encoder) to the same header and fields, with
//! strings and arrays cut only where the format says.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::telemetry::wire::{Datagram, Field, Kind, MAGIC, VERSION};

const KINDS: &[Kind] = &[
    Kind::Interval,
    Kind::SlowRequest,
    Kind::ProcessStarted,
    Kind::ProcessStopping,
    Kind::ProcessStopped,
    Kind::GcSnapshot,
    Kind::GcEvent,
];

#[derive(Arbitrary, Debug, Clone)]
enum Value {
    U64(u64),
    F64(f64),
    Str(String),
    /// A long string, to reach the 16-bit length limit cheaply.
    Repeated(String, u16),
    I32Array(Vec<u32>),
    F64Array(Vec<f64>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: u8,
    pid: u32,
    seq: u32,
    stamp: f64,
    fields: Vec<(u16, Value)>,
}

/// A decoded field value; floats as bits so NaN compares equal to itself.
#[derive(Debug, PartialEq)]
enum Decoded {
    U64(u64),
    F64(u64),
    Bytes(Vec<u8>),
    I32Array(Vec<i32>),
    F64Array(Vec<u64>),
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.0.len() >= n, "datagram ends inside a field");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
}

fn decode(bytes: &[u8]) -> (u8, u32, u32, u64, Vec<(u16, Decoded)>) {
    let mut r = Reader(bytes);
    assert_eq!(r.take(4), MAGIC);
    assert_eq!(r.take(1), [VERSION]);
    let kind = r.take(1)[0];
    assert_eq!(r.u16(), 0, "flags");
    let pid = u32::from_le_bytes(r.take(4).try_into().unwrap());
    let seq = u32::from_le_bytes(r.take(4).try_into().unwrap());
    let stamp = r.u64();
    let mut fields = Vec::new();
    while !r.0.is_empty() {
        let id = r.u16();
        let value = match r.take(1)[0] {
            0x01 => Decoded::U64(r.u64()),
            0x02 => Decoded::F64(r.u64()),
            0x04 => {
                let n = usize::from(r.u16());
                Decoded::Bytes(r.take(n).to_vec())
            }
            0x05 => {
                let n = usize::from(r.u16());
                Decoded::I32Array(
                    (0..n)
                        .map(|_| i32::from_le_bytes(r.take(4).try_into().unwrap()))
                        .collect(),
                )
            }
            0x06 => {
                let n = usize::from(r.u16());
                Decoded::F64Array((0..n).map(|_| r.u64()).collect())
            }
            other => panic!("unknown field type {other:#x}"),
        };
        fields.push((id, value));
    }
    (kind, pid, seq, stamp, fields)
}

/// What the format promises for a string: at most 65535 bytes, cut at a
/// character boundary.
fn cut(s: &str) -> Vec<u8> {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes()[..end].to_vec()
}

fuzz_target!(|input: Input| {
    let kind = KINDS[usize::from(input.kind) % KINDS.len()];
    let mut datagram = Datagram::new(kind, input.pid, input.seq, input.stamp);
    let mut expected = Vec::new();
    for (which, value) in input.fields {
        let field = Field::ALL[usize::from(which) % Field::ALL.len()];
        let id = field.id();
        let decoded = match value {
            Value::U64(v) => {
                datagram.u64(field, v);
                Decoded::U64(v)
            }
            Value::F64(v) => {
                datagram.f64(field, v);
                Decoded::F64(v.to_bits())
            }
            Value::Str(s) => {
                datagram.str(field, &s);
                Decoded::Bytes(cut(&s))
            }
            Value::Repeated(s, times) => {
                let s = s.repeat(usize::from(times));
                datagram.str(field, &s);
                Decoded::Bytes(cut(&s))
            }
            Value::I32Array(v) => {
                datagram.i32_array(field, &v);
                Decoded::I32Array(
                    v.iter()
                        .take(u16::MAX as usize)
                        .map(|&n| i32::try_from(n).unwrap_or(i32::MAX))
                        .collect(),
                )
            }
            Value::F64Array(v) => {
                datagram.f64_array(field, &v);
                Decoded::F64Array(
                    v.iter()
                        .take(u16::MAX as usize)
                        .map(|f| f.to_bits())
                        .collect(),
                )
            }
        };
        expected.push((id, decoded));
    }
    let (got_kind, pid, seq, stamp, fields) = decode(datagram.bytes());
    assert_eq!(got_kind, kind as u8);
    assert_eq!((pid, seq), (input.pid, input.seq));
    assert_eq!(stamp, input.stamp.to_bits());
    assert_eq!(fields, expected);
});
