//! `vault transit import|import-version`: bring key material into a transit key. The material
//! is wrapped on the client (AES-KWP under an ephemeral AES-256 key, itself encrypted with
//! RSA-OAEP-SHA256 to the mount's wrapping key), so it never travels in the clear.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::cli::args::{parse_data, Stdin};
use crate::cli::{Ctx, Failure, Outcome};

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn wrap(public_pem: &str, material: &[u8]) -> Result<String, Failure> {
    use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrapPadded, AES_256};
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    let fail = |what: &str| Failure::Local(format!("failed to wrap the key: {what}"));
    let der = pem_der(public_pem).ok_or_else(|| fail("the wrapping key is not PEM"))?;
    let public =
        PublicEncryptingKey::from_der(&der).map_err(|_| fail("the wrapping key is not RSA"))?;
    let oaep =
        OaepPublicEncryptingKey::new(public).map_err(|_| fail("the wrapping key is not RSA"))?;
    let mut ephemeral = [0u8; 32];
    aws_lc_rs::rand::fill(&mut ephemeral).map_err(|_| fail("no randomness"))?;
    let kek = KeyEncryptionKey::new(&AES_256, &ephemeral).map_err(|_| fail("bad ephemeral key"))?;
    let mut wrapped_key = vec![0u8; material.len() + 16];
    let wrapped_key = kek
        .wrap_with_padding(material, &mut wrapped_key)
        .map_err(|_| fail("key wrap failed"))?
        .to_vec();
    let mut wrapped_ephemeral = vec![0u8; oaep.ciphertext_size()];
    let wrapped_ephemeral = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &ephemeral,
            &mut wrapped_ephemeral,
            None,
        )
        .map_err(|_| fail("RSA-OAEP failed"))?
        .to_vec();
    let mut out = wrapped_ephemeral;
    out.extend(wrapped_key);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

async fn import(ctx: &mut Ctx, endpoint: &str) -> Outcome {
    if ctx.args().len() < 2 {
        return Err(Failure::Local(format!(
            "Not enough arguments (expected 2, got {})",
            ctx.args().len()
        )));
    }
    let path = ctx.args()[0].trim_matches('/').to_owned();
    let material = base64::engine::general_purpose::STANDARD
        .decode(ctx.args()[1].trim())
        .map_err(|_| Failure::Local("error base64 decoding source key material".into()))?;
    let mut options: Map<String, Value> = parse_data(&ctx.args()[2..], &mut Stdin::default())?;
    let Some((mount, _)) = path.split_once("/keys/") else {
        return Err(Failure::Local(format!(
            "import path must be of the form MOUNT/keys/NAME, got \"{path}\""
        )));
    };
    println!("Retrieving wrapping key.");
    let wrapping = ctx
        .client
        .get(&format!("{mount}/wrapping_key"))
        .await
        .map_err(|e| Failure::Remote(format!("failed to fetch wrapping key: {e}")))?
        .and_then(|r| {
            r.pointer("/data/public_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| Failure::Remote("failed to fetch wrapping key: no key returned".into()))?;
    println!("Wrapping source key with ephemeral key.");
    println!("Encrypting ephemeral key with wrapping key.");
    let ciphertext = wrap(&wrapping, &material)?;
    options.insert("ciphertext".into(), json!(ciphertext));
    options.insert("hash_function".into(), json!("SHA256"));
    println!("Submitting wrapped key.");
    ctx.client
        .put(&format!("{path}/{endpoint}"), &Value::Object(options))
        .await
        .map_err(|e| Failure::Remote(format!("failed to call import: {e}")))?;
    println!("Success!");
    Ok(0)
}

pub async fn import_key(ctx: &mut Ctx) -> Outcome {
    import(ctx, "import").await
}

pub async fn import_version(ctx: &mut Ctx) -> Outcome {
    import(ctx, "import_version").await
}
