//! The few primitives the core needs, all from aws-lc-rs.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("cipher: message authentication failed")]
    Open,
    #[error("ciphertext too short")]
    Truncated,
    #[error("random number generator failed")]
    Random,
}

pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Random)
}

/// A random (version 4) UUID, as request ids, lease ids and accessors are made.
pub use tresor_sdk::ids::uuid_v4;

pub fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(&mut k[..])?;
    Ok(k)
}

/// An AES-256-GCM key with its key schedule prepared once: the barrier seals and opens with
/// the same few keys on every request, and preparing one costs more than sealing a small entry.
pub struct AeadKey(LessSafeKey);

impl AeadKey {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        // AES-256 accepts exactly 32 bytes, which the type guarantees.
        AeadKey(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key"),
        ))
    }

    /// Encrypts with a random nonce: returns `nonce || ciphertext || tag`. The `aad` binds the
    /// ciphertext to where it is stored, so entries cannot be swapped between keys.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        self.seal_into(&mut out, aad, plaintext)?;
        Ok(out)
    }

    /// [`AeadKey::seal`], appending to `out` (which may hold a header already).
    pub fn seal_into(
        &self,
        out: &mut Vec<u8>,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(), CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut out[start..],
            )
            .map_err(|_| CryptoError::Open)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens what [`AeadKey::seal`] made.
    pub fn open(&self, aad: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if data.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Truncated);
        }
        let (nonce, body) = data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Truncated)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut buf[..])
            .map_err(|_| CryptoError::Open)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// [`AeadKey::seal`] with a key used once.
pub fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    AeadKey::new(key).seal(aad, plaintext)
}

/// [`AeadKey::open`] with a key used once.
pub fn open(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    AeadKey::new(key).open(aad, data)
}

/// HMAC-SHA256, for salted hashes of tokens.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    HmacKey::new(key).sign(msg)
}

/// An HMAC-SHA256 key prepared once, for keys used on every request (the token salt, an audit
/// device's salt): preparing the key costs as much as hashing a short message.
pub struct HmacKey(aws_lc_rs::hmac::Key);

impl HmacKey {
    pub fn new(key: &[u8]) -> Self {
        HmacKey(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key))
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 32] {
        let tag = aws_lc_rs::hmac::sign(&self.0, msg);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = random_key().unwrap();
        let ct = seal(&key, b"path", b"hello").unwrap();
        assert_eq!(&open(&key, b"path", &ct).unwrap()[..], b"hello");
        assert!(open(&key, b"other", &ct).is_err());
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open(&key, b"path", &bad).is_err());
        assert!(open(&key, b"path", &ct[..10]).is_err());
    }
}

/// A key-agreement key pair (X25519) for one exchange: the joining node of a cluster makes one,
/// so that what the leader sends it can be read by it alone.
pub struct AgreementKey(aws_lc_rs::agreement::PrivateKey);

impl AgreementKey {
    pub fn generate() -> Result<Self, CryptoError> {
        aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::X25519)
            .map(AgreementKey)
            .map_err(|_| CryptoError::Random)
    }

    pub fn public_key(&self) -> Result<Vec<u8>, CryptoError> {
        self.0
            .compute_public_key()
            .map(|k| k.as_ref().to_vec())
            .map_err(|_| CryptoError::Random)
    }

    /// The AES-256 key both sides derive from this key and the peer's public key, bound to
    /// `context` (HMAC-SHA256 of the shared secret).
    pub fn shared_key(
        &self,
        peer_public: &[u8],
        context: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(
            &aws_lc_rs::agreement::X25519,
            peer_public,
        );
        aws_lc_rs::agreement::agree(&self.0, peer, CryptoError::Open, |secret| {
            Ok(Zeroizing::new(hmac_sha256(secret, context)))
        })
    }
}

#[cfg(test)]
mod agreement_tests {
    use super::*;

    #[test]
    fn both_sides_derive_the_same_key_and_a_stranger_another() {
        let (a, b, c) = (
            AgreementKey::generate().unwrap(),
            AgreementKey::generate().unwrap(),
            AgreementKey::generate().unwrap(),
        );
        let ab = a.shared_key(&b.public_key().unwrap(), b"ctx").unwrap();
        let ba = b.shared_key(&a.public_key().unwrap(), b"ctx").unwrap();
        assert_eq!(*ab, *ba);
        let cb = c.shared_key(&b.public_key().unwrap(), b"ctx").unwrap();
        assert_ne!(*ab, *cb);
        let other_context = a.shared_key(&b.public_key().unwrap(), b"other").unwrap();
        assert_ne!(*ab, *other_context);
        assert!(a.shared_key(b"short", b"ctx").is_err());
    }
}
