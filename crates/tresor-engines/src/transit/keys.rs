//! A named transit key: its versions of key material, and the policy around them (which
//! versions may encrypt or decrypt, derivation, deletion). Stored as `policy/<name>` in the
//! mount's view, so the material lives only inside the barrier.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tresor_sdk::{Error, Map, Result};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "aes128-gcm96")]
    Aes128Gcm96,
    #[serde(rename = "aes256-gcm96")]
    Aes256Gcm96,
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
    #[serde(rename = "hmac")]
    Hmac,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "ecdsa-p521")]
    EcdsaP521,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    pub fn parse(s: &str) -> Result<KeyType> {
        Ok(match s {
            "" | "aes256-gcm96" => KeyType::Aes256Gcm96,
            "aes128-gcm96" => KeyType::Aes128Gcm96,
            "chacha20-poly1305" => KeyType::ChaCha20Poly1305,
            "hmac" => KeyType::Hmac,
            "ed25519" => KeyType::Ed25519,
            "ecdsa-p256" => KeyType::EcdsaP256,
            "ecdsa-p384" => KeyType::EcdsaP384,
            "ecdsa-p521" => KeyType::EcdsaP521,
            "rsa-2048" => KeyType::Rsa2048,
            "rsa-3072" => KeyType::Rsa3072,
            "rsa-4096" => KeyType::Rsa4096,
            other => return Err(Error::invalid(format!("unknown key type {other}"))),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyType::Aes128Gcm96 => "aes128-gcm96",
            KeyType::Aes256Gcm96 => "aes256-gcm96",
            KeyType::ChaCha20Poly1305 => "chacha20-poly1305",
            KeyType::Hmac => "hmac",
            KeyType::Ed25519 => "ed25519",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::EcdsaP521 => "ecdsa-p521",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    pub fn is_asymmetric(self) -> bool {
        self.signs()
    }

    pub fn signs(self) -> bool {
        matches!(
            self,
            KeyType::Ed25519
                | KeyType::EcdsaP256
                | KeyType::EcdsaP384
                | KeyType::EcdsaP521
                | KeyType::Rsa2048
                | KeyType::Rsa3072
                | KeyType::Rsa4096
        )
    }

    pub fn encrypts(self) -> bool {
        self.aead().is_some() || self.is_rsa()
    }

    fn key_len(self) -> usize {
        match self {
            KeyType::Aes128Gcm96 => 16,
            _ => 32,
        }
    }

    fn aead(self) -> Option<&'static aead::Algorithm> {
        match self {
            KeyType::Aes128Gcm96 => Some(&aead::AES_128_GCM),
            KeyType::Aes256Gcm96 => Some(&aead::AES_256_GCM),
            KeyType::ChaCha20Poly1305 => Some(&aead::CHACHA20_POLY1305),
            _ => None,
        }
    }

    /// The key's name inside a read answer's `keys` (Vault's curve and key names).
    fn display(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "P-256",
            KeyType::EcdsaP384 => "P-384",
            KeyType::EcdsaP521 => "P-521",
            other => other.name(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVersion {
    /// Base64 of the key material.
    key: Material,
    /// The HMAC key of this version, for `hmac/:name`.
    hmac_key: Material,
    pub creation_time: i64,
}

/// Key material as stored (base64): wiped when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct Material(Zeroizing<String>);

impl Material {
    fn new(text: String) -> Self {
        Material(Zeroizing::new(text))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[key material]")
    }
}

impl Serialize for Material {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Material {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Material::new)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyPolicy {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: KeyType,
    pub versions: BTreeMap<u32, KeyVersion>,
    pub latest_version: u32,
    pub min_decryption_version: u32,
    pub min_encryption_version: u32,
    pub min_available_version: u32,
    pub deletion_allowed: bool,
    pub derived: bool,
    pub convergent_encryption: bool,
    pub exportable: bool,
    pub allow_plaintext_backup: bool,
    pub auto_rotate_period: u64,
    /// Made from material brought in (`keys/:name/import`), not generated here.
    #[serde(default)]
    pub imported_key: bool,
    /// Whether an imported key may still be rotated (with generated material).
    #[serde(default)]
    pub allow_rotation: bool,
    /// The last backup of the key, and the last restore that made it (read shows both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_info: Option<Stamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_info: Option<Stamp>,
}

/// When something happened to a key, and its latest version then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stamp {
    /// Unix milliseconds.
    pub time_ms: i64,
    pub version: u32,
}

impl Stamp {
    fn shown(self) -> serde_json::Value {
        json!({
            "time": tresor_sdk::clock::rfc3339_ms(self.time_ms),
            "version": self.version,
        })
    }
}

pub fn encode64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Base64 input as Vault reads it, with Go's error text for a bad byte.
pub fn decode64(s: &str) -> Result<Vec<u8>> {
    if let Some(pos) = s
        .bytes()
        .position(|c| !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='))
    {
        return Err(Error::invalid(format!(
            "illegal base64 data at input byte {pos}"
        )));
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| Error::invalid(format!("illegal base64 data: {e}")))
}

fn random(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut b = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::internal("no randomness"))?;
    Ok(b)
}

impl KeyPolicy {
    /// A new key with one version, made at `now` (Unix seconds).
    pub fn new(name: &str, kind: KeyType, now: i64) -> Result<KeyPolicy> {
        let mut p = KeyPolicy {
            name: name.to_owned(),
            kind,
            versions: BTreeMap::new(),
            latest_version: 0,
            min_decryption_version: 1,
            min_encryption_version: 0,
            min_available_version: 0,
            deletion_allowed: false,
            derived: false,
            convergent_encryption: false,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
            imported_key: false,
            allow_rotation: true,
            backup_info: None,
            restore_info: None,
        };
        p.rotate(now)?;
        Ok(p)
    }

    /// A key made of imported material (raw bytes for symmetric and HMAC keys, PKCS#8 DER for
    /// the asymmetric ones).
    pub fn imported(
        name: &str,
        kind: KeyType,
        material: &[u8],
        allow_rotation: bool,
        now: i64,
    ) -> Result<KeyPolicy> {
        let mut p = KeyPolicy::new(name, kind, now)?;
        p.versions.clear();
        p.latest_version = 0;
        p.imported_key = true;
        p.allow_rotation = allow_rotation;
        p.add_version(material, now)?;
        Ok(p)
    }

    /// Adds imported material as the newest version, after checking it fits the key type.
    pub fn add_version(&mut self, material: &[u8], now: i64) -> Result<()> {
        if self.kind.is_asymmetric() {
            super::asym::public_key(self.kind, material).map_err(|_| {
                Error::invalid(format!(
                    "failed to parse the imported key as a {} PKCS#8 key",
                    self.kind.name()
                ))
            })?;
        } else if self.kind == KeyType::Hmac {
            if material.len() < 16 {
                return Err(Error::invalid("HMAC keys must be at least 16 bytes long"));
            }
        } else if material.len() != self.kind.key_len() {
            return Err(Error::invalid(format!(
                "the imported key must be {} bytes long for a {} key",
                self.kind.key_len(),
                self.kind.name()
            )));
        }
        self.latest_version += 1;
        self.versions.insert(
            self.latest_version,
            KeyVersion {
                key: Material::new(encode64(material)),
                hmac_key: Material::new(encode64(&random(32)?)),
                creation_time: now,
            },
        );
        Ok(())
    }

    /// Adds a new version of key material and makes it the one that encrypts.
    pub fn rotate(&mut self, now: i64) -> Result<()> {
        if self.imported_key && !self.allow_rotation {
            return Err(Error::invalid("imported keys do not allow rotation"));
        }
        let key = if self.kind.is_asymmetric() {
            Zeroizing::new(super::asym::generate(self.kind)?)
        } else {
            random(self.kind.key_len())?
        };
        let hmac_key = random(32)?;
        self.latest_version += 1;
        self.versions.insert(
            self.latest_version,
            KeyVersion {
                key: Material::new(encode64(&key)),
                hmac_key: Material::new(encode64(&hmac_key)),
                creation_time: now,
            },
        );
        Ok(())
    }

    /// Vault's read answer.
    pub fn to_api(&self) -> Map {
        // Vault shows the versions that may still decrypt.
        let keys: Map = self
            .versions
            .iter()
            .filter(|(v, _)| **v >= self.min_decryption_version)
            .map(|(v, k)| {
                let shown = if self.kind.is_asymmetric() {
                    let created =
                        tresor_sdk::clock::rfc3339_secs(k.creation_time).unwrap_or_default();
                    json!({
                        "certificate_chain": "",
                        "creation_time": created,
                        "name": self.kind.display(),
                        "public_key": self.public_key_text(*v).unwrap_or_default(),
                    })
                } else {
                    json!(k.creation_time)
                };
                (v.to_string(), shown)
            })
            .collect();
        let encrypts = self.kind.encrypts();
        let mut d = Map::new();
        d.insert(
            "allow_plaintext_backup".into(),
            self.allow_plaintext_backup.into(),
        );
        d.insert("auto_rotate_period".into(), self.auto_rotate_period.into());
        if let Some(b) = self.backup_info {
            d.insert("backup_info".into(), b.shown());
        }
        if let Some(r) = self.restore_info {
            d.insert("restore_info".into(), r.shown());
        }
        d.insert("deletion_allowed".into(), self.deletion_allowed.into());
        d.insert("derived".into(), self.derived.into());
        d.insert("exportable".into(), self.exportable.into());
        d.insert("imported_key".into(), self.imported_key.into());
        d.insert("keys".into(), keys.into());
        d.insert("latest_version".into(), self.latest_version.into());
        d.insert(
            "min_available_version".into(),
            self.min_available_version.into(),
        );
        d.insert(
            "min_decryption_version".into(),
            self.min_decryption_version.into(),
        );
        d.insert(
            "min_encryption_version".into(),
            self.min_encryption_version.into(),
        );
        d.insert("name".into(), self.name.clone().into());
        d.insert("supports_decryption".into(), encrypts.into());
        d.insert(
            "supports_derivation".into(),
            (self.kind.aead().is_some() || self.kind == KeyType::Ed25519).into(),
        );
        d.insert("supports_encryption".into(), encrypts.into());
        d.insert("supports_signing".into(), self.kind.signs().into());
        d.insert("type".into(), self.kind.name().into());
        if self.derived {
            d.insert("kdf".into(), "hkdf_sha256".into());
            d.insert(
                "convergent_encryption".into(),
                self.convergent_encryption.into(),
            );
            if self.convergent_encryption {
                d.insert("convergent_encryption_version".into(), 3.into());
            }
        }
        d
    }

    fn version(&self, v: u32) -> Result<&KeyVersion> {
        self.versions
            .get(&v)
            .ok_or_else(|| Error::invalid("invalid key version"))
    }

    /// The version that encrypts: the latest, or the one asked for if the policy allows it.
    pub fn encryption_version(&self, asked: Option<u32>) -> Result<u32> {
        let v = match asked {
            None | Some(0) => self.latest_version,
            Some(v) => v,
        };
        if v > self.latest_version {
            return Err(Error::invalid(
                "requested version for encryption is higher than the latest key version",
            ));
        }
        if self.min_encryption_version > 0 && v < self.min_encryption_version {
            return Err(Error::invalid(
                "requested version for encryption is less than the minimum encryption key version",
            ));
        }
        Ok(v)
    }

    /// The key of version `v`, derived for `context` when the key is derived.
    fn material(&self, v: u32, context: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>> {
        let raw = Zeroizing::new(
            decode64(self.version(v)?.key.expose())
                .map_err(|_| Error::internal("stored key is corrupt"))?,
        );
        if !self.derived {
            return Ok(raw);
        }
        let context = context
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::invalid("missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key"))?;
        struct Len(usize);
        impl aws_lc_rs::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let prk = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, &[]).extract(&raw);
        let info = [context];
        let okm = prk
            .expand(&info, Len(self.kind.key_len()))
            .map_err(|_| Error::internal("key derivation failed"))?;
        let mut out = Zeroizing::new(vec![0u8; self.kind.key_len()]);
        okm.fill(&mut out)
            .map_err(|_| Error::internal("key derivation failed"))?;
        Ok(out)
    }

    /// The PKCS#8 private key of version `v` of an asymmetric key.
    pub fn private_key(&self, v: u32) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(
            decode64(self.version(v)?.key.expose())
                .map_err(|_| Error::internal("stored key is corrupt"))?,
        ))
    }

    /// The public key of version `v` as Vault shows it: PEM, or base64 for Ed25519.
    pub fn public_key_text(&self, v: u32) -> Result<String> {
        let der = super::asym::public_key(self.kind, &self.private_key(v)?)?;
        Ok(if self.kind == KeyType::Ed25519 {
            encode64(&der)
        } else {
            super::asym::pem("PUBLIC KEY", &der)
        })
    }

    /// A signature of `input` by the latest (or the asked) version: `vault:vN:<base64>`.
    pub fn sign(
        &self,
        input: &[u8],
        o: &super::asym::SignOptions,
        version: Option<u32>,
    ) -> Result<(String, u32)> {
        if !self.kind.signs() {
            return Err(Error::invalid(format!(
                "key type {} does not support signing",
                self.kind.name()
            )));
        }
        let v = self.encryption_version(version)?;
        let sig = super::asym::sign(self.kind, &self.private_key(v)?, input, o)?;
        let text = if o.marshaling == "jws" {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig)
        } else {
            encode64(&sig)
        };
        Ok((format!("vault:v{v}:{text}"), v))
    }

    pub fn verify_signature(
        &self,
        input: &[u8],
        signature: &str,
        o: &super::asym::SignOptions,
    ) -> Result<bool> {
        if !self.kind.signs() {
            return Err(Error::invalid(format!(
                "key type {} does not support verification",
                self.kind.name()
            )));
        }
        let (v, body) = self.parse_versioned(signature)?;
        let sig = if o.marshaling == "jws" {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| Error::invalid("invalid signature: could not decode base64"))?
        } else {
            decode64(body)
                .map_err(|_| Error::invalid("invalid signature: could not decode base64"))?
        };
        super::asym::verify(self.kind, &self.private_key(v)?, input, &sig, o)
    }

    fn cipher(&self, v: u32, context: Option<&[u8]>) -> Result<LessSafeKey> {
        let alg = self.kind.aead().ok_or_else(|| {
            Error::invalid(format!(
                "key type {} does not support encryption",
                self.kind.name()
            ))
        })?;
        let key = self.material(v, context)?;
        let unbound =
            UnboundKey::new(alg, &key).map_err(|_| Error::internal("bad key material"))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// `vault:v<N>:` + base64(nonce || ciphertext || tag).
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        context: Option<&[u8]>,
        nonce: Option<&[u8]>,
        associated: &[u8],
        version: Option<u32>,
    ) -> Result<(String, u32)> {
        let v = self.encryption_version(version)?;
        if self.kind.is_rsa() {
            let ct = super::asym::rsa_encrypt(&self.private_key(v)?, plaintext)?;
            return Ok((format!("vault:v{v}:{}", encode64(&ct)), v));
        }
        let key = self.cipher(v, context)?;
        let nonce_bytes: [u8; 12] = match (self.convergent_encryption, nonce) {
            (true, _) => {
                // Convergent: the nonce comes from the plaintext, so the same input encrypts
                // the same way (needed for lookups by ciphertext).
                let material = self.material(v, context)?;
                let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &material);
                let tag = aws_lc_rs::hmac::sign(&k, plaintext);
                tag.as_ref()[..12].try_into().map_err(Error::internal)?
            }
            (false, Some(_)) => {
                return Err(Error::invalid("provided nonce not allowed for this key"))
            }
            (false, None) => random(12)?.as_slice().try_into().map_err(Error::internal)?,
        };
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(associated),
            &mut buf,
        )
        .map_err(|_| Error::internal("encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok((format!("vault:v{v}:{}", encode64(&out)), v))
    }

    /// The version a `vault:vN:...` string names, checked against the policy.
    pub fn parse_versioned<'a>(&self, text: &'a str) -> Result<(u32, &'a str)> {
        let rest = text
            .strip_prefix("vault:")
            .ok_or_else(|| Error::invalid("invalid ciphertext: no prefix"))?;
        let (v, body) = rest
            .split_once(':')
            .ok_or_else(|| Error::invalid("invalid ciphertext: wrong number of fields"))?;
        let v: u32 = v
            .strip_prefix('v')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Error::invalid("invalid ciphertext: version number could not be decoded")
            })?;
        if v == 0 || v > self.latest_version || !self.versions.contains_key(&v) {
            if v < self.min_decryption_version || v < self.min_available_version {
                return Err(Error::invalid(
                    "ciphertext or signature version is disallowed by policy (too old)",
                ));
            }
            return Err(Error::invalid("invalid ciphertext: version is too new"));
        }
        if v < self.min_decryption_version {
            return Err(Error::invalid(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        Ok((v, body))
    }

    pub fn decrypt(
        &self,
        ciphertext: &str,
        context: Option<&[u8]>,
        associated: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (v, body) = self.parse_versioned(ciphertext)?;
        let raw = decode64(body)
            .map_err(|_| Error::invalid("invalid ciphertext: could not decode base64"))?;
        if self.kind.is_rsa() {
            return Ok(Zeroizing::new(super::asym::rsa_decrypt(
                &self.private_key(v)?,
                &raw,
            )?));
        }
        if raw.len() < 12 + 16 {
            return Err(Error::invalid("invalid ciphertext length"));
        }
        let key = self.cipher(v, context)?;
        let nonce: [u8; 12] = raw[..12].try_into().map_err(Error::internal)?;
        let mut buf = Zeroizing::new(raw[12..].to_vec());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated),
                &mut buf,
            )
            .map_err(|_| Error::invalid("cipher: message authentication failed"))?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// `vault:v<N>:` + base64(HMAC(version's HMAC key, input)).
    pub fn hmac(
        &self,
        input: &[u8],
        alg: aws_lc_rs::hmac::Algorithm,
        version: Option<u32>,
    ) -> Result<String> {
        let v = match version {
            None | Some(0) => self.latest_version,
            Some(v) => v,
        };
        if v < self.min_encryption_version.max(1) || !self.versions.contains_key(&v) {
            return Err(Error::invalid("invalid key version"));
        }
        let mac = aws_lc_rs::hmac::sign(&self.hmac_key(v, alg)?, input);
        Ok(format!("vault:v{v}:{}", encode64(mac.as_ref())))
    }

    /// The HMAC key of version `v`: an `hmac` key's material, or the HMAC key every other
    /// version carries beside its encryption key.
    fn hmac_key(&self, v: u32, alg: aws_lc_rs::hmac::Algorithm) -> Result<aws_lc_rs::hmac::Key> {
        let kv = self.version(v)?;
        let source = if self.kind == KeyType::Hmac {
            &kv.key
        } else {
            &kv.hmac_key
        };
        let source = source.expose();
        let key =
            Zeroizing::new(decode64(source).map_err(|_| Error::internal("stored key is corrupt"))?);
        Ok(aws_lc_rs::hmac::Key::new(alg, &key))
    }

    /// Checks an HMAC made by `hmac`, in constant time.
    pub fn verify_hmac(
        &self,
        input: &[u8],
        mac: &str,
        alg: aws_lc_rs::hmac::Algorithm,
    ) -> Result<bool> {
        let (v, body) = self.parse_versioned(mac)?;
        let given =
            decode64(body).map_err(|_| Error::invalid("invalid HMAC: could not decode base64"))?;
        Ok(aws_lc_rs::hmac::verify(&self.hmac_key(v, alg)?, input, &given).is_ok())
    }

    /// Whether `auto_rotate_period` has passed at `now` since the latest version was made.
    pub fn rotation_due(&self, now: i64) -> bool {
        self.auto_rotate_period > 0
            && self.versions.get(&self.latest_version).is_some_and(|k| {
                now.saturating_sub(k.creation_time) >= self.auto_rotate_period as i64
            })
    }

    /// Version `v` as `export/:kind` shows it.
    pub fn export(&self, kind: &str, v: u32) -> Result<String> {
        let kv = self.version(v)?;
        match kind {
            "encryption-key" if self.kind.encrypts() => Ok(if self.kind.is_rsa() {
                super::asym::pem("PRIVATE KEY", &self.private_key(v)?)
            } else {
                kv.key.expose().to_owned()
            }),
            "signing-key" if self.kind.signs() => {
                Ok(super::asym::pem("PRIVATE KEY", &self.private_key(v)?))
            }
            "hmac-key" => Ok(if self.kind == KeyType::Hmac {
                kv.key.expose().to_owned()
            } else {
                kv.hmac_key.expose().to_owned()
            }),
            "public-key" if self.kind.is_asymmetric() => self.public_key_text(v),
            "encryption-key" | "signing-key" | "public-key" => Err(Error::invalid(format!(
                "{kind} cannot be exported from a key of type {}",
                self.kind.name()
            ))),
            _ => Err(Error::invalid(format!("invalid export type: {kind}"))),
        }
    }

    /// Drops versions below `min_available_version` for good.
    pub fn trim(&mut self, min_available: u32) -> Result<()> {
        if min_available == 0 {
            return Err(Error::invalid("'min_available_version' cannot be 0"));
        }
        if self.min_encryption_version == 0 {
            return Err(Error::invalid("minimum available version cannot be set when minimum encryption version is not set"));
        }
        if min_available > self.min_encryption_version {
            return Err(Error::invalid(
                "minimum available version cannot be greater than minmimum encryption version",
            ));
        }
        if min_available > self.min_decryption_version {
            return Err(Error::invalid(
                "cannot set min_available_version greater than min_decryption_version",
            ));
        }
        if min_available < self.min_available_version {
            return Err(Error::invalid(
                "minimum available version cannot be decremented",
            ));
        }
        self.versions.retain(|v, _| *v >= min_available);
        self.min_available_version = min_available;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    const NOW: i64 = 1_700_000_000;

    use super::*;

    #[test]
    fn key_material_is_not_shown_by_debug() {
        let p = KeyPolicy::new("k", KeyType::parse("aes256-gcm96").unwrap(), NOW).unwrap();
        let shown = format!("{p:?}");
        let material = p.versions[&1].key.expose().to_owned();
        assert!(!shown.contains(&material), "{shown}");
        assert!(shown.contains("[key material]"));
        // Storage still gets the material itself.
        let stored = serde_json::to_string(&p).unwrap();
        assert!(stored.contains(&material));
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        for data in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"hello world!",
            &[0xff, 0xfe, 0x00],
        ] {
            let e = encode64(data);
            assert_eq!(decode64(&e).unwrap(), data);
        }
        assert_eq!(encode64(b"hello"), "aGVsbG8=");
        assert_eq!(
            decode64("!!!").unwrap_err().to_string(),
            "illegal base64 data at input byte 0"
        );
    }

    #[test]
    fn every_cipher_round_trips_and_refuses_tampering() {
        for kind in [
            KeyType::Aes128Gcm96,
            KeyType::Aes256Gcm96,
            KeyType::ChaCha20Poly1305,
        ] {
            let p = KeyPolicy::new("k", kind, NOW).unwrap();
            let (ct, v) = p.encrypt(b"secret", None, None, b"", None).unwrap();
            assert_eq!(v, 1);
            assert!(ct.starts_with("vault:v1:"));
            assert_eq!(&p.decrypt(&ct, None, b"").unwrap()[..], b"secret");
            let mut bytes = decode64(&ct[9..]).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let tampered = format!("vault:v1:{}", encode64(&bytes));
            assert_eq!(
                p.decrypt(&tampered, None, b"").unwrap_err().to_string(),
                "cipher: message authentication failed"
            );
        }
    }

    #[test]
    fn keys_rotate_themselves_once_their_period_has_passed() {
        let mut p = KeyPolicy::new("r", KeyType::Aes256Gcm96, NOW).unwrap();
        assert!(!p.rotation_due(NOW));
        p.auto_rotate_period = 3600;
        assert!(!p.rotation_due(NOW));
        if let Some(k) = p.versions.get_mut(&1) {
            k.creation_time -= 3601;
        }
        assert!(p.rotation_due(NOW));
        p.rotate(NOW).unwrap();
        assert!(!p.rotation_due(NOW));
    }

    #[test]
    fn derived_and_convergent_keys() {
        let mut p = KeyPolicy::new("d", KeyType::Aes256Gcm96, NOW).unwrap();
        p.derived = true;
        assert!(
            p.encrypt(b"x", None, None, b"", None).is_err(),
            "context required"
        );
        let (ct, _) = p.encrypt(b"x", Some(b"ctx-1"), None, b"", None).unwrap();
        assert!(
            p.decrypt(&ct, Some(b"ctx-2"), b"").is_err(),
            "wrong context"
        );
        assert_eq!(&p.decrypt(&ct, Some(b"ctx-1"), b"").unwrap()[..], b"x");
        p.convergent_encryption = true;
        let a = p.encrypt(b"same", Some(b"c"), None, b"", None).unwrap().0;
        let b = p.encrypt(b"same", Some(b"c"), None, b"", None).unwrap().0;
        assert_eq!(a, b, "convergent");
    }
}
