//! Byte layouts of the raw tier: the per-report blob of `metrics_raw_head`
//! and the Gorilla-style chunk of `metrics_raw`.
//!
//! A head blob is what one report adds: varint sample count, then per sample
//! (sorted by series id) the varint id delta and the value's 8 bytes. It is
//! cheap to write and lives only until compaction.
//!
//! A chunk holds one series' samples in one time window, as in Facebook's
//! Gorilla paper: timestamps as delta-of-delta in variable-width buckets, and
//! values XORed with the previous value so a repeated or slowly changing value
//! costs a bit or a few. The one thing to know: encoding is lossless on the
//! bits of an `f64` (negative zero and subnormals come back as they went in),
//! and a chunk's samples are strictly increasing in time.

/// Tag of the only chunk layout so far, the blob's first byte.
const CHUNK_V1: u8 = 1;

/// One stored sample: Unix milliseconds and a value.
pub type Sample = (i64, f64);

/// Why a stored blob could not be decoded. Seeing one means the file was
/// damaged or written by a newer `mon`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt {what}: {detail}")]
pub struct DecodeError {
    what: &'static str,
    detail: &'static str,
}

fn corrupt(what: &'static str, detail: &'static str) -> DecodeError {
    DecodeError { what, detail }
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Encodes one report's samples, `(series_id, value)`, for the head table.
/// Sorts them by series id; ids must be distinct.
pub fn encode_report(samples: &mut [(i64, f64)]) -> Vec<u8> {
    samples.sort_by_key(|(id, _)| *id);
    let mut out = Vec::with_capacity(2 + samples.len() * 10);
    put_varint(&mut out, samples.len() as u64);
    let mut prev = 0i64;
    for &(id, value) in samples.iter() {
        put_varint(&mut out, id.wrapping_sub(prev) as u64);
        out.extend_from_slice(&value.to_bits().to_le_bytes());
        prev = id;
    }
    out
}

/// Decodes [`encode_report`]'s blob into `(series_id, value)`, sorted by id.
pub fn decode_report(buf: &[u8]) -> Result<Vec<(i64, f64)>, DecodeError> {
    let err = |d| corrupt("report blob", d);
    let mut pos = 0;
    let n = get_varint(buf, &mut pos).ok_or_else(|| err("no sample count"))?;
    // Each sample takes at least 9 bytes: a count the blob cannot hold is
    // damage, refused before room is made for it.
    if n > ((buf.len() - pos) / 9) as u64 {
        return Err(err("more samples than bytes"));
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut id = 0i64;
    for _ in 0..n {
        let delta = get_varint(buf, &mut pos).ok_or_else(|| err("truncated series id"))?;
        id = id.wrapping_add(delta as i64);
        let bytes = buf
            .get(pos..pos + 8)
            .ok_or_else(|| err("truncated value"))?;
        pos += 8;
        let bits = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        out.push((id, f64::from_bits(bits)));
    }
    Ok(out)
}

/// Finds the value of `series_id` in a report blob without decoding all of it.
pub fn report_value(buf: &[u8], series_id: i64) -> Result<Option<f64>, DecodeError> {
    let err = |d| corrupt("report blob", d);
    let mut pos = 0;
    let n = get_varint(buf, &mut pos).ok_or_else(|| err("no sample count"))?;
    let mut id = 0i64;
    for _ in 0..n {
        let delta = get_varint(buf, &mut pos).ok_or_else(|| err("truncated series id"))?;
        id = id.wrapping_add(delta as i64);
        if id > series_id {
            return Ok(None);
        }
        let bytes = buf
            .get(pos..pos + 8)
            .ok_or_else(|| err("truncated value"))?;
        pos += 8;
        if id == series_id {
            let bits = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            return Ok(Some(f64::from_bits(bits)));
        }
    }
    Ok(None)
}

struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = start a new byte).
    used: u32,
}

impl BitWriter {
    fn write(&mut self, value: u64, mut bits: u32) {
        while bits > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(bits);
            let chunk = ((value >> (bits - take)) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.last_mut().expect("a byte was pushed");
            *last |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            bits -= take;
        }
    }

    fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn read(&mut self, mut bits: u32) -> Option<u64> {
        let mut v = 0u64;
        while bits > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(bits);
            let chunk = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            v = (v << take) | chunk;
            self.pos += take as usize;
            bits -= take;
        }
        Some(v)
    }

    fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

