//! `path-help` from the table, in Vault's layout.

use super::Path;

/// The help of the whole backend: what it is, then each path with its synopsis.
pub fn backend<B>(description: &str, paths: &[Path<B>]) -> String {
    let routes: Vec<(String, &str)> = paths
        .iter()
        .filter(|p| !p.flags.hidden)
        .map(|p| (p.pattern.regex(), p.synopsis))
        .collect();
    let routes: Vec<(&str, &str)> = routes.iter().map(|(r, s)| (r.as_str(), *s)).collect();
    crate::help_text(description, &routes)
}

/// The help of one path: the route it matched, its synopsis, its fields, its description.
pub fn path<B>(request_path: &str, p: &Path<B>) -> String {
    let mut s = format!(
        "Request:        {request_path}\nMatching Route: {}\n\n{}\n\n",
        p.pattern.regex(),
        p.synopsis.trim()
    );
    let captured: Vec<_> = p
        .pattern
        .captures()
        .filter(|c| !p.fields.iter().any(|f| f.name == *c))
        .collect();
    if !p.fields.is_empty() || !captured.is_empty() {
        s.push_str("## PARAMETERS\n");
        for name in captured {
            s.push_str(&format!("\n    {name} (string)\n        \n"));
        }
        let mut fields: Vec<_> = p.fields.iter().collect();
        fields.sort_by_key(|f| f.name);
        for f in fields {
            s.push_str(&format!(
                "\n    {} ({})\n{}\n",
                f.name,
                f.kind.name(),
                indent(f.description, 8)
            ));
        }
        s.push('\n');
    }
    s.push_str("## DESCRIPTION\n\n");
    s.push_str(if p.description.is_empty() {
        p.synopsis.trim()
    } else {
        p.description.trim()
    });
    s.push('\n');
    s
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
