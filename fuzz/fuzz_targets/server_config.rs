//! The server's configuration file, HCL or JSON: never a panic, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tresor_server::config::parse("fuzz.hcl", text);
    }
});
