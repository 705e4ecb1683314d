//! The asymmetric key types of transit (Ed25519, ECDSA on P-256/384/521, RSA 2048/3072/4096):
//! generation, public keys, signatures and RSA-OAEP, all from aws-lc-rs. Private keys are
//! kept as PKCS#8 DER inside the key policy (so inside the barrier); RSA private-key operations
//! run in AWS-LC, never in the `rsa` crate.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use tresor_sdk::{Error, Result};

use super::keys::KeyType;

/// How a signature is asked for or checked.
pub struct SignOptions {
    pub hash: String,
    pub prehashed: bool,
    /// `pss` or `pkcs1v15` (RSA).
    pub rsa_padding: String,
    /// `asn1` or `jws` (ECDSA).
    pub marshaling: String,
}

fn rejected<E>(_: E) -> Error {
    Error::internal("stored key is corrupt")
}

pub fn generate(kind: KeyType) -> Result<Vec<u8>> {
    let rng = SystemRandom::new();
    let doc = match kind {
        KeyType::Ed25519 => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(|_| Error::internal("key generation failed"))?
            .as_ref()
            .to_vec(),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
            EcdsaKeyPair::generate_pkcs8(ecdsa_alg(kind, "")?, &rng)
                .map_err(|_| Error::internal("key generation failed"))?
                .as_ref()
                .to_vec()
        }
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            let size = match kind {
                KeyType::Rsa2048 => KeySize::Rsa2048,
                KeyType::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let pair =
                RsaKeyPair::generate(size).map_err(|_| Error::internal("key generation failed"))?;
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                .map_err(|_| Error::internal("key encoding failed"))?
                .as_ref()
                .to_vec()
        }
        _ => return Err(Error::internal("not an asymmetric key type")),
    };
    Ok(doc)
}

/// The ECDSA signing algorithm for a curve and hash. AWS-LC signs each curve with the hashes it
/// pairs it with; other pairs are refused.
fn ecdsa_alg(kind: KeyType, hash: &str) -> Result<&'static signature::EcdsaSigningAlgorithm> {
    use signature::*;
    Ok(match (kind, hash) {
        (KeyType::EcdsaP256, "" | "sha2-256") => &ECDSA_P256_SHA256_ASN1_SIGNING,
        (KeyType::EcdsaP384, "" | "sha2-384") => &ECDSA_P384_SHA384_ASN1_SIGNING,
        (KeyType::EcdsaP521, "" | "sha2-512") => &ECDSA_P521_SHA512_ASN1_SIGNING,
        (KeyType::EcdsaP521, "sha2-256") => &ECDSA_P521_SHA256_ASN1_SIGNING,
        (KeyType::EcdsaP521, "sha2-384") => &ECDSA_P521_SHA384_ASN1_SIGNING,
        (KeyType::EcdsaP521, "sha2-224") => &ECDSA_P521_SHA224_ASN1_SIGNING,
        (k, h) => {
            return Err(Error::invalid(format!(
                "unsupported hash algorithm {h} for key type {}",
                k.name()
            )))
        }
    })
}

fn ecdsa_verify_alg(
    kind: KeyType,
    hash: &str,
) -> Result<&'static signature::EcdsaVerificationAlgorithm> {
    use signature::*;
    Ok(match (kind, hash) {
        (KeyType::EcdsaP256, "" | "sha2-256") => &ECDSA_P256_SHA256_ASN1,
        (KeyType::EcdsaP256, "sha2-384") => &ECDSA_P256_SHA384_ASN1,
        (KeyType::EcdsaP256, "sha2-512") => &ECDSA_P256_SHA512_ASN1,
        (KeyType::EcdsaP384, "sha2-256") => &ECDSA_P384_SHA256_ASN1,
        (KeyType::EcdsaP384, "" | "sha2-384") => &ECDSA_P384_SHA384_ASN1,
        (KeyType::EcdsaP384, "sha2-512") => &ECDSA_P384_SHA512_ASN1,
        (KeyType::EcdsaP521, "sha2-224") => &ECDSA_P521_SHA224_ASN1,
        (KeyType::EcdsaP521, "sha2-256") => &ECDSA_P521_SHA256_ASN1,
        (KeyType::EcdsaP521, "sha2-384") => &ECDSA_P521_SHA384_ASN1,
        (KeyType::EcdsaP521, "" | "sha2-512") => &ECDSA_P521_SHA512_ASN1,
        (k, h) => {
            return Err(Error::invalid(format!(
                "unsupported hash algorithm {h} for key type {}",
                k.name()
            )))
        }
    })
}

