//! Transit's path table, and the handlers of its key management.

use tresor_sdk::framework::{Call, Field, Kind, Path, Paths};
use tresor_sdk::{handler, Error, Map, Response, Result};

use super::asym;
use super::keys::KeyType;
use super::{policy_key, version_field, Transit};

const NAME: Field = Field::new("name", Kind::Str, "Name of the key");
const CONTEXT: Field = Field::new(
    "context",
    Kind::Str,
    "Base64 encoded context for key derivation. Required if key derivation is enabled.",
);
const NONCE: Field = Field::new(
    "nonce",
    Kind::Str,
    "Base64 encoded nonce value used during encryption. Must be provided if convergent encryption is enabled for this key and the key was generated with Vault 0.6.1.",
);
const KEY_VERSION: Field = Field::new(
    "key_version",
    Kind::Int,
    "The version of the key to use. If not set, uses the latest version. Must be greater than or equal to the key's min_encryption_version, if set.",
);
const BATCH_INPUT: Field = Field::new(
    "batch_input",
    Kind::Any,
    "Specifies a list of items to be processed in a single batch. When this parameter is set, the single-item parameters are ignored.",
);
const ASSOCIATED_DATA: Field = Field::new(
    "associated_data",
    Kind::Str,
    "Base64 encoded associated data to authenticate with the ciphertext (AEAD key types only).",
);
const PARTIAL_FAILURE: Field = Field::new(
    "partial_failure_response_code",
    Kind::Int,
    "The HTTP status of a batch in which some items failed.",
);
const INPUT: Field = Field::new("input", Kind::Str, "The base64-encoded input data");
const ALGORITHM: Field = Field::new(
    "algorithm",
    Kind::Str,
    "Deprecated: use \"hash_algorithm\" instead.",
);
const URL_ALGORITHM: Field = Field::new(
    "urlalgorithm",
    Kind::Str,
    "Hash algorithm to use (POST URL parameter)",
);
const SIGN_FIELDS: &[Field] = &[
    Field::new(
        "hash_algorithm",
        Kind::Str,
        "Hash algorithm to use (POST body parameter).",
    ),
    Field::new(
        "prehashed",
        Kind::Bool,
        "Set to 'true' when the input is already hashed.",
    ),
    Field::new(
        "signature_algorithm",
        Kind::Str,
        "The signature algorithm to use for signing (RSA keys): pss or pkcs1v15.",
    ),
    Field::new(
        "marshaling_algorithm",
        Kind::Str,
        "The way in which the signature should be marshaled: asn1 or jws.",
    ),
];
const KEY_SETTINGS: &[Field] = &[
    Field::new("exportable", Kind::Bool, "Enables keys to be exportable. This allows for all the valid keys in the key ring to be exported."),
    Field::new("allow_plaintext_backup", Kind::Bool, "Enables taking a backup of the named key in plaintext format. Once set, this cannot be disabled."),
    Field::new("auto_rotate_period", Kind::Duration, "Amount of time the key should live before being automatically rotated. A value of 0 (default) disables automatic rotation for the key."),
];
const KEY_TYPE: &[Field] = &[TYPE, DERIVED, CONVERGENT];
const TYPE: Field = Field::new("type", Kind::Str, "The type of key to create.")
    .default(tresor_sdk::framework::DefaultValue::Str("aes256-gcm96"));
const DERIVED: Field = Field::new("derived", Kind::Bool, "Enables key derivation mode. This allows for per-transaction unique keys for encryption operations.");
const CONVERGENT: Field = Field::new("convergent_encryption", Kind::Bool, "Whether to support convergent encryption. This is only supported when using a key with key derivation enabled and will require all requests to carry both a context and 96-bit (12-byte) nonce.");
#[async_trait::async_trait]
impl Paths for Transit {
    const HELP: &'static str = "The transit backend provides encryption as a service: keys are kept inside Tresor and\nnever leave it; applications send data to encrypt or decrypt.";

