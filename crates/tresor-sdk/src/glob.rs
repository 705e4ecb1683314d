//! `*` globs, as Vault matches them (`ryanuber/go-glob`): `*` anywhere matches any run of
//! characters, case-sensitively. Token roles' policy globs, policies' parameter values and the
//! database engine's `allowed_roles` all match through this one function.

/// Whether `s` matches `pattern`.
pub fn matches(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_match_any_run() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("dev-*", "dev-team"));
        assert!(!matches("dev-*", "prod-team"));
        assert!(matches("*-team", "dev-team"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXcYYb"));
        assert!(matches("*mid*", "has mid in it"));
        assert!(!matches("ab*ba", "aba"), "the ends may not overlap");
        assert!(!matches("Dev-*", "dev-team"), "case-sensitive");
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
    }
}
