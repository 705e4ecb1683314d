//! A reader for HCL version 1, the dialect Vault's policies are written in.
//!
//! HCL2 parsers reject real policies (a `{` on the next line, `key = {…}` objects without commas,
//! the old `policy = "write"` form), so policies get this small reader of their own. It yields a
//! JSON value: `key "label" { … }` becomes `{"key": [{"label": {…}}]}` (repeated keys append to
//! the list), `key = value` becomes `{"key": value}`. Errors name the line.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Bool(bool),
    Eq,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Newline,
}

struct Lexer<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    line: usize,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

impl<'a> Lexer<'a> {
    fn tokens(text: &'a str) -> Result<Vec<(Tok, usize)>, ParseError> {
        let mut lx = Lexer {
            src: text.as_bytes(),
            text,
            pos: 0,
            line: 1,
        };
        let mut out = Vec::new();
        while let Some(t) = lx.next()? {
            out.push(t);
        }
        Ok(out)
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    fn next(&mut self) -> Result<Option<(Tok, usize)>, ParseError> {
        loop {
            let Some(c) = self.peek(0) else {
                return Ok(None);
            };
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return Ok(Some((Tok::Newline, self.line - 1)));
                }
                b'#' => self.skip_line(),
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => {
                    let start = self.line;
                    self.pos += 2;
                    loop {
                        match self.peek(0) {
                            None => return err(start, "unterminated comment"),
                            Some(b'*') if self.peek(1) == Some(b'/') => {
                                self.pos += 2;
                                break;
                            }
                            Some(b'\n') => {
                                self.line += 1;
                                self.pos += 1;
                            }
                            Some(_) => self.pos += 1,
                        }
                    }
                }
                _ => break,
            }
        }
        let line = self.line;
        let c = self.src[self.pos];
        let tok = match c {
            b'=' => {
                self.pos += 1;
                Tok::Eq
            }
            b'{' => {
                self.pos += 1;
                Tok::LBrace
            }
            b'}' => {
                self.pos += 1;
                Tok::RBrace
            }
            b'[' => {
                self.pos += 1;
                Tok::LBracket
            }
            b']' => {
                self.pos += 1;
                Tok::RBracket
            }
            b',' => {
                self.pos += 1;
                Tok::Comma
            }
            b'"' => Tok::Str(self.string()?),
            b'<' if self.peek(1) == Some(b'<') => Tok::Str(self.heredoc()?),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                self.pos += 1;
                while matches!(
                    self.peek(0),
                    Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'x' | b'a'..=b'f' | b'A'..=b'F')
                ) {
                    self.pos += 1;
                }
                Tok::Num(self.text[start..self.pos].to_owned())
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while matches!(self.peek(0), Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
                {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    id => Tok::Ident(id.to_owned()),
                }
            }
            _ => {
                let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                return err(line, format!("illegal char '{ch}'"));
            }
        };
        Ok(Some((tok, line)))
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let line = self.line;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return err(line, "unterminated string");
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\n' => return err(line, "newline in string"),
                b'\\' => {
                    let e = self.peek(1).ok_or(ParseError {
                        line,
                        message: "unterminated string".into(),
                    })?;
                    self.pos += 2;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        _ => return err(line, format!("unknown escape sequence \\{}", e as char)),
                    }
                }
                _ => {
                    let ch = self.text[self.pos..].chars().next().unwrap_or('?');
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    fn heredoc(&mut self) -> Result<String, ParseError> {
        let line = self.line;
        self.pos += 2;
        if self.peek(0) == Some(b'-') {
            self.pos += 1;
        }
        let start = self.pos;
        while matches!(self.peek(0), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        let marker = self.text[start..self.pos].to_owned();
        if marker.is_empty() || self.peek(0) != Some(b'\n') {
            return err(line, "invalid heredoc anchor");
        }
        self.pos += 1;
        self.line += 1;
        let mut lines = Vec::new();
        loop {
            let rest = &self.text[self.pos..];
            if rest.is_empty() {
                return err(line, format!("heredoc not terminated by {marker}"));
            }
            let end = rest.find('\n').unwrap_or(rest.len());
            let l = &rest[..end];
            self.pos += end;
            if l.trim() == marker {
                return Ok(lines.join("\n") + if lines.is_empty() { "" } else { "\n" });
            }
            lines.push(l.to_owned());
            if self.peek(0) == Some(b'\n') {
                self.pos += 1;
                self.line += 1;
            }
        }
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map(|(_, l)| *l)
            .unwrap_or(1)
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.pos += 1;
        }
    }

    /// Items until `}` (when `nested`) or the end.
    fn body(&mut self, nested: bool) -> Result<Map<String, Value>, ParseError> {
        let mut out = Map::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None if nested => return err(self.line(), "expected '}' but found end of file"),
                None => return Ok(out),
                Some(Tok::RBrace) if nested => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(Tok::Comma) => {
                    self.pos += 1;
                }
                Some(Tok::Ident(_) | Tok::Str(_)) => self.item(&mut out)?,
                Some(t) => {
                    return err(
                        self.line(),
                        format!("expected a key, found {}", describe(t)),
                    );
                }
            }
        }
    }

    fn item(&mut self, out: &mut Map<String, Value>) -> Result<(), ParseError> {
        let key = match self.toks[self.pos].0.clone() {
            Tok::Ident(s) | Tok::Str(s) => s,
            _ => unreachable!("item starts with a key"),
        };
        self.pos += 1;
        let mut labels = Vec::new();
        while let Some(Tok::Str(s) | Tok::Ident(s)) = self.peek().cloned() {
            labels.push(s);
            self.pos += 1;
        }
        self.skip_newlines();
        let mut assigned = false;
        let value = match self.peek() {
            Some(Tok::Eq) => {
                self.pos += 1;
                assigned = true;
                self.skip_newlines();
                self.value()?
            }
            Some(Tok::LBrace) => {
                self.pos += 1;
                Value::Object(self.body(true)?)
            }
            _ => {
                return err(
                    self.line(),
                    format!("key '{key}' expected start of object ('{{') or assignment ('=')"),
                )
            }
        };
        if labels.is_empty() && (assigned || !matches!(value, Value::Object(_))) {
            out.insert(key, value);
            return Ok(());
        }
        // A block: wrap the body in its labels and append it to the key's list.
        let mut inner = value;
        for label in labels.into_iter().rev() {
            let mut m = Map::new();
            m.insert(label, inner);
            inner = Value::Object(m);
        }
        match out.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(list) => list.push(inner),
            other => *other = Value::Array(vec![inner]),
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        let line = self.line();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return err(line, "expected a value but found end of file");
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok(Value::String(s)),
            Tok::Bool(b) => Ok(Value::Bool(b)),
            Tok::Num(n) => {
                if let Ok(i) = n.parse::<i64>() {
                    Ok(Value::from(i))
                } else if let Ok(f) = n.parse::<f64>() {
                    Ok(serde_json::Number::from_f64(f)
                        .map(Value::Number)
                        .unwrap_or(Value::Null))
                } else {
                    err(line, format!("invalid number {n}"))
                }
            }
            Tok::LBrace => Ok(Value::Object(self.body(true)?)),
            Tok::LBracket => {
                let mut items = Vec::new();
                loop {
                    self.skip_newlines();
                    match self.peek() {
                        Some(Tok::RBracket) => {
                            self.pos += 1;
                            return Ok(Value::Array(items));
                        }
                        None => return err(line, "unterminated list"),
                        _ => {}
                    }
                    items.push(self.value()?);
                    self.skip_newlines();
                    match self.peek() {
                        Some(Tok::Comma) => self.pos += 1,
                        Some(Tok::RBracket) => {}
                        Some(t) => {
                            return err(
                                self.line(),
                                format!("expected ',' or ']' in list, found {}", describe(t)),
                            )
                        }
                        None => return err(line, "unterminated list"),
                    }
                }
            }
            Tok::Ident(s) => err(line, format!("unknown value '{s}'; strings must be quoted")),
            t => err(line, format!("expected a value, found {}", describe(&t))),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(n) => n.clone(),
        Tok::Bool(b) => b.to_string(),
        Tok::Eq => "'='".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Comma => "','".into(),
        Tok::Newline => "newline".into(),
    }
}

