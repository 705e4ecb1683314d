//! Username templates: the subset of Go's text/template and Vault's template functions that
//! `username_template` is written in, e.g.
//! `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}`.
//!
//! Supported: text and `{{ }}` actions (with `{{-`/`-}}` trimming), pipelines with `|`,
//! parenthesised pipelines, string (`"…"`, `` `…` ``) and integer literals, the fields
//! `.DisplayName` and `.RoleName`, and the functions `printf`, `print`, `random`, `truncate`,
//! `truncate_sha256`, `uppercase`, `lowercase`, `replace`, `sha256`, `base64`, `unix_time`,
//! `unix_time_millis`, `timestamp`, `uuid`. Anything else is refused when the template is
//! parsed, so a bad template fails when it is written, not when credentials are asked for.

use tresor_sdk::{Error, Result};

/// What a username template can refer to.
pub struct Fields<'a> {
    pub display_name: &'a str,
    pub role_name: &'a str,
    /// The time `unix_time` and `timestamp` show.
    pub now: time::OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
}

#[derive(Debug, Clone)]
struct Pipeline(Vec<Command>);

#[derive(Debug, Clone)]
enum Command {
    Value(Arg),
    Call(Func, Vec<Arg>),
}

#[derive(Debug, Clone)]
enum Arg {
    Field(FieldName),
    Str(String),
    Int(i64),
    Pipe(Pipeline),
}

#[derive(Debug, Clone, Copy)]
enum FieldName {
    DisplayName,
    RoleName,
}

#[derive(Debug, Clone, Copy)]
enum Func {
    Printf,
    Print,
    Random,
    Truncate,
    TruncateSha256,
    Uppercase,
    Lowercase,
    Replace,
    Sha256,
    Base64,
    UnixTime,
    UnixTimeMillis,
    Timestamp,
    Uuid,
}

impl Func {
    fn named(name: &str) -> Option<Func> {
        Some(match name {
            "printf" => Func::Printf,
            "print" => Func::Print,
            "random" => Func::Random,
            "truncate" => Func::Truncate,
            "truncate_sha256" => Func::TruncateSha256,
            "uppercase" => Func::Uppercase,
            "lowercase" => Func::Lowercase,
            "replace" => Func::Replace,
            "sha256" => Func::Sha256,
            "base64" => Func::Base64,
            "unix_time" => Func::UnixTime,
            "unix_time_millis" => Func::UnixTimeMillis,
            "timestamp" => Func::Timestamp,
            "uuid" => Func::Uuid,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Int(i64),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(n) => n.to_string(),
        }
    }
    fn int(&self, func: &str) -> Result<i64> {
        match self {
            Val::Int(n) => Ok(*n),
            Val::Str(s) => s
                .parse()
                .map_err(|_| bad(format!("{func}: expected an integer, got {s:?}"))),
        }
    }
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("unable to initialize username template: {msg}"))
}

/// Limits that keep a hostile template from exhausting the stack or memory.
const MAX_TEMPLATE_LEN: usize = 4096;
const MAX_DEPTH: usize = 32;
const MAX_VALUE_LEN: usize = 4096;

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        if src.len() > MAX_TEMPLATE_LEN {
            return Err(bad(format!("longer than {MAX_TEMPLATE_LEN} bytes")));
        }
        if src.matches('(').count() > MAX_DEPTH {
            return Err(bad(format!(
                "more than {MAX_DEPTH} parenthesised pipelines"
            )));
        }
        let mut nodes = Vec::new();
        let mut rest = src;
        let mut trim_next = false;
        while !rest.is_empty() {
            let (text, after) = match rest.find("{{") {
                Some(i) => (&rest[..i], Some(&rest[i + 2..])),
                None => (rest, None),
            };
            let mut text = if trim_next { text.trim_start() } else { text };
            let Some(after) = after else {
                if !text.is_empty() {
                    nodes.push(Node::Text(text.to_owned()));
                }
                break;
            };
            let (body, trim_left) = match after.strip_prefix("- ") {
                Some(b) => (b, true),
                None => (after, false),
            };
            if trim_left {
                text = text.trim_end();
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_owned()));
            }
            let end = find_action_end(body).ok_or_else(|| bad("unclosed action"))?;
            let (inner, trim_right) = match body[..end].strip_suffix(" -") {
                Some(i) => (i, true),
                None => (&body[..end], false),
            };
            let mut tokens = tokenize(inner)?;
            tokens.reverse();
            let pipe = parse_pipeline(&mut tokens)?;
            if let Some(t) = tokens.pop() {
                return Err(bad(format!("unexpected {t:?} in action")));
            }
            nodes.push(Node::Action(pipe));
            rest = &body[end + 2..];
            trim_next = trim_right;
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, fields: &Fields) -> Result<String> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => out.push_str(&eval_pipeline(p, fields)?.text()),
            }
            if out.len() > MAX_VALUE_LEN {
                return Err(bad(format!("renders to more than {MAX_VALUE_LEN} bytes")));
            }
        }
        Ok(out)
    }
}

