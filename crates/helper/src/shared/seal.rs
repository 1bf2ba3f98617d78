//! Sealing fleet entries: AES-256-GCM under a key derived with HKDF-SHA256 from a secret
//! every host has and Redis does not (the client secret, or `shared_cache_key`), a random
//! nonce per value, and the entry's Redis key as associated data — so a Redis reader learns
//! nothing and a value copied to another key does not open.
//!
//! aws-lc-rs is the library rustls already links for TLS; nothing new is compiled.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Marks the layout `VERSION ‖ nonce ‖ ciphertext ‖ tag`; another byte is a foreign value.
const VERSION: u8 = 1;
const SALT: &[u8] = b"bsn-credential-helper fleet entry salt v1";
const INFO: &[u8] = b"bsn-credential-helper fleet entry AES-256-GCM v1";
const NAME_INFO: &[u8] = b"bsn-credential-helper fleet entry name HMAC-SHA256 v1";

pub struct Sealer {
    key: LessSafeKey,
    /// Names entries: only holders of the sealing secret can tell which entry is whose.
    namer: hmac::Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(REDACTED)")
    }
}

impl Sealer {
    /// Derives the sealing key from `secret`. None only if the crypto library refuses,
    /// which it does not for these fixed sizes.
    pub fn new(secret: &[u8]) -> Option<Sealer> {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
        let okm = prk.expand(&[INFO], &AES_256_GCM).ok()?;
        let namer = prk.expand(&[NAME_INFO], hmac::HMAC_SHA256).ok()?;
        Some(Sealer {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            namer: hmac::Key::from(namer),
        })
    }

    /// The entry's name for `identity` (the cache key): 128 bits of HMAC, in hex.
    pub fn name(&self, identity: &[u8]) -> String {
        let tag = hmac::sign(&self.namer, identity);
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Encrypts and authenticates `plain`, bound to `aad` (the Redis key).
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .ok()?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Some(out)
    }

    /// The plaintext, or None for anything not sealed by this key for this `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// A 128-bit random value in hex: lock owners.
pub fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_tamper_is_refused() {
        let s = Sealer::new(b"client secret").unwrap();
        let sealed = s.seal(b"bsn:{a}:tok", b"the token").unwrap();
        assert_eq!(s.open(b"bsn:{a}:tok", &sealed).unwrap(), b"the token");
        // Nothing of the plaintext shows.
        assert!(!sealed.windows(9).any(|w| w == b"the token"));
        // Another key (another client secret) or another Redis key: foreign.
        let other = Sealer::new(b"another secret").unwrap();
        assert!(other.open(b"bsn:{a}:tok", &sealed).is_none());
        assert!(s.open(b"bsn:{b}:tok", &sealed).is_none());
        // Flipped bits, truncation, garbage, an unknown version byte.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(s.open(b"bsn:{a}:tok", &bad).is_none(), "byte {i}");
        }
        for n in 0..sealed.len() {
            assert!(s.open(b"bsn:{a}:tok", &sealed[..n]).is_none());
        }
        // Two seals of one value differ (random nonces).
        assert_ne!(sealed, s.seal(b"bsn:{a}:tok", b"the token").unwrap());
    }

    #[test]
    fn names_depend_on_the_key_and_the_identity() {
        let s = Sealer::new(b"client secret").unwrap();
        let name = s.name(b"profile a");
        assert_eq!(name.len(), 32);
        assert_eq!(
            name,
            Sealer::new(b"client secret").unwrap().name(b"profile a")
        );
        assert_ne!(name, s.name(b"profile b"));
        assert_ne!(
            name,
            Sealer::new(b"another secret").unwrap().name(b"profile a")
        );
    }

    #[test]
    fn owners_are_random_128_bit_hex() {
        let a = random_hex().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex().unwrap());
    }
}