/// Parses HCL1 text into a JSON object.
pub fn parse(text: &str) -> Result<Map<String, Value>, ParseError> {
    let toks = Lexer::tokens(text)?;
    let mut p = Parser { toks, pos: 0 };
    p.body(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_policies_as_vault_writes_them() {
        let text = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self"
{
    capabilities = ["read"]
}

path "secret/data/backend/*" {
  capabilities = ["create", "read", "update", "delete", "list",]
  allowed_parameters = {
    "foo" = []
    "bar" = ["a", "b*"]
  }
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 90
}

/* old style */
path "sys/*" { policy = "deny" }
"#;
        let v = parse(text).unwrap();
        assert_eq!(
            Value::Object(v),
            json!({"path": [
                {"auth/token/lookup-self": {"capabilities": ["read"]}},
                {"secret/data/backend/*": {
                    "capabilities": ["create", "read", "update", "delete", "list"],
                    "allowed_parameters": {"foo": [], "bar": ["a", "b*"]},
                    "min_wrapping_ttl": "1s",
                    "max_wrapping_ttl": 90
                }},
                {"sys/*": {"policy": "deny"}}
            ]})
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("path \"a\" {\n  capabilities = [\"read\"\n  x = 1\n}\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = parse("path \"a\" {\n capabilities = [read]\n}").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("path \"a\" {\n").unwrap_err();
        assert!(e.message.contains("'}'"), "{e}");
        assert!(parse("path \"a\" { capabilities = [\"read\"] ").is_err());
        assert!(parse("\"unterminated").is_err());
        assert!(parse("x = @").is_err());
    }

    #[test]
    fn heredocs_and_escapes() {
        let v = parse("a = <<EOT\nline1\nline2\nEOT\nb = \"q\\\"\\n\"\n").unwrap();
        assert_eq!(v["a"], "line1\nline2\n");
        assert_eq!(v["b"], "q\"\n");
    }
}
