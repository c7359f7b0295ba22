//! The latency histogram shared by `request_metrics()` and telemetry:
//! 16 octaves from 1 ms to 65.536 s, each split linearly into 4
//! sub-buckets, plus one bucket for anything longer (65 in all). Values
//! under 1.25 ms land in the first bucket.

pub const BUCKETS: usize = 65;
const OCTAVES: usize = 16;
const SUB_BUCKETS: usize = 4;

/// The bucket a duration (seconds) falls in. Bucket `4*o + s` covers
/// `[2^o * (1 + s/4), 2^o * (1 + (s+1)/4))` milliseconds.
pub fn bucket_index(seconds: f64) -> usize {
    let ms = seconds * 1000.0;
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    let octave = ms.log2().floor() as usize;
    if octave >= OCTAVES {
        return BUCKETS - 1;
    }
    let base = (1u64 << octave) as f64;
    let sub = (((ms / base) - 1.0) * SUB_BUCKETS as f64).floor() as usize;
    octave * SUB_BUCKETS + sub.min(SUB_BUCKETS - 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram(pub [u32; BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; BUCKETS])
    }
}

impl Histogram {
    pub fn record(&mut self, seconds: f64) {
        let bucket = &mut self.0[bucket_index(seconds)];
        *bucket = bucket.saturating_add(1);
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&n| u64::from(n)).sum()
    }

    pub fn counts(&self) -> &[u32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_edges_follow_octaves_of_four() {
        assert_eq!(bucket_index(0.0), 0);
        assert_eq!(bucket_index(0.0009), 0);
        assert_eq!(bucket_index(0.001), 0);
        assert_eq!(bucket_index(0.00124), 0);
        assert_eq!(bucket_index(0.00125), 1);
        assert_eq!(bucket_index(0.0019), 3);
        assert_eq!(bucket_index(0.002), 4);
        assert_eq!(bucket_index(0.0025), 5);
        assert_eq!(bucket_index(0.0035), 7);
        assert_eq!(bucket_index(0.020), 4 * 4 + 1);
        assert_eq!(bucket_index(65.535), 63);
        assert_eq!(bucket_index(65.536), 64);
        assert_eq!(bucket_index(3600.0), 64);
        assert_eq!(bucket_index(f64::NAN), 0);
    }

    #[test]
    fn recording_counts_into_the_right_bucket() {
        let mut h = Histogram::default();
        h.record(0.0005);
        h.record(0.003);
        h.record(100.0);
        assert_eq!(h.total(), 3);
        assert_eq!(h.counts()[0], 1);
        assert_eq!(h.counts()[6], 1);
        assert_eq!(h.counts()[64], 1);
    }
}