/// The index of the `}}` that closes an action, skipping over quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Open,
    Close,
    Str(String),
    Int(i64),
    Field(String),
    Ident(String),
}

fn tokenize(s: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("unterminated quoted string")),
                        Some('"') => break,
                        Some('\\') => {
                            v.push(match chars.get(i + 1) {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some(&e @ ('"' | '\\')) => e,
                                other => return Err(bad(format!("unknown escape {other:?}"))),
                            });
                            i += 2;
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Str(v));
            }
            '`' => {
                let start = i + 1;
                let len = chars[start..]
                    .iter()
                    .position(|&ch| ch == '`')
                    .ok_or_else(|| bad("unterminated raw string"))?;
                out.push(Token::Str(chars[start..start + len].iter().collect()));
                i = start + len + 1;
            }
            '.' | '-' | '0'..='9' | 'a'..='z' | 'A'..='Z' | '_' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(if let Some(f) = word.strip_prefix('.') {
                    Token::Field(f.to_owned())
                } else if c == '-' || c.is_ascii_digit() {
                    Token::Int(
                        word.parse()
                            .map_err(|_| bad(format!("bad number {word:?}")))?,
                    )
                } else {
                    Token::Ident(word)
                });
            }
            other => return Err(bad(format!("unexpected {other:?} in action"))),
        }
    }
    Ok(out)
}

/// `tokens` is reversed: the next token is the last.
fn parse_pipeline(tokens: &mut Vec<Token>) -> Result<Pipeline> {
    let mut cmds = vec![parse_command(tokens)?];
    while tokens.last() == Some(&Token::Pipe) {
        tokens.pop();
        cmds.push(parse_command(tokens)?);
    }
    Ok(Pipeline(cmds))
}

fn parse_command(tokens: &mut Vec<Token>) -> Result<Command> {
    match tokens.last() {
        Some(Token::Ident(name)) => {
            let func =
                Func::named(name).ok_or_else(|| bad(format!("function {name:?} not defined")))?;
            tokens.pop();
            let mut args = Vec::new();
            while let Some(t) = tokens.last() {
                if matches!(t, Token::Pipe | Token::Close) {
                    break;
                }
                args.push(parse_arg(tokens)?);
            }
            Ok(Command::Call(func, args))
        }
        Some(_) => {
            let arg = parse_arg(tokens)?;
            match tokens.last() {
                None | Some(Token::Pipe | Token::Close) => Ok(Command::Value(arg)),
                Some(t) => Err(bad(format!("unexpected {t:?} after a value"))),
            }
        }
        None => Err(bad("missing value for command")),
    }
}

fn parse_arg(tokens: &mut Vec<Token>) -> Result<Arg> {
    match tokens.pop() {
        Some(Token::Str(s)) => Ok(Arg::Str(s)),
        Some(Token::Int(n)) => Ok(Arg::Int(n)),
        Some(Token::Field(f)) => Ok(Arg::Field(match f.as_str() {
            "DisplayName" => FieldName::DisplayName,
            "RoleName" => FieldName::RoleName,
            other => return Err(bad(format!("can't evaluate field {other}"))),
        })),
        Some(Token::Open) => {
            let p = parse_pipeline(tokens)?;
            match tokens.pop() {
                Some(Token::Close) => Ok(Arg::Pipe(p)),
                _ => Err(bad("unclosed left paren")),
            }
        }
        Some(Token::Ident(name)) => {
            // A function without arguments used as an argument, as in `printf "%s" uuid`.
            let func =
                Func::named(&name).ok_or_else(|| bad(format!("function {name:?} not defined")))?;
            Ok(Arg::Pipe(Pipeline(vec![Command::Call(func, Vec::new())])))
        }
        other => Err(bad(format!("unexpected {other:?}"))),
    }
}

