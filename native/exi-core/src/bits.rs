//! Bit-packed reading and writing (EXI 1.0 §7.1, alignment "bit-packed"), bounds-checked on every read.

use crate::error::{Error, Result};
use crate::value::BigInt;

pub struct BitReader<'a> {
    /// The input, possibly followed by zero bytes (see [`BitReader::padded`]); only `len_bits` bits are read.
    data: &'a [u8],
    pos: usize,
    /// `data.len() * 8`, computed once.
    len_bits: usize,
}

#[cold]
#[inline(never)]
fn short(n: u8, pos: usize) -> Error {
    Error::new(format!("stream ends inside a {n}-bit field"), pos)
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, pos: 0, len_bits: data.len() * 8 }
    }

    /// A reader of the first `len` bytes of `buf` whose remaining bytes (at least 8) are zero: every 64-bit
    /// window then comes from one in-bounds load, also at the end of the input. Reads stay within `len`.
    pub fn padded(buf: &'a [u8], len: usize) -> BitReader<'a> {
        debug_assert!(len + 8 <= buf.len());
        BitReader { data: buf, pos: 0, len_bits: len.min(buf.len()) * 8 }
    }

    #[inline(always)]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Move to bit `pos` (≤ the length), e.g. to read a string-table entry again.
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.len_bits);
    }

    #[inline(always)]
    pub fn remaining_bits(&self) -> usize {
        self.len_bits - self.pos
    }

    /// The 64 bits from byte `byte` on, big-endian; bytes past the end read as zero.
    #[inline(always)]
    fn window(&self, byte: usize) -> u64 {
        match self.data.get(byte..byte + 8) {
            Some(w) => u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
            None => self.tail_window(byte),
        }
    }

    /// The window within the last 8 bytes: those 8 bytes shifted (no byte-wise copy), or a short input's bytes.
    #[inline(never)]
    fn tail_window(&self, byte: usize) -> u64 {
        let len = self.data.len();
        if len >= 8 && byte < len {
            if let Some(w) = self.data.get(len - 8..) {
                let last = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
                return last << (8 * (byte + 8 - len));
            }
        }
        let mut w = 0u64;
        for i in 0..8 {
            w = (w << 8) | u64::from(self.data.get(byte + i).copied().unwrap_or(0));
        }
        w
    }

    /// Read `n` ≤ 32 bits, most significant first. One length check covers the whole field.
    #[inline(always)]
    pub fn read_bits(&mut self, n: u8) -> Result<u32> {
        if n > 32 || (n as usize) > self.len_bits - self.pos {
            return Err(short(n, self.pos));
        }
        // A 64-bit big-endian window holds off (≤ 7) + n (≤ 32) bits; n = 0 yields 0 (shift by 63 of a
        // value whose top bit is clear).
        let window = self.window(self.pos >> 3);
        let value = ((window << (self.pos & 7)) >> 1) >> (63 - u32::from(n));
        self.pos += n as usize;
        Ok(value as u32)
    }

    /// The next `n` ≤ 56 bits without moving, or `None` if fewer remain.
    #[inline(always)]
    pub fn peek(&self, n: u8) -> Option<u64> {
        if n > 56 || (n as usize) > self.len_bits - self.pos {
            return None;
        }
        let window = self.window(self.pos >> 3);
        Some(((window << (self.pos & 7)) >> 1) >> (63 - u32::from(n)))
    }

    /// Move past `n` bits that [`BitReader::peek`] returned.
    #[inline(always)]
    pub fn skip(&mut self, n: u8) {
        self.pos = (self.pos + n as usize).min(self.len_bits);
    }

    #[inline(always)]
    pub fn read_bit(&mut self) -> Result<bool> {
        Ok(self.read_bits(1)? == 1)
    }

    #[inline]
    pub fn read_byte(&mut self) -> Result<u8> {
        if self.pos & 7 == 0 {
            if self.pos + 8 > self.len_bits {
                return Err(short(8, self.pos));
            }
            let b = *self.data.get(self.pos >> 3).ok_or_else(|| short(8, self.pos))?;
            self.pos += 8;
            return Ok(b);
        }
        Ok(self.read_bits(8)? as u8)
    }

    /// `n` octets in a row (binary values), bounds-checked first.
    pub fn read_bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        if n > self.remaining_bits() / 8 {
            return Err(Error::new(format!("{n} octets exceed the remaining input"), self.pos));
        }
        let start = self.pos >> 3;
        let shift = (self.pos & 7) as u32;
        let out = if shift == 0 {
            self.data.get(start..start + n).map(<[u8]>::to_vec)
        } else {
            // Unaligned: the n octets span n + 1 input bytes, all present (checked above).
            self.data.get(start..start + n + 1).map(|src| {
                src.windows(2).map(|w| (((u16::from(w[0]) << 8) | u16::from(w[1])) >> (8 - shift)) as u8).collect()
            })
        };
        self.pos += n * 8;
        out.ok_or_else(|| Error::new("stream ends", self.pos))
    }

    /// Up to 7 groups of an Unsigned Integer from one window (the common case): `Some(value)` and the position
    /// advanced, or `None` (near the end of the input or a longer integer) with the position unchanged.
    #[inline(always)]
    pub(crate) fn uint_fast(&mut self) -> Option<u64> {
        let mut w = self.window(self.pos >> 3) << (self.pos & 7);
        let remaining = self.len_bits - self.pos;
        let mut value = 0u64;
        let mut k = 0;
        while k < 7 {
            let b = (w >> 56) as u8;
            value |= u64::from(b & 0x7f) << (7 * k);
            if b & 0x80 == 0 {
                let used = 8 * (k + 1);
                if used > remaining {
                    return None; // the zero padding of the window: let the checked path report it
                }
                self.pos += used;
                return Some(value);
            }
            w <<= 8;
            k += 1;
        }
        None
    }

    /// EXI Unsigned Integer (§7.1.6) that must fit in `u64`.
    #[inline]
    pub fn read_uint(&mut self) -> Result<u64> {
        match self.uint_fast() {
            Some(v) => Ok(v),
            None => self.read_uint_slow(),
        }
    }

    fn read_uint_slow(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.read_byte()?;
            let group = u64::from(b & 0x7f);
            if shift >= 64 || (shift > 57 && group >> (64 - shift) != 0) {
                return Err(Error::new("unsigned integer exceeds 64 bits", start));
            }
            value |= group << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// EXI Unsigned Integer of any size: `Ok(Ok(small))` or `Ok(Err(big-endian magnitude))`.
    #[inline]
    pub fn read_big_uint(&mut self) -> Result<std::result::Result<u128, Vec<u8>>> {
        match self.uint_fast() {
            Some(v) => Ok(Ok(u128::from(v))),
            None => self.read_big_uint_slow(),
        }
    }

    fn read_big_uint_slow(&mut self) -> Result<std::result::Result<u128, Vec<u8>>> {
        let start = self.pos;
        let mut value: u128 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.read_byte()?;
            let group = u128::from(b & 0x7f);
            if shift >= 128 || (shift > 121 && group >> (128 - shift) != 0) {
                break; // too large for u128: read again, keeping every group
            }
            value |= group << shift;
            if b & 0x80 == 0 {
                return Ok(Ok(value));
            }
            shift += 7;
        }
        self.pos = start;
        let mut groups: Vec<u8> = Vec::new();
        loop {
            let b = self.read_byte()?;
            groups.push(b & 0x7f);
            if b & 0x80 == 0 {
                return Ok(Err(groups_to_be_bytes(&groups)));
            }
        }
    }
}