/// Encodes samples sorted by strictly increasing timestamp into a chunk.
pub fn encode_chunk(samples: &[Sample]) -> Vec<u8> {
    let mut w = BitWriter {
        bytes: Vec::with_capacity(16 + samples.len() * 3),
        used: 0,
    };
    w.bytes.push(CHUNK_V1);
    put_varint(&mut w.bytes, samples.len() as u64);
    let Some(&(t0, v0)) = samples.first() else {
        return w.bytes;
    };
    w.write(t0 as u64, 64);
    w.write(v0.to_bits(), 64);
    let (mut prev_ts, mut prev_delta) = (t0, 0i64);
    let (mut prev_bits, mut lead, mut trail) = (v0.to_bits(), u32::MAX, 0u32);
    for &(ts, v) in &samples[1..] {
        let delta = ts.wrapping_sub(prev_ts);
        let dod = delta.wrapping_sub(prev_delta);
        // Buckets sized for agents ticking every few seconds with a few
        // milliseconds of jitter: most deltas of deltas fit the first two.
        match dod {
            0 => w.bit(false),
            -64..=63 => {
                w.write(0b10, 2);
                w.write(dod as u64, 7);
            }
            -256..=255 => {
                w.write(0b110, 3);
                w.write(dod as u64, 9);
            }
            -2048..=2047 => {
                w.write(0b1110, 4);
                w.write(dod as u64, 12);
            }
            _ => {
                w.write(0b1111, 4);
                w.write(dod as u64, 64);
            }
        }
        prev_delta = delta;
        prev_ts = ts;

        let bits = v.to_bits();
        let xor = bits ^ prev_bits;
        prev_bits = bits;
        if xor == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        // Leading zeros fit 5 bits, so cap them at 31.
        let l = xor.leading_zeros().min(31);
        let t = xor.trailing_zeros();
        if lead != u32::MAX && l >= lead && t >= trail {
            // The meaningful bits fit in the previous window: reuse it.
            w.bit(false);
            w.write(xor >> trail, 64 - lead - trail);
        } else {
            w.bit(true);
            let len = 64 - l - t;
            w.write(u64::from(l), 5);
            // A length of 64 is written as 0; a nonzero XOR has length >= 1.
            w.write(u64::from(len % 64), 6);
            w.write(xor >> t, len);
            lead = l;
            trail = t;
        }
    }
    w.bytes
}

/// Decodes [`encode_chunk`]'s blob.
pub fn decode_chunk(buf: &[u8]) -> Result<Vec<Sample>, DecodeError> {
    let err = |d| corrupt("raw chunk", d);
    if buf.first() != Some(&CHUNK_V1) {
        return Err(err("unknown layout tag"));
    }
    let mut pos = 1;
    let n = get_varint(buf, &mut pos).ok_or_else(|| err("no sample count"))?;
    // The first sample takes 128 bits and each other one at least 2: a
    // count the chunk cannot hold is damage, refused before room is made
    // for it (a few bytes must not reserve megabytes).
    let bits = ((buf.len() - pos) * 8) as u64;
    if n > 0 && n - 1 > bits.saturating_sub(128) / 2 {
        return Err(err("more samples than bytes"));
    }
    let n = n as usize;
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let mut r = BitReader {
        bytes: buf,
        pos: pos * 8,
    };
    let truncated = || err("truncated");
    let t0 = r.read(64).ok_or_else(truncated)? as i64;
    let v0 = r.read(64).ok_or_else(truncated)?;
    out.push((t0, f64::from_bits(v0)));
    let (mut prev_ts, mut prev_delta) = (t0, 0i64);
    let (mut prev_bits, mut lead, mut trail) = (v0, 0u32, 0u32);
    let signed = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    for _ in 1..n {
        let dod = if !r.bit().ok_or_else(truncated)? {
            0
        } else if !r.bit().ok_or_else(truncated)? {
            signed(r.read(7).ok_or_else(truncated)?, 7)
        } else if !r.bit().ok_or_else(truncated)? {
            signed(r.read(9).ok_or_else(truncated)?, 9)
        } else if !r.bit().ok_or_else(truncated)? {
            signed(r.read(12).ok_or_else(truncated)?, 12)
        } else {
            r.read(64).ok_or_else(truncated)? as i64
        };
        let delta = prev_delta.wrapping_add(dod);
        let ts = prev_ts.wrapping_add(delta);
        prev_delta = delta;
        prev_ts = ts;

        if r.bit().ok_or_else(truncated)? {
            if r.bit().ok_or_else(truncated)? {
                lead = r.read(5).ok_or_else(truncated)? as u32;
                let len = match r.read(6).ok_or_else(truncated)? as u32 {
                    0 => 64,
                    n => n,
                };
                trail = 64u32
                    .checked_sub(lead + len)
                    .ok_or_else(|| err("bad value window"))?;
            }
            let len = 64 - lead - trail;
            let meaningful = r.read(len).ok_or_else(truncated)?;
            prev_bits ^= meaningful << trail;
        }
        out.push((ts, f64::from_bits(prev_bits)));
    }
    Ok(out)
}

