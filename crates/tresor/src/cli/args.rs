//! `key=value` arguments as Vault's CLI reads them: `key=@file` takes a file's contents,
//! `key=-` reads standard input, a lone `-` or `@file.json` merges a JSON object, and a key
//! given twice becomes a list.

use std::io::Read;

use serde_json::{Map, Value};

use super::Failure;

/// Reads all of standard input once; later uses get the same text.
#[derive(Default)]
pub struct Stdin {
    cached: Option<String>,
}

impl Stdin {
    /// Standard input that holds `text` (for tests and fuzzing).
    pub fn with_text(text: String) -> Stdin {
        Stdin { cached: Some(text) }
    }

    pub fn read(&mut self) -> Result<String, Failure> {
        if let Some(s) = &self.cached {
            return Ok(s.clone());
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::Local(format!("Failed to parse K=V data: {e}")))?;
        self.cached = Some(s.clone());
        Ok(s)
    }
}

fn read_file(path: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::Local(format!(
            "Failed to parse K=V data: error reading {path}: {e}"
        ))
    })
}

fn merge_json(out: &mut Map<String, Value>, text: &str) -> Result<(), Failure> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Failure::Local(format!("Failed to parse K=V data: {e}")))?;
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                add(out, k, v);
            }
            Ok(())
        }
        _ => Err(Failure::Local(
            "Failed to parse K=V data: input is not a JSON object".into(),
        )),
    }
}

fn add(out: &mut Map<String, Value>, key: String, value: Value) {
    match out.get_mut(&key) {
        Some(Value::Array(list)) => list.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            out.insert(key, value);
        }
    }
}

/// Parses the data arguments of `write`, `kv put` and friends into a JSON object.
pub fn parse_data(args: &[String], stdin: &mut Stdin) -> Result<Map<String, Value>, Failure> {
    let mut out = Map::new();
    for arg in args {
        if arg == "-" {
            let text = stdin.read()?;
            merge_json(&mut out, &text)?;
            continue;
        }
        if let Some(file) = arg.strip_prefix('@') {
            merge_json(&mut out, &read_file(file)?)?;
            continue;
        }
        let Some((key, value)) = arg.split_once('=') else {
            return Err(Failure::Local(format!(
                "Failed to parse K=V data: invalid key/value pair \"{arg}\": format must be key=value"
            )));
        };
        let value = if value == "-" {
            stdin.read()?
        } else if let Some(file) = value.strip_prefix('@') {
            read_file(file)?
        } else if let Some(escaped) = value.strip_prefix("\\@") {
            format!("@{escaped}")
        } else {
            value.to_owned()
        };
        add(&mut out, key.to_owned(), Value::String(value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Map<String, Value>, Failure> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_data(&args, &mut Stdin::default())
    }

    #[test]
    fn pairs_files_and_repeats() {
        let dir = std::env::temp_dir().join(format!("tresor-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("v.txt");
        std::fs::write(&f, "from-file").unwrap();
        let j = dir.join("d.json");
        std::fs::write(&j, r#"{"n": 5, "x": "y"}"#).unwrap();
        let m = parse(&[
            "a=1",
            "b=x=y",
            &format!("c=@{}", f.display()),
            "p=1",
            "p=2",
            &format!("@{}", j.display()),
            "e=\\@lit",
        ])
        .unwrap();
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "x=y");
        assert_eq!(m["c"], "from-file");
        assert_eq!(m["p"], serde_json::json!(["1", "2"]));
        assert_eq!(m["n"], 5);
        assert_eq!(m["e"], "@lit");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_pairs_are_local_errors() {
        assert!(matches!(parse(&["novalue"]), Err(Failure::Local(_))));
        assert!(matches!(
            parse(&["k=@/no/such/file"]),
            Err(Failure::Local(_))
        ));
    }
}