fn eval_pipeline(p: &Pipeline, f: &Fields) -> Result<Val> {
    let mut piped: Option<Val> = None;
    for cmd in &p.0 {
        piped = Some(match cmd {
            Command::Value(a) => {
                if piped.is_some() {
                    return Err(bad("can't give argument to non-function"));
                }
                eval_arg(a, f)?
            }
            Command::Call(func, args) => {
                let mut vals = args
                    .iter()
                    .map(|a| eval_arg(a, f))
                    .collect::<Result<Vec<_>>>()?;
                vals.extend(piped.take());
                let out = call(*func, vals, f.now)?;
                if matches!(&out, Val::Str(s) if s.len() > MAX_VALUE_LEN) {
                    return Err(bad(format!("a value longer than {MAX_VALUE_LEN} bytes")));
                }
                out
            }
        });
    }
    piped.ok_or_else(|| bad("empty pipeline"))
}

fn eval_arg(a: &Arg, f: &Fields) -> Result<Val> {
    Ok(match a {
        Arg::Field(FieldName::DisplayName) => Val::Str(f.display_name.to_owned()),
        Arg::Field(FieldName::RoleName) => Val::Str(f.role_name.to_owned()),
        Arg::Str(s) => Val::Str(s.clone()),
        Arg::Int(n) => Val::Int(*n),
        Arg::Pipe(p) => eval_pipeline(p, f)?,
    })
}

