//! Sealed blobs: bytes only the holder of one secp256k1 key (a node's wallet key) can open.
//!
//! ECIES on the wallet's curve: an ephemeral key pair per blob, ECDH with the reader's public key,
//! a ChaCha20-Poly1305 key derived from the shared secret and both public keys (BLAKE3 in
//! key-derivation mode). The layout is `ephemeral public key (33 bytes, compressed) ‖ ciphertext ‖
//! tag (16 bytes)`; a key is used once, so the nonce is zero.

use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, aead::Aead};
use k256::{PublicKey, SecretKey, elliptic_curve::sec1::ToEncodedPoint};

const CONTEXT: &str = "gridmint 2026-11 sealed blob v1";
const POINT: usize = 33;
/// How many bytes sealing adds: the ephemeral key and the tag.
pub const OVERHEAD: u64 = (POINT + 16) as u64;

/// Why a sealed blob did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a sealed blob is at least {min} bytes, this one {len}")]
    TooShort { len: usize, min: usize },
    #[error("the sealed blob's ephemeral key is not a point on the curve")]
    BadKey,
    #[error("the sealed blob was not sealed to this key, or was changed on the way")]
    NotForThisKey,
}

fn key(ephemeral: &[u8], reader: &PublicKey, shared: &[u8]) -> chacha20poly1305::Key {
    let mut h = blake3::Hasher::new_derive_key(CONTEXT);
    h.update(ephemeral);
    h.update(reader.to_encoded_point(true).as_bytes());
    h.update(shared);
    (*h.finalize().as_bytes()).into()
}

/// Seals `plaintext` to `reader`.
pub fn seal(reader: &PublicKey, plaintext: &[u8]) -> Vec<u8> {
    let ephemeral = k256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
    let point = ephemeral.public_key().to_encoded_point(true);
    let shared = ephemeral.diffie_hellman(reader);
    let cipher = ChaCha20Poly1305::new(&key(point.as_bytes(), reader, shared.raw_secret_bytes()));
    let sealed = cipher.encrypt(&Nonce::default(), plaintext).expect("encryption in memory cannot fail");
    let mut out = Vec::with_capacity(POINT + sealed.len());
    out.extend_from_slice(point.as_bytes());
    out.extend_from_slice(&sealed);
    out
}

/// Opens a blob sealed to `secret`'s public key.
pub fn open(secret: &SecretKey, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    let min = POINT + 16;
    if sealed.len() < min {
        return Err(SealError::TooShort { len: sealed.len(), min });
    }
    let (point, body) = sealed.split_at(POINT);
    let ephemeral = PublicKey::from_sec1_bytes(point).map_err(|_| SealError::BadKey)?;
    let shared = k256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), ephemeral.as_affine());
    let cipher = ChaCha20Poly1305::new(&key(point, &secret.public_key(), shared.raw_secret_bytes()));
    cipher.decrypt(&Nonce::default(), body).map_err(|_| SealError::NotForThisKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_reader_opens_and_any_change_is_refused() {
        let reader = SecretKey::random(&mut rand::rngs::OsRng);
        let other = SecretKey::random(&mut rand::rngs::OsRng);
        let text = b"sentences.txt and a model".repeat(100);
        let sealed = seal(&reader.public_key(), &text);
        assert!(!sealed.windows(9).any(|w| w == b"sentences"), "the plaintext does not show");
        assert_eq!(open(&reader, &sealed).expect("opens"), text);
        assert_eq!(open(&other, &sealed), Err(SealError::NotForThisKey));
        let mut changed = sealed.clone();
        changed[POINT + 5] ^= 1;
        assert_eq!(open(&reader, &changed), Err(SealError::NotForThisKey));
        assert_eq!(open(&reader, &sealed[..10]), Err(SealError::TooShort { len: 10, min: 49 }));
        let mut bad_point = sealed.clone();
        bad_point[0] = 7;
        assert_eq!(open(&reader, &bad_point), Err(SealError::BadKey));
        assert_ne!(seal(&reader.public_key(), &text), sealed, "a fresh ephemeral key each time");
        assert_eq!(open(&reader, &seal(&reader.public_key(), b"")).expect("empty"), b"");
    }
}
