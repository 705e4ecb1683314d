//! Database username templates: parsing and rendering never panic, and a rendering is never
//! longer than the renderer's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tresor_engines::database::template::{Fields, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(template) = Template::parse(src) else {
        return;
    };
    let fields = Fields {
        display_name: "token-ci",
        role_name: "readonly",
        now: time::OffsetDateTime::UNIX_EPOCH,
    };
    if let Ok(name) = template.render(&fields) {
        // The renderer refuses more than 4096 bytes (`MAX_VALUE_LEN`).
        assert!(name.len() <= 4096, "{} bytes", name.len());
    }
});