    /// Another node of the cluster changed a key: drop the parsed copy (all of them when any
    /// key may have changed).
    async fn invalidate(&self, key: &str) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match key.strip_prefix("policy/") {
            Some(name) => {
                cache.remove(name);
            }
            None if key.is_empty() => cache.clear(),
            None => {}
        }
    }

    fn paths() -> Vec<Path<Self>> {
        let named = |pattern| Path::new(pattern).field(NAME);
        vec![
            Path::new("keys")
                .synopsis("Managed named encryption keys")
                .list(handler!(Self::list_keys)),
            named("keys/{name}")
                .synopsis("Managed named encryption keys")
                .fields(KEY_TYPE)
                .fields(KEY_SETTINGS)
                .field(Field::new("key_size", Kind::Int, "The key size in bytes for the algorithm. Only applies to HMAC keys."))
                .read(handler!(Self::read_key))
                .update(handler!(Self::write_key))
                .delete(handler!(Self::delete_key)),
            named("keys/{name}/config")
                .synopsis("Configure a named encryption key")
                .field(Field::new("min_decryption_version", Kind::Int, "If set, the minimum version of the key allowed to be decrypted."))
                .field(Field::new("min_encryption_version", Kind::Int, "If set, the minimum version of the key allowed to be used for encryption; or for signing keys, to be used for signing. If set to zero, only the latest version of the key is allowed."))
                .field(Field::new("deletion_allowed", Kind::Bool, "Whether to allow deletion of the key"))
                .fields(KEY_SETTINGS)
                .update(handler!(Self::configure_key)),
            named("keys/{name}/rotate")
                .synopsis("Rotate named encryption key")
                .update(handler!(Self::rotate_key)),
            named("keys/{name}/trim")
                .synopsis("Trim key versions of a named key")
                .field(Field::new("min_available_version", Kind::Int, "The minimum available version for the key ring. All versions before this version will be permanently deleted."))
                .update(handler!(Self::trim_key)),
            named("keys/{name}/import")
                .synopsis("Imports an externally-generated key into a new transit key")
                .fields(&IMPORT_FIELDS)
                .fields(KEY_TYPE)
                .fields(KEY_SETTINGS)
                .field(Field::new("allow_rotation", Kind::Bool, "True if the imported key may be rotated within Vault; false otherwise."))
                .update(handler!(Self::import_key)),
            named("keys/{name}/import_version")
                .synopsis("Imports an externally-generated key into an existing imported key")
                .fields(&IMPORT_FIELDS)
                .update(handler!(Self::import_key_version)),
            named("encrypt/{name}")
                .synopsis("Encrypt a plaintext value or a batch of plaintext blocks using a named key")
                .field(Field::new("plaintext", Kind::Str, "Base64 encoded plaintext value to be encrypted"))
                .fields(&[CONTEXT, NONCE, KEY_VERSION, BATCH_INPUT, ASSOCIATED_DATA, PARTIAL_FAILURE])
                .fields(&[TYPE, CONVERGENT])
                .exists(handler!(Self::key_exists))
                .write(handler!(Self::encrypt_path)),
            named("decrypt/{name}")
                .synopsis("Decrypt a ciphertext value using a named key")
                .field(Field::new("ciphertext", Kind::Str, "The ciphertext to decrypt, provided as returned by encrypt."))
                .fields(&[CONTEXT, NONCE, BATCH_INPUT, ASSOCIATED_DATA, PARTIAL_FAILURE])
                .update(handler!(Self::decrypt_path)),
            named("rewrap/{name}")
                .synopsis("Rewrap ciphertext")
                .field(Field::new("ciphertext", Kind::Str, "Ciphertext value to rewrap"))
                .fields(&[CONTEXT, NONCE, KEY_VERSION, BATCH_INPUT])
                .update(handler!(Self::rewrap_path)),
            named("datakey/{plaintext}/{name}")
                .synopsis("Generate a data key")
                .field(Field::new("plaintext", Kind::Str, "\"plaintext\" will return the key in both plaintext and ciphertext; \"wrapped\" will return the ciphertext only."))
                .field(Field::new("bits", Kind::Int, "Number of bits for the key; currently 128, 256, and 512 bits are supported. Defaults to 256."))
                .fields(&[CONTEXT, NONCE, KEY_VERSION])
                .update(handler!(Self::datakey_path)),
            named("hmac/{name}")
                .synopsis("Generate an HMAC for input data using the named key")
                .fields(&[INPUT, KEY_VERSION, ALGORITHM, BATCH_INPUT])
                .update(handler!(Self::hmac_path)),
            named("hmac/{name}/{urlalgorithm}")
                .synopsis("Generate an HMAC for input data using the named key")
                .fields(&[INPUT, KEY_VERSION, ALGORITHM, URL_ALGORITHM, BATCH_INPUT])
                .update(handler!(Self::hmac_path)),
            named("sign/{name}")
                .synopsis("Generate a signature for input data using the named key")
                .fields(&[INPUT, CONTEXT, KEY_VERSION, ALGORITHM, BATCH_INPUT])
                .fields(SIGN_FIELDS)
                .update(handler!(Self::sign_path)),
            named("sign/{name}/{urlalgorithm}")
                .synopsis("Generate a signature for input data using the named key")
                .fields(&[INPUT, CONTEXT, KEY_VERSION, ALGORITHM, URL_ALGORITHM, BATCH_INPUT])
                .fields(SIGN_FIELDS)
                .update(handler!(Self::sign_path)),
            named("verify/{name}")
                .synopsis("Verify a signature or HMAC for input data created using the named key")
                .fields(&VERIFY_FIELDS)
                .fields(SIGN_FIELDS)
                .update(handler!(Self::verify_path)),
            named("verify/{name}/{urlalgorithm}")
                .synopsis("Verify a signature or HMAC for input data created using the named key")
                .fields(&VERIFY_FIELDS)
                .field(URL_ALGORITHM)
                .fields(SIGN_FIELDS)
                .update(handler!(Self::verify_path)),
            named("export/{type}/{name}")
                .synopsis("Export named encryption or signing key")
                .field(Field::new("type", Kind::Str, "Type of key to export (encryption-key, signing-key, hmac-key, public-key)"))
                .read(handler!(Self::export_path)),
            named("export/{type}/{name}/{version}")
                .synopsis("Export named encryption or signing key")
                .field(Field::new("type", Kind::Str, "Type of key to export (encryption-key, signing-key, hmac-key, public-key)"))
                .field(Field::new("version", Kind::Str, "Version of the key"))
                .read(handler!(Self::export_path)),
            named("backup/{name}")
                .synopsis("Backup the named key")
                .read(handler!(Self::backup_path)),
            Path::new("restore")
                .synopsis("Restore the named key")
                .fields(&RESTORE_FIELDS)
                .update(handler!(Self::restore_path)),
            named("restore/{name}")
                .synopsis("Restore the named key")
                .fields(&RESTORE_FIELDS)
                .update(handler!(Self::restore_path)),
            Path::new("wrapping_key")
                .synopsis("Returns the public key to use for wrapping imported keys")
                .read(handler!(Self::read_wrapping_key)),
            Path::new("random")
                .synopsis("Generate random bytes")
                .fields(&RANDOM_FIELDS)
                .update(handler!(Self::random)),
            Path::new("random/{urlbytes}")
                .synopsis("Generate random bytes")
                .fields(&RANDOM_FIELDS)
                .update(handler!(Self::random)),
            Path::new("random/{source}/{urlbytes}")
                .synopsis("Generate random bytes")
                .fields(&RANDOM_FIELDS)
                .update(handler!(Self::random)),
            Path::new("hash")
                .synopsis("Generate a hash sum for input data")
                .fields(&HASH_FIELDS)
                .update(handler!(Self::hash)),
            Path::new("hash/{urlalgorithm}")
                .synopsis("Generate a hash sum for input data")
                .fields(&HASH_FIELDS)
                .update(handler!(Self::hash)),
        ]
    }
}

