//! Go-style durations as Vault accepts them: `3600`, `"3600"`, `"1h"`, `"1h30m"`, `"90s"`, `"7d"`.

use serde_json::Value;

/// Parses a duration into whole seconds.
pub fn parse(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration \"{s}\""))?;
        if num_len == 0 {
            return Err(format!("time: invalid duration \"{s}\""));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("time: invalid duration \"{s}\""))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total < 0.0 || total > u64::MAX as f64 {
        return Err(format!("time: invalid duration \"{s}\""));
    }
    Ok(total as u64)
}

/// A JSON value holding a duration: a non-negative number of seconds or a duration string.
pub fn parse_value(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or_else(|| format!("invalid duration {n}")),
        Value::String(s) => parse(s),
        other => Err(format!("invalid duration {other}")),
    }
}

/// Formats seconds the way Go's `time.Duration.String()` does (`768h0m0s`, `1h30m0s`, `0s`),
/// which is how Vault shows durations in configuration answers.
pub fn format_go(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let h = secs / 3600;
    let m = (secs % 3600) / 60;
    let s = secs % 60;
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// [`format_go`] without trailing zero units (`768h`, `1h30m`, `90s`): Vault's `humanDuration`,
/// which its TTL warnings use.
pub fn format_human(secs: u64) -> String {
    let mut s = format_go(secs);
    if secs == 0 {
        return s;
    }
    if s.ends_with("m0s") {
        s.truncate(s.len() - 2);
    }
    if s.ends_with("h0m") {
        s.truncate(s.len() - 2);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vault_durations() {
        assert_eq!(parse("3600"), Ok(3600));
        assert_eq!(parse("1h"), Ok(3600));
        assert_eq!(parse("1h30m"), Ok(5400));
        assert_eq!(parse("90s"), Ok(90));
        assert_eq!(parse("7d"), Ok(604800));
        assert_eq!(parse("1.5h"), Ok(5400));
        assert_eq!(parse(""), Ok(0));
        assert!(parse("abc").is_err());
        assert!(parse("5x").is_err());
        assert!(parse("10").is_ok());
    }

    #[test]
    fn formats_as_go_and_as_vault_warnings_do() {
        assert_eq!(format_go(2_764_800), "768h0m0s");
        assert_eq!(format_human(2_764_800), "768h");
        assert_eq!(format_human(2_764_799), "767h59m59s");
        assert_eq!(format_human(5_400), "1h30m");
        assert_eq!(format_human(120), "2m");
        assert_eq!(format_human(90), "1m30s");
        assert_eq!(format_human(0), "0s");
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go(0), "0s");
        assert_eq!(format_go(2764800), "768h0m0s");
        assert_eq!(format_go(5400), "1h30m0s");
        assert_eq!(format_go(90), "1m30s");
    }
}
