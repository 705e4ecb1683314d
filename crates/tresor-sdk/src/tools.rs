//! Random bytes and hashes, as `sys/tools/*` and transit's `random` and `hash` serve them (the
//! same endpoints in two places in Vault's API; one implementation here).

use serde_json::Value;

use crate::{Error, Map, Result};

fn text(data: &Map, field: &str) -> Result<Option<String>> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(format!(
            "{field} must be a string, got {other}"
        ))),
    }
}

fn encode(format: &str, bytes: &[u8]) -> Result<String> {
    use base64::Engine;
    match format {
        "base64" => Ok(base64::engine::general_purpose::STANDARD.encode(bytes)),
        "hex" => Ok(crate::ids::hex(bytes)),
        other => Err(Error::invalid(format!(
            "unsupported encoding format {other}; must be \"hex\" or \"base64\""
        ))),
    }
}

/// `random[/:source][/:bytes][/:format]`: `url` holds the path segments after `random`.
pub fn random(url: &[&str], data: &Map) -> Result<Map> {
    let mut bytes: u64 = 32;
    let mut format = "base64".to_owned();
    for seg in url {
        match *seg {
            "platform" | "seal" | "all" | "" => {}
            "hex" | "base64" => format = (*seg).to_owned(),
            n => {
                bytes = n
                    .parse()
                    .map_err(|_| {
                        Error::invalid(format!(
                            "error parsing url-set byte count: strconv.Atoi: parsing \"{n}\": invalid syntax"
                        ))
                    })?
            }
        }
    }
    if let Some(v) = data.get("bytes").filter(|v| !v.is_null()) {
        bytes = v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| Error::invalid("bytes must be a positive integer"))?;
    }
    if let Some(source) = text(data, "source")? {
        if !matches!(source.as_str(), "platform" | "seal" | "all") {
            return Err(Error::invalid(format!(
                "unsupported entropy source {source:?}"
            )));
        }
    }
    if bytes == 0 || bytes > 128 * 1024 {
        return Err(Error::invalid(
            "the number of bytes must be between 1 and 131072",
        ));
    }
    if let Some(f) = text(data, "format")? {
        format = f;
    }
    let mut buf = vec![0u8; bytes as usize];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| Error::internal("no randomness"))?;
    let mut d = Map::new();
    d.insert("random_bytes".into(), encode(&format, &buf)?.into());
    Ok(d)
}

/// `hash[/:algorithm]`: the input is base64, the sum hex (or base64).
/// `missing_input`: the refusal of a request without input, or `None` to hash the empty input
/// (`sys/tools/hash` does; transit's `hash` says "input missing").
pub fn hash(url_algorithm: Option<&str>, data: &Map, missing_input: Option<&str>) -> Result<Map> {
    use aws_lc_rs::digest;
    use base64::Engine;
    let algorithm = text(data, "algorithm")?
        .or_else(|| url_algorithm.map(str::to_owned))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "sha2-256".into());
    let alg = match algorithm.as_str() {
        "sha2-224" => &digest::SHA224,
        "sha2-256" => &digest::SHA256,
        "sha2-384" => &digest::SHA384,
        "sha2-512" => &digest::SHA512,
        "sha2-512/256" => &digest::SHA512_256,
        "sha3-256" => &digest::SHA3_256,
        "sha3-384" => &digest::SHA3_384,
        "sha3-512" => &digest::SHA3_512,
        other => return Err(Error::invalid(format!("unsupported algorithm {other}"))),
    };
    let input = match (text(data, "input")?, missing_input) {
        (Some(i), _) => i,
        (None, Some(refusal)) => return Err(Error::invalid(refusal)),
        (None, None) => String::new(),
    };
    let input = base64::engine::general_purpose::STANDARD
        .decode(input)
        .map_err(|_| Error::invalid("unable to decode input as base64"))?;
    let sum = digest::digest(alg, &input);
    let format = text(data, "format")?.unwrap_or_else(|| "hex".into());
    let mut d = Map::new();
    d.insert("sum".into(), encode(&format, sum.as_ref())?.into());
    Ok(d)
}