const IMPORT_FIELDS: [Field; 4] = [
    Field::new("ciphertext", Kind::Str, "The base64-encoded ciphertext of the keys. The AES key should be encrypted using OAEP with the wrapping key and then concatenated with the import key, wrapped by the AES key."),
    Field::new("public_key", Kind::Str, "The plaintext PEM public key to be imported."),
    Field::new("hash_function", Kind::Str, "The hash function used as a random oracle in the OAEP wrapping of the user-generated, ephemeral AES key. Can be one of \"SHA1\", \"SHA224\", \"SHA256\" (default), \"SHA384\", or \"SHA512\""),
    Field::new("context", Kind::Str, "Base64 encoded context for key derivation."),
];
const VERIFY_FIELDS: [Field; 6] = [
    INPUT,
    CONTEXT,
    ALGORITHM,
    BATCH_INPUT,
    Field::new(
        "signature",
        Kind::Str,
        "The signature, including vault header/key version",
    ),
    Field::new(
        "hmac",
        Kind::Str,
        "The HMAC, including vault header/key version",
    ),
];
const RESTORE_FIELDS: [Field; 3] = [
    Field::new("backup", Kind::Str, "Backed up key data to be restored. This should be the output from the 'backup/' endpoint."),
    Field::new("name", Kind::Str, "If set, this will be the name of the restored key."),
    Field::new("force", Kind::Bool, "If set and a key by the given name exists, force the restore operation and override the key."),
];
const RANDOM_FIELDS: [Field; 5] = [
    Field::new(
        "urlbytes",
        Kind::Str,
        "The number of bytes to generate (POST URL parameter)",
    ),
    Field::new(
        "bytes",
        Kind::Int,
        "The number of bytes to generate (POST body parameter). Defaults to 32 (256 bits).",
    ),
    Field::new(
        "format",
        Kind::Str,
        "Encoding format to use. Can be \"hex\" or \"base64\". Defaults to \"base64\".",
    ),
    Field::new(
        "source",
        Kind::Str,
        "Which system to source random data from, \"platform\", \"seal\", or \"all\".",
    ),
    Field::new(
        "urlsource",
        Kind::Str,
        "Which system to source random data from (URL parameter).",
    ),
];
const HASH_FIELDS: [Field; 4] = [
    Field::new("input", Kind::Str, "The base64-encoded input data"),
    Field::new("algorithm", Kind::Str, "Algorithm to use (POST body parameter). Valid values are: sha2-224, sha2-256, sha2-384, sha2-512, sha3-224, sha3-256, sha3-384, sha3-512. Defaults to \"sha2-256\"."),
    Field::new("urlalgorithm", Kind::Str, "Algorithm to use (POST URL parameter)"),
    Field::new("format", Kind::Str, "Encoding format to use. Can be \"hex\" or \"base64\". Defaults to \"hex\"."),
];