/// The hash a key signs with when none is named: what its curve pairs with.
pub fn default_hash(kind: KeyType) -> &'static str {
    match kind {
        KeyType::EcdsaP384 => "sha2-384",
        KeyType::EcdsaP521 => "sha2-512",
        _ => "sha2-256",
    }
}

fn digest_alg(hash: &str) -> Result<&'static digest::Algorithm> {
    Ok(match hash {
        "" | "sha2-256" => &digest::SHA256,
        "sha2-224" => &digest::SHA224,
        "sha2-384" => &digest::SHA384,
        "sha2-512" => &digest::SHA512,
        other => {
            return Err(Error::invalid(format!(
                "unsupported hash algorithm {other}"
            )))
        }
    })
}

/// The digest of `input`, or `input` itself when the caller hashed it already.
fn digest_of(input: &[u8], o: &SignOptions) -> Result<Digest> {
    let alg = digest_alg(&o.hash)?;
    if o.prehashed {
        Digest::import_less_safe(input, alg)
            .map_err(|_| Error::invalid("input is not a digest of the given hash algorithm"))
    } else {
        Ok(digest::digest(alg, input))
    }
}

/// The public key: X.509 SubjectPublicKeyInfo DER (raw 32 bytes for Ed25519, as Vault shows).
pub fn public_key(kind: KeyType, pkcs8: &[u8]) -> Result<Vec<u8>> {
    Ok(match kind {
        KeyType::Ed25519 => Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(rejected)?
            .public_key()
            .as_ref()
            .to_vec(),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
            let pair = EcdsaKeyPair::from_pkcs8(ecdsa_alg(kind, "")?, pkcs8).map_err(rejected)?;
            AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
                .map_err(rejected)?
                .as_ref()
                .to_vec()
        }
        _ => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
            AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
                .map_err(rejected)?
                .as_ref()
                .to_vec()
        }
    })
}

/// PEM armour for DER.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = super::keys::encode64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The RSA signing encoding and the matching verification parameters for a padding and hash.
fn rsa_algorithms(
    hash: &str,
    padding: &str,
) -> Result<(
    &'static dyn signature::RsaEncoding,
    &'static signature::RsaParameters,
)> {
    use signature::*;
    Ok(match (padding, hash) {
        ("" | "pss", "" | "sha2-256") => (&RSA_PSS_SHA256, &RSA_PSS_2048_8192_SHA256),
        ("" | "pss", "sha2-384") => (&RSA_PSS_SHA384, &RSA_PSS_2048_8192_SHA384),
        ("" | "pss", "sha2-512") => (&RSA_PSS_SHA512, &RSA_PSS_2048_8192_SHA512),
        ("pkcs1v15", "" | "sha2-256") => (&RSA_PKCS1_SHA256, &RSA_PKCS1_2048_8192_SHA256),
        ("pkcs1v15", "sha2-384") => (&RSA_PKCS1_SHA384, &RSA_PKCS1_2048_8192_SHA384),
        ("pkcs1v15", "sha2-512") => (&RSA_PKCS1_SHA512, &RSA_PKCS1_2048_8192_SHA512),
        ("pss" | "pkcs1v15" | "", h) => {
            return Err(Error::invalid(format!(
                "unsupported hash algorithm {h} for RSA signatures"
            )))
        }
        (p, _) => {
            return Err(Error::invalid(format!(
                "unsupported signature algorithm {p}"
            )))
        }
    })
}