/// Merges `extra` into `base` (both sorted by time). Where both hold a
/// timestamp, the value in `base` wins: the first write of a sample is the
/// one kept, as with `INSERT … ON CONFLICT DO NOTHING`.
pub fn merge_samples(base: &[Sample], extra: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(base.len() + extra.len());
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < extra.len() {
        match (base.get(i), extra.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                out.push(*a);
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                out.push(*a);
                i += 1;
            }
            (Some(a), None) => {
                out.push(*a);
                i += 1;
            }
            (_, Some(b)) => {
                out.push(*b);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    /// Edge values an encoder is likely to get wrong, plus arbitrary finite
    /// bit patterns.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::MIN_POSITIVE),
            Just(f64::EPSILON),
            Just(5e-324),
            Just(-5e-324),
            Just(1.0),
            (0u64..1000).prop_map(|n| n as f64 * 0.1),
            any::<u64>()
                .prop_map(f64::from_bits)
                .prop_filter("finite", |v| v.is_finite()),
        ]
    }

    fn series() -> impl Strategy<Value = Vec<Sample>> {
        (
            any::<i64>().prop_map(|t| t >> 2),
            prop::collection::vec((1i64..20_000_000, value()), 0..300),
        )
            .prop_map(|(start, steps)| {
                let mut ts = start;
                steps
                    .into_iter()
                    .map(|(step, v)| {
                        ts = ts.saturating_add(step);
                        (ts, v)
                    })
                    .collect::<Vec<_>>()
            })
            .prop_map(|mut s| {
                s.dedup_by_key(|p| p.0);
                s
            })
    }

    proptest! {
        #[test]
        fn a_chunk_round_trips_every_bit(samples in series()) {
            let decoded = decode_chunk(&encode_chunk(&samples)).unwrap();
            prop_assert_eq!(bits(&decoded), bits(&samples));
        }

        #[test]
        fn a_report_blob_round_trips_every_bit(
            values in prop::collection::btree_map(0i64..1_000_000, value(), 0..200)
        ) {
            let mut samples: Vec<(i64, f64)> = values.into_iter().collect();
            let blob = encode_report(&mut samples);
            let decoded = decode_report(&blob).unwrap();
            prop_assert_eq!(bits(&decoded), bits(&samples));
            for &(id, v) in &samples {
                prop_assert_eq!(report_value(&blob, id).unwrap().map(f64::to_bits), Some(v.to_bits()));
            }
        }

        #[test]
        fn merging_keeps_the_first_written_value(a in series(), b in series()) {
            let merged = merge_samples(&a, &b);
            prop_assert!(merged.windows(2).all(|w| w[0].0 < w[1].0));
            for s in &a {
                prop_assert!(merged.iter().any(|m| m.0 == s.0 && m.1.to_bits() == s.1.to_bits()));
            }
            prop_assert_eq!(merge_samples(&merged, &b).len(), merged.len());
        }
    }

    #[test]
    fn a_regular_series_costs_a_few_bits_per_sample() {
        // One sample every 5 s with a few ms of jitter, values changing rarely.
        let samples: Vec<Sample> = (0..720)
            .map(|i| (1_700_000_000_000 + i * 5000 + (i % 3), (i / 60) as f64))
            .collect();
        let blob = encode_chunk(&samples);
        assert!(blob.len() < 720 * 2, "{} bytes", blob.len());
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let blob = encode_chunk(&[(1, 1.0), (2, 2.0), (3, 4.5)]);
        assert!(decode_chunk(&blob[..blob.len() - 2]).is_err());
        assert!(decode_chunk(&[9]).is_err());
        assert!(decode_report(&[3, 1]).is_err());
    }
}