/// The handlers: each reads its path's segments and hands over to the engine.
impl Transit {
    async fn list_keys(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let keys = c.view.list("policy/").await?;
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }

    async fn read_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = c.param("name");
        match self.load(c.view, name).await? {
            Some(_) => Ok(Some(Response::data(
                self.in_use(c.view, name).await?.to_api(),
            ))),
            None => Ok(None),
        }
    }

    async fn write_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view, name) = (c.req, c.view, c.param("name"));
        KeyType::parse(&req.str_field("type")?.unwrap_or_default())?;
        if let Some(p) = self.load(view, name).await? {
            // Vault answers a repeated create with the key as it is.
            return Ok(Some(Response::data(p.to_api())));
        }
        let p = self.create(req, view, name, false).await?;
        Ok(Some(Response::data(p.to_api())))
    }

    async fn delete_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = c.param("name");
        let _w = self.writes.lock().await;
        if let Some(p) = self.load(c.view, name).await? {
            if !p.deletion_allowed {
                return Err(Error::invalid(format!(
                    "error deleting policy {name}: deletion is not allowed for this key"
                )));
            }
            c.view.delete(&policy_key(name)).await?;
            self.cache
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
        }
        Ok(None)
    }

    async fn configure_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.change(c.view, c.param("name"), |p| Self::configure(p, c.req))
            .await
    }

    async fn rotate_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let now = self.clock.now_secs();
        self.change(c.view, c.param("name"), |p| p.rotate(now))
            .await
    }

    async fn trim_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let min = version_field(&c.req.data, "min_available_version")?
            .ok_or_else(|| Error::invalid("missing min_available_version"))?;
        self.change(c.view, c.param("name"), |p| p.trim(min)).await
    }

    async fn import_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.import(c.req, c.view, c.param("name"), false).await
    }

    async fn import_key_version(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.import(c.req, c.view, c.param("name"), true).await
    }

    /// `encrypt/:name` creates the key when it is missing, so it needs `create` then, as in
    /// Vault (`update` alone encrypts with existing keys only).
    async fn key_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(self.load(c.view, c.param("name")).await?.is_some())
    }

    async fn encrypt_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.encrypt(c.req, c.view, c.param("name")).await
    }

    async fn decrypt_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.decrypt(c.req, c.view, c.param("name")).await
    }

    async fn rewrap_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.rewrap(c.req, c.view, c.param("name")).await
    }

    async fn datakey_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.datakey(c.req, c.view, c.param("plaintext"), c.param("name"))
            .await
    }

    async fn hmac_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let alg = match c.param("urlalgorithm") {
            "" => "sha2-256",
            alg => alg,
        };
        self.hmac(c.req, c.view, c.param("name"), alg).await
    }

    async fn sign_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let alg = Some(c.param("urlalgorithm")).filter(|a| !a.is_empty());
        self.sign(c.req, c.view, c.param("name"), alg).await
    }

    async fn verify_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let alg = Some(c.param("urlalgorithm")).filter(|a| !a.is_empty());
        self.verify(c.req, c.view, c.param("name"), alg).await
    }

    async fn export_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let version = Some(c.param("version")).filter(|v| !v.is_empty());
        self.export(c.view, c.param("type"), c.param("name"), version)
            .await
    }

    async fn backup_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        self.backup(c.view, c.param("name")).await
    }

    async fn restore_path(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = Some(c.param("name")).filter(|n| !n.is_empty());
        self.restore(c.req, c.view, name).await
    }

    async fn read_wrapping_key(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let pkcs8 = self.wrapping_key(c.view).await?;
        let der = asym::public_key(KeyType::Rsa4096, &pkcs8)?;
        let mut d = Map::new();
        d.insert("public_key".into(), asym::pem("PUBLIC KEY", &der).into());
        Ok(Some(Response::data(d)))
    }

    async fn random(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let url: Vec<&str> = [c.param("source"), c.param("urlbytes")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        tresor_sdk::tools::random(&url, &c.req.data).map(|d| Some(Response::data(d)))
    }

    async fn hash(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let alg = Some(c.param("urlalgorithm")).filter(|a| !a.is_empty());
        tresor_sdk::tools::hash(alg, &c.req.data, Some("input missing"))
            .map(|d| Some(Response::data(d)))
    }
}