/// ECDSA's ASN.1 signature as JWS wants it: r and s, each padded to the curve's size.
fn asn1_to_jws(kind: KeyType, der: &[u8]) -> Result<Vec<u8>> {
    let size = match kind {
        KeyType::EcdsaP256 => 32,
        KeyType::EcdsaP384 => 48,
        _ => 66,
    };
    let bad = || Error::internal("malformed ECDSA signature");
    // SEQUENCE { INTEGER r, INTEGER s }
    let mut i = 2;
    if der.get(1).is_some_and(|l| l & 0x80 != 0) {
        i += (der[1] & 0x7f) as usize;
    }
    let mut out = Vec::with_capacity(size * 2);
    for _ in 0..2 {
        if der.get(i) != Some(&0x02) {
            return Err(bad());
        }
        let len = *der.get(i + 1).ok_or_else(bad)? as usize;
        let int = der.get(i + 2..i + 2 + len).ok_or_else(bad)?;
        let int = &int[int.iter().take_while(|b| **b == 0).count()..];
        if int.len() > size {
            return Err(bad());
        }
        out.extend(std::iter::repeat_n(0, size - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    Ok(out)
}

fn jws_to_asn1(sig: &[u8]) -> Vec<u8> {
    let half = sig.len() / 2;
    let int = |b: &[u8]| {
        let b = &b[b.iter().take_while(|x| **x == 0).count()..];
        let mut v = Vec::new();
        if b.first().is_some_and(|x| x & 0x80 != 0) || b.is_empty() {
            v.push(0);
        }
        v.extend_from_slice(b);
        v
    };
    let (r, s) = (int(&sig[..half]), int(&sig[half..]));
    let mut body = vec![0x02, r.len() as u8];
    body.extend(r);
    body.extend([0x02, s.len() as u8]);
    body.extend(s);
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.extend([0x81, body.len() as u8]);
    } else {
        out.push(body.len() as u8);
    }
    out.extend(body);
    out
}

pub fn sign(kind: KeyType, pkcs8: &[u8], input: &[u8], o: &SignOptions) -> Result<Vec<u8>> {
    match kind {
        KeyType::Ed25519 => {
            if o.prehashed {
                return Err(Error::invalid(
                    "prehashed input is not supported for ed25519 keys",
                ));
            }
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
            Ok(pair.sign(input).as_ref().to_vec())
        }
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
            let pair =
                EcdsaKeyPair::from_pkcs8(ecdsa_alg(kind, &o.hash)?, pkcs8).map_err(rejected)?;
            let digest = digest_of(input, o)?;
            let sig = pair
                .sign_digest(&digest)
                .map_err(|_| Error::internal("signing failed"))?;
            match o.marshaling.as_str() {
                "" | "asn1" => Ok(sig.as_ref().to_vec()),
                "jws" => asn1_to_jws(kind, sig.as_ref()),
                other => Err(Error::invalid(format!(
                    "unsupported marshaling type {other}"
                ))),
            }
        }
        _ => {
            let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
            let (encoding, _) = rsa_algorithms(&o.hash, &o.rsa_padding)?;
            let digest = digest_of(input, o)?;
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign_digest(encoding, &digest, &mut sig)
                .map_err(|_| Error::internal("signing failed"))?;
            Ok(sig)
        }
    }
}

/// Is `sig` shaped like a signature of this key type at all? A malformed one is a 400, a
/// well-formed one that does not match is `valid: false`, as in Vault.
fn well_formed(kind: KeyType, pkcs8: &[u8], sig: &[u8], o: &SignOptions) -> Result<bool> {
    Ok(match kind {
        KeyType::Ed25519 => sig.len() == 64,
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => match o.marshaling.as_str()
        {
            "jws" => sig.len().is_multiple_of(2) && !sig.is_empty(),
            _ => asn1_to_jws(kind, sig).is_ok(),
        },
        _ => {
            sig.len()
                == RsaKeyPair::from_pkcs8(pkcs8)
                    .map_err(rejected)?
                    .public_modulus_len()
        }
    })
}

pub fn verify(
    kind: KeyType,
    pkcs8: &[u8],
    input: &[u8],
    sig: &[u8],
    o: &SignOptions,
) -> Result<bool> {
    if !well_formed(kind, pkcs8, sig, o)? {
        return Err(Error::invalid("supplied signature is invalid"));
    }
    let public = public_key(kind, pkcs8)?;
    Ok(match kind {
        KeyType::Ed25519 => signature::UnparsedPublicKey::new(&signature::ED25519, &public)
            .verify(input, sig)
            .is_ok(),
        KeyType::EcdsaP256 | KeyType::EcdsaP384 | KeyType::EcdsaP521 => {
            let asn1 = match o.marshaling.as_str() {
                "" | "asn1" => sig.to_vec(),
                "jws" => jws_to_asn1(sig),
                other => {
                    return Err(Error::invalid(format!(
                        "unsupported marshaling type {other}"
                    )))
                }
            };
            let key = signature::UnparsedPublicKey::new(ecdsa_verify_alg(kind, &o.hash)?, &public);
            if o.prehashed {
                key.verify_digest(&digest_of(input, o)?, &asn1).is_ok()
            } else {
                key.verify(input, &asn1).is_ok()
            }
        }
        _ => {
            let key = signature::UnparsedPublicKey::new(
                rsa_algorithms(&o.hash, &o.rsa_padding)?.1,
                &public,
            );
            if o.prehashed {
                key.verify_digest(&digest_of(input, o)?, sig).is_ok()
            } else {
                key.verify(input, sig).is_ok()
            }
        }
    })
}

/// RSA-OAEP (SHA-256) encryption, as Vault's RSA transit keys encrypt.
pub fn rsa_encrypt(pkcs8: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(rejected)?;
    let public: PublicEncryptingKey = private.public_key();
    let key = OaepPublicEncryptingKey::new(public).map_err(rejected)?;
    if plaintext.len() > key.max_plaintext_size(&OAEP_SHA256_MGF1SHA256) {
        return Err(Error::invalid("plaintext too long for the RSA key"));
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
        .map_err(|_| Error::internal("encryption failed"))?
        .len();
    out.truncate(len);
    Ok(out)
}

pub fn rsa_decrypt(pkcs8: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(rejected)?;
    let key = OaepPrivateDecryptingKey::new(private).map_err(rejected)?;
    let mut out = vec![0u8; key.min_output_size()];
    let len = key
        .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut out, None)
        .map_err(|_| Error::invalid("crypto/rsa: decryption error"))?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(hash: &str, padding: &str, marshaling: &str) -> SignOptions {
        SignOptions {
            hash: hash.into(),
            prehashed: false,
            rsa_padding: padding.into(),
            marshaling: marshaling.into(),
        }
    }

    #[test]
    fn every_signing_type_signs_and_verifies() {
        for kind in [
            KeyType::Ed25519,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::EcdsaP521,
            KeyType::Rsa2048,
        ] {
            let k = generate(kind).unwrap();
            let o = opts(default_hash(kind), "", "");
            let sig = sign(kind, &k, b"message", &o).unwrap();
            assert!(verify(kind, &k, b"message", &sig, &o).unwrap(), "{kind:?}");
            assert!(!verify(kind, &k, b"other", &sig, &o).unwrap(), "{kind:?}");
        }
        let k = generate(KeyType::EcdsaP256).unwrap();
        let jws = opts("sha2-256", "", "jws");
        let sig = sign(KeyType::EcdsaP256, &k, b"m", &jws).unwrap();
        assert_eq!(sig.len(), 64);
        assert!(verify(KeyType::EcdsaP256, &k, b"m", &sig, &jws).unwrap());
        let k = generate(KeyType::Rsa2048).unwrap();
        let pkcs1 = opts("sha2-512", "pkcs1v15", "");
        let sig = sign(KeyType::Rsa2048, &k, b"m", &pkcs1).unwrap();
        assert!(verify(KeyType::Rsa2048, &k, b"m", &sig, &pkcs1).unwrap());
        let ct = rsa_encrypt(&k, b"secret").unwrap();
        assert_eq!(rsa_decrypt(&k, &ct).unwrap(), b"secret");
    }
}
