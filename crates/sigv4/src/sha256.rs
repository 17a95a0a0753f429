//! SHA-256 and HMAC-SHA256 around `sha2`'s block function.
//!
//! Owning the chaining state lets a [`HmacKey`] keep HMAC's inner and outer states
//! precomputed, which saves two of the six compressions per verification, and keep
//! them zeroizable, which `hmac::Hmac` is not. Owning the buffer lets the
//! canonicalizer feed dozens of tiny pieces without per-call digest bookkeeping.

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use sha2::digest::typenum::U64;
use zeroize::Zeroize;

const BLOCK: usize = 64;
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    let block: &GenericArray<u8, U64> = block.into();
    compress256(state, std::slice::from_ref(block));
}

#[derive(Clone)]
pub(crate) struct Sha256 {
    state: [u32; 8],
    buf: [u8; BLOCK],
    filled: usize,
    blocks: u64,
}

impl Sha256 {
    pub(crate) fn new() -> Self {
        Self::resume(IV, 0)
    }

    /// Continues from a chaining state reached after `blocks` full blocks.
    fn resume(state: [u32; 8], blocks: u64) -> Self {
        Self {
            state,
            buf: [0; BLOCK],
            filled: 0,
            blocks,
        }
    }

    pub(crate) fn digest(data: &[u8]) -> [u8; 32] {
        let mut h = Self::new();
        h.update(data);
        h.finalize()
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        // Most canonicalization writes are a few bytes that fit the partial block.
        let end = self.filled + data.len();
        if end < BLOCK {
            if let Some(dst) = self.buf.get_mut(self.filled..end) {
                dst.copy_from_slice(data);
                self.filled = end;
            }
            return;
        }
        if self.filled != 0 {
            let n = (BLOCK - self.filled).min(data.len());
            if let (Some(dst), Some(src)) = (
                self.buf.get_mut(self.filled..self.filled + n),
                data.get(..n),
            ) {
                dst.copy_from_slice(src);
            }
            self.filled += n;
            data = data.get(n..).unwrap_or_default();
            if self.filled < BLOCK {
                return;
            }
            compress(&mut self.state, &self.buf);
            self.blocks += 1;
            self.filled = 0;
        }
        let (blocks, rest) = data.as_chunks::<BLOCK>();
        for block in blocks {
            compress(&mut self.state, block);
            self.blocks += 1;
        }
        if let Some(dst) = self.buf.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
            self.filled = rest.len();
        }
    }

    pub(crate) fn update_byte(&mut self, byte: u8) {
        match self.buf.get_mut(self.filled) {
            Some(slot) if self.filled + 1 < BLOCK => {
                *slot = byte;
                self.filled += 1;
            }
            _ => self.update(&[byte]),
        }
    }

    pub(crate) fn finalize(&mut self) -> [u8; 32] {
        let bits = self
            .blocks
            .wrapping_mul(BLOCK as u64)
            .wrapping_add(self.filled as u64)
            .wrapping_mul(8);
        let pad_len = if self.filled < 56 { 56 } else { 120 } - self.filled;
        let mut pad = [0u8; BLOCK];
        pad[0] = 0x80;
        self.update(pad.get(..pad_len).unwrap_or_default());
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// HMAC-SHA256 with the key already absorbed: the chaining states after the
/// `key ^ ipad` and `key ^ opad` blocks. Zeroized on drop.
#[derive(Clone)]
pub(crate) struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        // RFC 2104: keys longer than a block are hashed, shorter ones zero-padded.
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            let mut digest = Sha256::digest(key);
            block.iter_mut().zip(digest).for_each(|(b, k)| *b = k);
            digest.zeroize();
        } else {
            block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
        }
        let mut pad = block.map(|b| b ^ 0x36);
        let mut inner = IV;
        compress(&mut inner, &pad);
        pad = block.map(|b| b ^ 0x5c);
        let mut outer = IV;
        compress(&mut outer, &pad);
        pad.zeroize();
        block.zeroize();
        Self { inner, outer }
    }

    pub(crate) fn start(&self) -> Hmac {
        Hmac {
            inner: Sha256::resume(self.inner, 1),
            outer: self.outer,
        }
    }

    pub(crate) fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.start();
        mac.update(data);
        mac.finalize()
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// One HMAC computation in progress.
pub(crate) struct Hmac {
    inner: Sha256,
    outer: [u32; 8],
}

impl Hmac {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    pub(crate) fn update_byte(&mut self, byte: u8) {
        self.inner.update_byte(byte);
    }

    pub(crate) fn finalize(mut self) -> [u8; 32] {
        let inner = self.inner.finalize();
        let mut outer = Sha256::resume(self.outer, 1);
        outer.update(&inner);
        outer.finalize()
    }
}

impl Drop for Hmac {
    fn drop(&mut self) {
        self.inner.state.zeroize();
        self.inner.buf.zeroize();
        self.outer.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;
    use proptest::prelude::*;
    use sha2::Digest;

    proptest! {
        #[test]
        fn matches_sha2_for_any_split(data in prop::collection::vec(any::<u8>(), 0..300), cuts in prop::collection::vec(0usize..300, 0..6)) {
            let mut h = Sha256::new();
            let mut rest = data.as_slice();
            for cut in cuts {
                let (a, b) = rest.split_at(cut.min(rest.len()));
                h.update(a);
                rest = b;
            }
            h.update(rest);
            let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
            prop_assert_eq!(h.finalize(), expected);
        }

        #[test]
        fn matches_hmac_crate(key in prop::collection::vec(any::<u8>(), 0..150), data in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut reference = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
            reference.update(&data);
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            prop_assert_eq!(HmacKey::new(&key).mac(&data), expected);
        }
    }

    #[test]
    fn block_boundaries() {
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let data = vec![0xa5; len];
            let expected: [u8; 32] = sha2::Sha256::digest(&data).into();
            assert_eq!(Sha256::digest(&data), expected, "length {len}");
        }
    }
}