/// Little-endian 7-bit groups to a big-endian magnitude without leading zeros.
fn groups_to_be_bytes(groups: &[u8]) -> Vec<u8> {
    let mut le: Vec<u8> = Vec::with_capacity(groups.len());
    let mut acc: u32 = 0;
    let mut nbits = 0u32;
    for g in groups {
        acc |= u32::from(*g) << nbits;
        nbits += 7;
        while nbits >= 8 {
            le.push((acc & 0xff) as u8);
            acc >>= 8;
            nbits -= 8;
        }
    }
    if nbits > 0 {
        le.push(acc as u8);
    }
    while le.last() == Some(&0) {
        le.pop();
    }
    le.reverse();
    le
}

pub struct BitWriter {
    buf: Vec<u8>,
    /// Pending bits, right-aligned in `acc`; fewer than 32 after every call (flushed 32 at a time).
    acc: u64,
    nbits: u32,
}

impl Default for BitWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl BitWriter {
    pub fn new() -> BitWriter {
        BitWriter { buf: Vec::with_capacity(64), acc: 0, nbits: 0 }
    }

    #[inline(always)]
    pub fn position(&self) -> usize {
        self.buf.len() * 8 + self.nbits as usize
    }

    /// Write the low `n` ≤ 32 bits of `value`, most significant first.
    #[inline(always)]
    pub fn write_bits(&mut self, value: u32, n: u8) {
        let n = u32::from(n.min(32));
        // n = 0 keeps acc (a shift by 0, a masked-out value).
        let mask = (1u64 << n) - 1;
        self.acc = (self.acc << n) | (u64::from(value) & mask);
        self.nbits += n;
        if self.nbits >= 32 {
            self.nbits -= 32;
            self.buf.extend_from_slice(&((self.acc >> self.nbits) as u32).to_be_bytes());
            self.acc &= (1u64 << self.nbits) - 1;
        }
    }

