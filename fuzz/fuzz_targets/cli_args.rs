//! The CLI's command-line flags and `key=value` data arguments. The input is the arguments,
//! separated by NUL bytes; what follows a second NUL in a row is standard input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tresor::cli::args::{parse_data, Stdin};
use tresor::flags::{self, Kind};

const SPEC: &[(&str, Kind)] = &[
    ("format", Kind::Value),
    ("field", Kind::Value),
    ("wrap-ttl", Kind::Value),
    ("detailed", Kind::Bool),
    ("force", Kind::Bool),
    ("metadata", Kind::Value),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (args, stdin) = text.split_once("\0\0").unwrap_or((text, ""));
    let args: Vec<String> = args.split('\0').map(str::to_owned).collect();
    if let Ok(parsed) = flags::parse(SPEC, &args) {
        // Positional arguments are what is left, in order, at the end.
        assert!(parsed.args.len() <= args.len());
        assert_eq!(parsed.args[..], args[args.len() - parsed.args.len()..]);
        // `@file` arguments read files: not the fuzzer's to touch.
        if parsed.args.iter().any(|a| a.contains('@')) {
            return;
        }
        let _ = parse_data(&parsed.args, &mut Stdin::with_text(stdin.to_owned()));
    }
});
