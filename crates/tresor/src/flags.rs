//! Go-style command-line flags, as Vault's binary takes them: `-name=value`, `-name value`,
//! `--name=value`, `--name value`, and bare `-name` for booleans. Parsing stops at the first
//! argument that is not a flag (or after `--`); the rest are positional.

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Value,
}

#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<String, Vec<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn bool(&self, name: &str) -> bool {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .is_some_and(|v| v == "true")
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Parses `args` against `spec` (flag name → kind). An unknown flag or a missing value is an
/// error message in the words of Go's `flag` package.
pub fn parse(spec: &[(&str, Kind)], args: &[String]) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        // A lone `-` (standard input) is an argument, as in Go.
        if arg == "-" {
            out.args.extend(args[i..].iter().cloned());
            break;
        }
        if arg == "--" {
            out.args.extend(args[i + 1..].iter().cloned());
            break;
        }
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            out.args.extend(args[i..].iter().cloned());
            break;
        };
        if stripped.is_empty() || stripped.starts_with('-') || stripped.starts_with('=') {
            return Err(format!("bad flag syntax: {arg}"));
        }
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (stripped, None),
        };
        let kind = spec
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| format!("flag provided but not defined: -{name}"))?;
        let value = match (kind, inline) {
            (Kind::Bool, None) => "true".to_owned(),
            (Kind::Bool, Some(v)) => match v.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".to_owned(),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".to_owned(),
                _ => return Err(format!("invalid boolean value \"{v}\" for -{name}")),
            },
            (Kind::Value, Some(v)) => v,
            (Kind::Value, None) => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| format!("flag needs an argument: -{name}"))?
            }
        };
        out.values.entry(name.to_owned()).or_default().push(value);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[(&str, Kind)] = &[("dev", Kind::Bool), ("config", Kind::Value)];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_style_forms() {
        let p = parse(
            SPEC,
            &args(&["-dev", "-config=a.hcl", "--config", "b.hcl", "rest", "-x"]),
        )
        .unwrap();
        assert!(p.bool("dev"));
        assert_eq!(
            p.values("config"),
            &["a.hcl".to_string(), "b.hcl".to_string()]
        );
        assert_eq!(p.args, args(&["rest", "-x"]));
        let p = parse(SPEC, &args(&["--dev=false"])).unwrap();
        assert!(!p.bool("dev"));
    }

    #[test]
    fn errors_read_like_go() {
        assert_eq!(
            parse(SPEC, &args(&["-nope"])).unwrap_err(),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            parse(SPEC, &args(&["-config"])).unwrap_err(),
            "flag needs an argument: -config"
        );
        assert!(parse(SPEC, &args(&["-dev=maybe"])).is_err());
    }
}
