//! ACL policy text (HCL1 or JSON): parsing never panics, and a policy that parses compiles into
//! an ACL that answers for its own paths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tresor_core::policy::{model, Acl};
use tresor_sdk::Operation;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = model::parse("fuzz", text) else {
        return;
    };
    let acl = Acl::new([&policy]);
    let body = serde_json::Map::new();
    for rule in &policy.rules {
        // The rule's own path, with its globs taken literally, and a path below it.
        for path in [rule.path.clone(), format!("{}x/y", rule.path)] {
            for op in [Operation::Read, Operation::Update, Operation::List] {
                acl.check(op, &path, &body);
            }
        }
    }
});
