//! JSON values written as YAML the way Vault's CLI writes them (go-yaml v2 behind ghodss/yaml):
//! map keys sorted, list items at their key's indentation, and strings quoted only where YAML
//! 1.1 would read them as something else (`"n"`, `""`, `"2026-01-01T00:00:00Z"`, `"5"`).

use serde_json::Value;

pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_list(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        let v = &m[k];
        out.push_str(&" ".repeat(indent));
        out.push_str(&string(k));
        out.push(':');
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + 2);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_list(out, items, indent);
            }
            Value::String(text) if is_block(text) => {
                out.push(' ');
                block(out, text, indent + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

/// Multi-line strings are written as literal blocks, as go-yaml does.
fn is_block(s: &str) -> bool {
    s.contains('\n')
        && !s
            .chars()
            .any(|c| c == '\t' || (c.is_control() && c != '\n'))
}

/// `|` keeps one final newline, `|-` none, `|+` more than one.
fn block(out: &mut String, s: &str, indent: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                // The first key sits on the dash's line, the rest line up under it.
                let mut nested = String::new();
                write_map(&mut nested, inner, indent + 2);
                out.push_str(nested.trim_start());
            }
            Value::Array(inner) if !inner.is_empty() => {
                let mut nested = String::new();
                write_list(&mut nested, inner, indent + 2);
                out.push_str(nested.trim_start());
            }
            Value::String(text) if is_block(text) => block(out, text, indent + 2),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

const SPECIAL_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~", ".inf",
    ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN",
];

/// Would YAML 1.1 read this plain scalar as a number (integer, float, or base 60)?
fn looks_numeric(s: &str) -> bool {
    let t = s.replace('_', "");
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if unsigned.is_empty() {
        return false;
    }
    let int = unsigned.chars().all(|c| c.is_ascii_digit())
        || [("0x", 16), ("0o", 8), ("0b", 2)].iter().any(|(p, radix)| {
            unsigned
                .strip_prefix(p)
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(*radix)))
        });
    let float = {
        let (mantissa, exp) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
            None => (unsigned, None),
        };
        let m_ok = match mantissa.split_once('.') {
            Some((a, b)) => {
                a.chars().all(|c| c.is_ascii_digit())
                    && b.chars().all(|c| c.is_ascii_digit())
                    && (!a.is_empty() || !b.is_empty())
            }
            None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
        };
        let e_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        m_ok && e_ok
    };
    let base60 = unsigned.contains(':')
        && unsigned
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    int || float || base60
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

/// Strings YAML would read as something else: written double-quoted.
fn resolves_to_non_string(s: &str) -> bool {
    s.is_empty()
        || SPECIAL_WORDS.contains(&s)
        || looks_numeric(s)
        || looks_like_timestamp(s)
        || s.chars()
            .any(|c| c == '\t' || (c.is_control() && c != '\n'))
}

/// Strings the emitter may not write plain: written single-quoted.
fn plain_forbidden(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    s == "-"
        || s.starts_with("- ")
        || "#,[]{}&*!|>'\"%@`".contains(first)
        || s.starts_with(' ')
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
}

fn string(s: &str) -> String {
    if resolves_to_non_string(s) {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() => out.push_str(&format!("\\x{:02X}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    if plain_forbidden(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_vaults_layout() {
        let v = json!({
            "request_id": "fd19-77",
            "data": {"data": {"user": "app", "n": "5", "password": "p2"},
                     "metadata": {"created_time": "2026-11-26T04:58:50.59Z", "custom_metadata": null,
                                  "deletion_time": "", "destroyed": false, "version": 2}},
            "auth": {"policies": ["default"], "metadata": {}},
        });
        assert_eq!(
            to_yaml(&v),
            "auth:\n  metadata: {}\n  policies:\n  - default\ndata:\n  data:\n    \"n\": \"5\"\n    password: p2\n    user: app\n  metadata:\n    created_time: \"2026-11-26T04:58:50.59Z\"\n    custom_metadata: null\n    deletion_time: \"\"\n    destroyed: false\n    version: 2\nrequest_id: fd19-77\n"
        );
        assert_eq!(to_yaml(&json!(["a/", "b"])), "- a/\n- b\n");
        assert_eq!(
            to_yaml(&json!([{"a": 1, "b": "x: y"}])),
            "- a: 1\n  b: 'x: y'\n"
        );
    }

    #[test]
    fn quoting_follows_go_yaml() {
        for (plain, shown) in [
            ("-x", "-x"),
            ("- x", "'- x'"),
            ("#x", "'#x'"),
            ("x#y", "x#y"),
            ("'x", "'''x'"),
            ("1e3", "\"1e3\""),
            ("0x1F", "\"0x1F\""),
            ("12:30", "\"12:30\""),
            ("yes", "\"yes\""),
            ("x,y", "x,y"),
            ("trail ", "'trail '"),
        ] {
            assert_eq!(string(plain), shown, "{plain}");
        }
    }
}
