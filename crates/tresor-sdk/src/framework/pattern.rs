//! Path patterns: `users/{username}`, `keys/{name}/rotate`, `data/{path*}`.
//!
//! A pattern is a list of `/`-separated segments: literals, `{name}` (one non-empty segment) and
//! at most one `{name*}` (several segments, slashes included). A rest segment at the end takes the
//! rest of the path exactly as sent, possibly empty; one followed by literals (`mounts/{path*}/tune`)
//! takes the non-empty part between them. Otherwise a pattern matches a path with its trailing
//! slashes removed, so `users/bob/` is the user `bob` and `LIST users/` reaches `users`.
//! Matching compares segments, no regular expressions: it runs on every request.

/// One segment of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Capture(&'static str),
    Rest(&'static str),
}

#[derive(Debug, Clone)]
pub struct Pattern {
    raw: &'static str,
    segments: Vec<Segment>,
    /// The literals after a rest segment, joined by `/` (`tune` in `mounts/{path*}/tune`).
    rest_suffix: Option<String>,
}

/// The most captures a pattern may have, so that a match needs no allocation.
pub const MAX_CAPTURES: usize = 4;

/// The captured segments of a matched path, in pattern order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captures<'p> {
    items: [(&'static str, &'p str); MAX_CAPTURES],
    len: usize,
}

impl<'p> Captures<'p> {
    fn new() -> Self {
        Captures {
            items: [("", ""); MAX_CAPTURES],
            len: 0,
        }
    }

    fn push(&mut self, name: &'static str, value: &'p str) {
        // `Pattern::new` refuses patterns with more captures than fit.
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = (name, value);
            self.len += 1;
        }
    }

    pub fn as_slice(&self) -> &[(&'static str, &'p str)] {
        &self.items[..self.len]
    }
}