    /// Move the whole pending bytes to the buffer (leaving fewer than 8 bits pending).
    #[inline]
    fn flush_bytes(&mut self) {
        while self.nbits >= 8 {
            self.nbits -= 8;
            self.buf.push((self.acc >> self.nbits) as u8);
        }
        self.acc &= (1u64 << self.nbits) - 1;
    }

    #[inline(always)]
    pub fn write_byte(&mut self, b: u8) {
        self.write_bits(u32::from(b), 8);
    }

    /// Octets in a row (binary values): a copy when aligned.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.flush_bytes();
        if self.nbits == 0 {
            self.buf.extend_from_slice(bytes);
        } else {
            self.buf.reserve(bytes.len());
            let keep = self.nbits;
            let mut acc = self.acc;
            for b in bytes {
                acc = (acc << 8) | u64::from(*b);
                self.buf.push((acc >> keep) as u8);
                acc &= (1u64 << keep) - 1;
            }
            self.acc = acc;
        }
    }

    /// An EXI Unsigned Integer (§7.1.6): up to four 7-bit groups in one write.
    #[inline]
    pub fn write_uint(&mut self, v: u128) {
        if v < 1 << 28 {
            let v = v as u32;
            let (bits, n) = if v < 1 << 7 {
                (v, 8)
            } else if v < 1 << 14 {
                (0x8000 | ((v & 0x7f) << 8) | (v >> 7), 16)
            } else if v < 1 << 21 {
                (0x80_8000 | ((v & 0x7f) << 16) | (((v >> 7) & 0x7f) << 8) | (v >> 14), 24)
            } else {
                (0x8080_8000 | ((v & 0x7f) << 24) | (((v >> 7) & 0x7f) << 16) | (((v >> 14) & 0x7f) << 8) | (v >> 21), 32)
            };
            self.write_bits(bits, n);
            return;
        }
        self.write_uint_long(v);
    }

    fn write_uint_long(&mut self, mut v: u128) {
        loop {
            let group = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.write_byte(group);
                return;
            }
            self.write_byte(group | 0x80);
        }
    }

    /// An Unsigned Integer from a big-endian magnitude.
    pub fn write_big_uint(&mut self, be: &[u8]) {
        let mut le: Vec<u8> = be.iter().rev().copied().collect();
        while le.last() == Some(&0) {
            le.pop();
        }
        if le.is_empty() {
            self.write_byte(0);
            return;
        }
        let total_bits = le.len() * 8;
        let mut groups = Vec::with_capacity(total_bits / 7 + 1);
        let mut i = 0;
        while i < total_bits {
            let mut g = 0u8;
            for k in 0..7 {
                let bit = i + k;
                if bit < total_bits && (le[bit / 8] >> (bit % 8)) & 1 == 1 {
                    g |= 1 << k;
                }
            }
            groups.push(g);
            i += 7;
        }
        while groups.len() > 1 && groups.last() == Some(&0) {
            groups.pop();
        }
        let n = groups.len();
        for (k, g) in groups.into_iter().enumerate() {
            self.write_byte(if k + 1 < n { g | 0x80 } else { g });
        }
    }

    /// The stream, zero-padded to a byte.
    pub fn finish(mut self) -> Vec<u8> {
        self.flush_bytes();
        if self.nbits > 0 {
            self.buf.push((self.acc << (8 - self.nbits)) as u8);
        }
        self.buf
    }
}

/// Subtract one from a big-endian magnitude (for negative big integers); `None` if it is zero.
pub fn big_minus_one(be: &[u8]) -> Vec<u8> {
    let mut out = be.to_vec();
    for b in out.iter_mut().rev() {
        if *b == 0 {
            *b = 0xff;
        } else {
            *b -= 1;
            break;
        }
    }
    while out.first() == Some(&0) && out.len() > 1 {
        out.remove(0);
    }
    out
}

/// Add one to a big-endian magnitude.
pub fn big_plus_one(be: &[u8]) -> Vec<u8> {
    let mut out = be.to_vec();
    for b in out.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return out;
        }
    }
    out.insert(0, 1);
    out
}

impl BigInt {
    /// The value as i128 if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.magnitude.len() > 16 {
            return None;
        }
        let mut m: u128 = 0;
        for b in &self.magnitude {
            m = (m << 8) | u128::from(*b);
        }
        if self.negative {
            if m <= (i128::MAX as u128) + 1 {
                Some((m as i128).wrapping_neg())
            } else {
                None
            }
        } else {
            i128::try_from(m).ok()
        }
    }
}