fn arity(name: &str, args: &[Val], n: usize) -> Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(bad(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

fn call(func: Func, args: Vec<Val>, now: time::OffsetDateTime) -> Result<Val> {
    use base64::Engine;
    Ok(Val::Str(match func {
        Func::Printf => {
            let (fmt, rest) = args
                .split_first()
                .ok_or_else(|| bad("printf needs a format"))?;
            printf(&fmt.text(), rest)
        }
        Func::Print => args.iter().map(Val::text).collect(),
        Func::Random => {
            arity("random", &args, 1)?;
            let n = args[0].int("random")?;
            if !(1..=1024).contains(&n) {
                return Err(bad("random: length must be between 1 and 1024"));
            }
            super::password::random_alphanumeric(n as usize)?
        }
        Func::Truncate => {
            arity("truncate", &args, 2)?;
            let n = args[0].int("truncate")?;
            if n < 0 {
                return Err(bad("truncate: length must not be negative"));
            }
            // Bytes, as Vault counts (database name limits are in bytes), backing up to a
            // character boundary.
            if n == 0 {
                return Err(bad("truncate: max length must be > 0 but was 0"));
            }
            let s = args[1].text();
            let mut end = (n as usize).min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_owned()
        }
        Func::TruncateSha256 => {
            // Vault keeps the first n-8 characters and appends 8 hex digits of the hash of
            // the rest, so that long distinct names stay distinct.
            arity("truncate_sha256", &args, 2)?;
            let n = args[0].int("truncate_sha256")?;
            if n < 8 {
                return Err(bad("truncate_sha256: length must be at least 8"));
            }
            let s = args[1].text();
            if s.chars().count() as i64 <= n {
                s
            } else {
                let keep: String = s.chars().take(n as usize - 8).collect();
                let rest: String = s.chars().skip(n as usize - 8).collect();
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, rest.as_bytes());
                format!("{keep}{}", &tresor_sdk::ids::hex(digest.as_ref())[..8])
            }
        }
        Func::Uppercase => {
            arity("uppercase", &args, 1)?;
            args[0].text().to_uppercase()
        }
        Func::Lowercase => {
            arity("lowercase", &args, 1)?;
            args[0].text().to_lowercase()
        }
        Func::Replace => {
            arity("replace", &args, 3)?;
            args[2].text().replace(&args[0].text(), &args[1].text())
        }
        Func::Sha256 => {
            arity("sha256", &args, 1)?;
            let digest =
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, args[0].text().as_bytes());
            tresor_sdk::ids::hex(digest.as_ref())
        }
        Func::Base64 => {
            arity("base64", &args, 1)?;
            base64::engine::general_purpose::STANDARD.encode(args[0].text())
        }
        Func::UnixTime => {
            arity("unix_time", &args, 0)?;
            return Ok(Val::Int(now.unix_timestamp()));
        }
        Func::UnixTimeMillis => {
            arity("unix_time_millis", &args, 0)?;
            let ms = now.unix_timestamp_nanos() / 1_000_000;
            return Ok(Val::Int(ms as i64));
        }
        Func::Timestamp => {
            arity("timestamp", &args, 1)?;
            go_time_format(&args[0].text(), now)?
        }
        Func::Uuid => {
            arity("uuid", &args, 0)?;
            tresor_sdk::ids::uuid_v4()
        }
    }))
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%d`, `%v`, `%q` and `%%`.
fn printf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'd' | 'v' | 'q')) => match args.next() {
                Some(a) if verb == 'q' => out.push_str(&format!("{:?}", a.text())),
                Some(a) => out.push_str(&a.text()),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            Some(other) => out.push_str(&format!("%!{other}(BADVERB)")),
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

/// Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`) for the current UTC time.
fn go_time_format(layout: &str, now: time::OffsetDateTime) -> Result<String> {
    let mut out = String::new();
    let mut rest = layout;
    const PARTS: &[&str] = &[
        "2006", "01", "02", "15", "04", "05", "Z07:00", "Z0700", "MST", "Jan", "Mon",
    ];
    'outer: while !rest.is_empty() {
        for p in PARTS {
            if let Some(r) = rest.strip_prefix(p) {
                out.push_str(&match *p {
                    "2006" => format!("{:04}", now.year()),
                    "01" => format!("{:02}", u8::from(now.month())),
                    "02" => format!("{:02}", now.day()),
                    "15" => format!("{:02}", now.hour()),
                    "04" => format!("{:02}", now.minute()),
                    "05" => format!("{:02}", now.second()),
                    "Z07:00" | "Z0700" => "Z".to_owned(),
                    "MST" => "UTC".to_owned(),
                    "Jan" => now.month().to_string()[..3].to_owned(),
                    _ => now.weekday().to_string()[..3].to_owned(),
                });
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> Result<String> {
        Template::parse(src)?.render(&Fields {
            display_name: "token",
            role_name: "toolboxai-readonly",
            now: time::OffsetDateTime::now_utc(),
        })
    }

    #[test]
    fn vaults_default_postgres_template_renders() {
        let out = render(
            r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#,
        )
        .unwrap();
        let parts: Vec<&str> = out.split('-').collect();
        assert_eq!(parts[..3], ["v", "token", "toolboxa"]);
        assert_eq!(parts[3].len(), 20);
        assert!(parts[3].chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(parts[4].parse::<i64>().unwrap() > 1_700_000_000);
        assert!(out.len() <= 63);
    }

    #[test]
    fn functions_compose_and_trim_markers_apply() {
        assert_eq!(
            render(r#"a  {{- .RoleName | replace "-" "_" | uppercase -}}  x"#).unwrap(),
            "aTOOLBOXAI_READONLYx",
        );
        assert_eq!(
            render(r#"{{ .RoleName | truncate 4 }}{{ "AB" | lowercase }}"#).unwrap(),
            "toolab"
        );
        assert_eq!(
            render(r#"{{ truncate_sha256 12 .RoleName }}"#).unwrap(),
            format!(
                "tool{}",
                &hex::encode(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"boxai-readonly")
                        .as_ref()
                )[..8]
            )
        );
        assert_eq!(render(r#"{{ printf "%s%%" "x" }}"#).unwrap(), "x%");
        assert_eq!(render("plain").unwrap(), "plain");
        assert_eq!(render(r#"{{ uuid }}"#).unwrap().len(), 36);
    }

    #[test]
    fn bad_templates_are_refused_when_parsed() {
        for src in [
            "{{ .Nope }}",
            "{{ nope 3 }}",
            "{{ printf \"x\" ",
            "{{ (.RoleName }}",
            "{{ \"a\" \"b\" }}",
            "{{ }}",
        ] {
            assert!(Template::parse(src).is_err(), "{src} parsed");
        }
        assert!(render("{{ truncate 3 }}").is_err());
        assert!(Template::parse(&"(".repeat(100_000)).is_err());
        assert!(
            render(r#"{{ "x" | replace "" (random 1000) | replace "" (random 1000) }}"#).is_err()
        );
        assert_eq!(render(r#"{{ "日本語" | truncate 4 }}"#).unwrap(), "日");
    }
}