impl Pattern {
    /// Parses a pattern. Panics on a malformed one: patterns are constants of the code, and a
    /// backend with a bad table must not start (every table is built by a unit test).
    pub fn new(raw: &'static str) -> Pattern {
        let mut segments = Vec::new();
        if !raw.is_empty() {
            let parts: Vec<&'static str> = raw.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let seg = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('*') {
                        Some(name) => {
                            let literals_after = parts[i + 1..].iter().all(|p| !p.contains('{'));
                            assert!(
                                literals_after,
                                "{raw}: only literals may follow a rest segment"
                            );
                            Segment::Rest(name)
                        }
                        None => Segment::Capture(name),
                    },
                    None => {
                        assert!(
                            !part.is_empty() && !part.contains(['{', '}']),
                            "{raw}: malformed segment"
                        );
                        Segment::Literal(part)
                    }
                };
                segments.push(seg);
            }
        }
        let captures = segments
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(_)))
            .count();
        assert!(captures <= MAX_CAPTURES, "{raw}: too many captures");
        let rest_suffix = segments
            .iter()
            .position(|s| matches!(s, Segment::Rest(_)))
            .map(|i| &segments[i + 1..])
            .filter(|after| !after.is_empty())
            .map(|after| {
                let literals: Vec<&str> = after
                    .iter()
                    .filter_map(|s| match s {
                        Segment::Literal(l) => Some(*l),
                        _ => None,
                    })
                    .collect();
                literals.join("/")
            });
        Pattern {
            raw,
            segments,
            rest_suffix,
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.raw
    }

    /// Whether the pattern has a rest segment (`{path*}`).
    pub fn has_rest(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Rest(_)))
    }

    /// Whether the pattern ends in a rest segment, which takes the path as sent.
    fn ends_in_rest(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Rest(_)))
    }

    /// The first segment if it is a literal: a path whose first segment differs cannot match.
    /// A table is looked up by it before the patterns are tried in full.
    pub fn first_literal(&self) -> Option<&'static str> {
        match self.segments.first() {
            Some(Segment::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// The captures if `path` (relative to the mount) matches. Runs on every request, so it
    /// does not allocate.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Captures<'p>> {
        let mut captures = Captures::new();
        let mut rest = if self.ends_in_rest() {
            path
        } else {
            path.trim_end_matches('/')
        };
        let n = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            if let Segment::Rest(name) = seg {
                match &self.rest_suffix {
                    None => captures.push(name, rest),
                    Some(suffix) => {
                        let inner = rest.strip_suffix(suffix.as_str())?.strip_suffix('/')?;
                        if inner.trim_matches('/').is_empty() {
                            return None;
                        }
                        captures.push(name, inner);
                    }
                }
                return Some(captures);
            }
            let last = i + 1 == n;
            let (part, tail) = match rest.split_once('/') {
                Some((p, t)) if !last => (p, t),
                Some(_) => return None,
                None if last => (rest, ""),
                // The next segment is a rest segment, which may be empty: `data/` matches
                // `data/{path*}`, but `data` does not.
                None => return None,
            };
            match seg {
                Segment::Literal(l) if *l == part => {}
                Segment::Capture(name) if !part.is_empty() => captures.push(name, part),
                _ => return None,
            }
            rest = tail;
        }
        (n > 0 || rest.is_empty()).then_some(captures)
    }

    /// The pattern as a regular expression, as Vault's `path-help` shows routes.
    pub fn regex(&self) -> String {
        let mut s = String::from("^");
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push('/');
            }
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Capture(name) => s.push_str(&format!("(?P<{name}>[^/]+)")),
                Segment::Rest(name) => s.push_str(&format!("(?P<{name}>.*)")),
            }
        }
        s.push('$');
        s
    }

    /// The pattern as an OpenAPI path template under `mount` (`secret/`): `/secret/data/{path}`.
    pub fn openapi(&self, mount: &str) -> String {
        let mut s = format!("/{}", mount.trim_end_matches('/'));
        for seg in &self.segments {
            s.push('/');
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Capture(name) | Segment::Rest(name) => {
                    s.push('{');
                    s.push_str(name);
                    s.push('}');
                }
            }
        }
        s
    }

    /// The names of the captured segments.
    pub fn captures(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Capture(n) | Segment::Rest(n) => Some(*n),
            Segment::Literal(_) => None,
        })
    }

    /// The path this pattern names with `captures` put in their places (the canonical form of
    /// a matched path, once the captures are normalised).
    pub fn render(&self, captures: &[(&'static str, std::borrow::Cow<'_, str>)]) -> String {
        let mut s = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push('/');
            }
            match seg {
                Segment::Literal(l) => s.push_str(l),
                Segment::Capture(name) | Segment::Rest(name) => {
                    if let Some((_, v)) = captures.iter().find(|(n, _)| n == name) {
                        s.push_str(v);
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &Pattern, path: &'static str) -> Option<Vec<(&'static str, &'static str)>> {
        p.matches(path).map(|c| c.as_slice().to_vec())
    }

    #[test]
    fn literals_and_captures() {
        let p = Pattern::new("users/{username}/password");
        assert_eq!(
            caps(&p, "users/bob/password"),
            Some(vec![("username", "bob")])
        );
        assert_eq!(
            caps(&p, "users/bob/password/"),
            Some(vec![("username", "bob")])
        );
        assert_eq!(caps(&p, "users//password"), None);
        assert_eq!(caps(&p, "users/bob"), None);
        assert_eq!(caps(&p, "users/bob/password/x"), None);
        assert_eq!(p.regex(), "^users/(?P<username>[^/]+)/password$");
        assert_eq!(p.first_literal(), Some("users"));
        assert_eq!(Pattern::new("{path*}").first_literal(), None);
        assert_eq!(p.openapi("auth/up/"), "/auth/up/users/{username}/password");
    }

    #[test]
    fn trailing_slashes_name_the_same_thing() {
        let p = Pattern::new("users");
        assert!(p.matches("users").is_some());
        assert!(p.matches("users/").is_some());
        assert!(p.matches("users/x").is_none());
        let root = Pattern::new("");
        assert!(root.matches("").is_some());
        assert!(root.matches("/").is_some());
        assert!(root.matches("x").is_none());
    }

    #[test]
    fn a_rest_segment_takes_the_path_as_sent() {
        let p = Pattern::new("data/{path*}");
        assert_eq!(caps(&p, "data/a/b/"), Some(vec![("path", "a/b/")]));
        assert_eq!(caps(&p, "data/"), Some(vec![("path", "")]));
        assert_eq!(caps(&p, "data"), None);
        assert_eq!(caps(&p, "metadata/a"), None);
        let all = Pattern::new("{path*}");
        assert_eq!(caps(&all, ""), Some(vec![("path", "")]));
        assert_eq!(caps(&all, "a/b"), Some(vec![("path", "a/b")]));
        assert_eq!(all.regex(), "^(?P<path>.*)$");
    }

    #[test]
    fn render_puts_captures_back() {
        let p = Pattern::new("keys/{name}/rotate");
        let caps = vec![("name", std::borrow::Cow::Borrowed("k"))];
        assert_eq!(p.render(&caps), "keys/k/rotate");
        assert_eq!(p.captures().collect::<Vec<_>>(), ["name"]);
    }

    #[test]
    fn a_rest_segment_followed_by_literals_takes_what_is_between() {
        let p = Pattern::new("mounts/{path*}/tune");
        assert_eq!(caps(&p, "mounts/a/b/tune"), Some(vec![("path", "a/b")]));
        assert_eq!(caps(&p, "mounts/a/tune/"), Some(vec![("path", "a")]));
        assert_eq!(caps(&p, "mounts/tune"), None);
        assert_eq!(caps(&p, "mounts//tune"), None);
        assert_eq!(caps(&p, "mounts/a/b"), None);
        assert_eq!(p.openapi("sys/"), "/sys/mounts/{path}/tune");
    }

    #[test]
    #[should_panic(expected = "too many captures")]
    fn more_captures_than_a_match_holds_are_refused() {
        Pattern::new("{a}/{b}/{c}/{d}/{e}");
    }

    #[test]
    #[should_panic(expected = "only literals may follow a rest segment")]
    fn a_capture_after_a_rest_segment_is_refused() {
        Pattern::new("{a*}/{b}");
    }
}
