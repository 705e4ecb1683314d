//! Go-style durations as Vault accepts them: `3600`, `"3600"`, `"1h"`, `"1h30m"`, `"90s"`, `"7d"`.

use serde_json::Value;

/// The longest duration there is: Go's, 2^63-1 nanoseconds (about 292 years). Vault cannot
/// hold a longer one, so none is taken.
pub const MAX_SECS: u64 = (i64::MAX / 1_000_000_000) as u64;

/// Parses a duration into whole seconds: a number of seconds, or Go's `1h30m`, `1.5h`, `90s`
/// (and `d` for days), exactly, in integer nanoseconds as Go does, truncated to the second.
pub fn parse(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    let invalid = || format!("time: invalid duration \"{s}\"");
    if let Ok(n) = s.parse::<u64>() {
        return if n <= MAX_SECS { Ok(n) } else { Err(invalid()) };
    }
    let mut total_ns: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => f.split_at(f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len())),
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let unit_ns: u128 = match &after[..unit_len] {
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        // Digits beyond what can matter are dropped, as Go drops them.
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut frac_ns: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_part.bytes().take(18) {
            frac_ns = frac_ns * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total_ns = whole
            .checked_mul(unit_ns)
            .and_then(|n| n.checked_add(frac_ns * unit_ns / scale))
            .and_then(|n| n.checked_add(total_ns))
            .filter(|n| *n <= i64::MAX as u128)
            .ok_or_else(invalid)?;
        rest = &after[unit_len..];
    }
    Ok((total_ns / 1_000_000_000) as u64)
}

/// A JSON value holding a duration: a non-negative number of seconds or a duration string.
pub fn parse_value(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .filter(|secs| *secs <= MAX_SECS)
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

/// [`format_go`] without zero minutes and seconds (`768h`, `1h30m`, `1h30s`, `90s`): Vault's
/// `humanDuration`, which its TTL warnings use.
pub fn format_human(secs: u64) -> String {
    let mut s = format_go(secs);
    if secs == 0 {
        return s;
    }
    if s.ends_with("m0s") {
        s.truncate(s.len() - 2);
    }
    if let Some(i) = s.find("h0m") {
        s.replace_range(i + 1..i + 3, "");
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
        assert_eq!(parse(".5m"), Ok(30));
        assert_eq!(parse("1h0.5s"), Ok(3600));
        assert_eq!(parse("1.000000001s"), Ok(1));
        assert!(parse(".h").is_err());
        assert!(parse("5").is_ok() && parse("5x5").is_err());
    }

    /// Found by the `duration` fuzz target: large values went through floating point, so what
    /// Tresor printed did not read back the same; past Go's longest duration there is none.
    #[test]
    fn durations_are_exact_and_bounded() {
        assert_eq!(
            parse("308641975308641h58m31s"),
            Err("time: invalid duration \"308641975308641h58m31s\"".into())
        );
        assert!(parse("1111111111111111111").is_err());
        assert_eq!(parse(&format_go(MAX_SECS)), Ok(MAX_SECS));
        assert_eq!(parse(&MAX_SECS.to_string()), Ok(MAX_SECS));
        assert!(parse(&(MAX_SECS + 1).to_string()).is_err());
        assert_eq!(parse("2562047h47m16s"), Ok(MAX_SECS));
        assert!(parse("2562047h47m17s").is_err());
        assert!(parse_value(&serde_json::json!(1e300)).is_err());
        for found in [
            &include_bytes!(
                "../../../fuzz/regressions/duration/crash-d61dbc693956319a6acf33e2a90084626ce26f80"
            )[..],
            &include_bytes!(
                "../../../fuzz/regressions/duration/crash-ff7aa784a5553dab007f6b284e31b1e690331c45"
            )[..],
        ] {
            let text = std::str::from_utf8(found).unwrap();
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn formats_as_go_and_as_vault_warnings_do() {
        assert_eq!(format_go(2_764_800), "768h0m0s");
        assert_eq!(format_human(2_764_800), "768h");
        assert_eq!(format_human(2_764_799), "767h59m59s");
        assert_eq!(format_human(5_400), "1h30m");
        assert_eq!(format_human(120), "2m");
        assert_eq!(format_human(90), "1m30s");
        assert_eq!(format_human(3630), "1h30s");
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
