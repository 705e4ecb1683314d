//! Durations as Vault reads them (`90`, `1h30m`, `7d`, `1.5h`), from text and from JSON: never
//! a panic, and what Tresor prints for a duration reads back as the same number of seconds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tresor_sdk::ttl;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(secs) = ttl::parse(text) {
        assert_eq!(ttl::parse(&ttl::format_go(secs)), Ok(secs), "{text:?}");
        assert_eq!(ttl::parse(&ttl::format_human(secs)), Ok(secs), "{text:?}");
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = ttl::parse_value(&value);
    }
});
