//! Requests through the path framework, into real backends (KV v2 and KV v1) over an in-memory
//! store: routing, canonical names, existence checks, the decoding of every field, and the
//! handlers. Never a panic, and the framework's answer is a result, never a crash.
//!
//! The input is requests, one per line: an operation letter (`r`ead, `c`reate, `u`pdate,
//! `p`atch, `d`elete, `l`ist; upper case for KV v1), the path, a space, and a JSON body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tresor_engines::kv::{KvV1, KvV2};
use tresor_sdk::framework::{decode, Kind, Routed};
use tresor_sdk::memory::MemoryView;
use tresor_sdk::{Backend, Clock, Operation, Request};

const KINDS: &[Kind] = &[
    Kind::Str,
    Kind::LowerStr,
    Kind::Int,
    Kind::Int64,
    Kind::Bool,
    Kind::Duration,
    Kind::CommaList,
    Kind::CommaIntList,
    Kind::List,
    Kind::Map,
    Kind::KvPairs,
    Kind::Any,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let v2 = Routed::new(KvV2::new(Clock::system()));
    let v1 = Routed::new(KvV1);
    let (store_v2, store_v1) = (MemoryView::default(), MemoryView::default());
    for line in text.lines().take(8) {
        let mut chars = line.chars();
        let Some(letter) = chars.next() else { continue };
        let (operation, v1_mount) = match letter {
            'r' | 'R' => (Operation::Read, letter == 'R'),
            'c' | 'C' => (Operation::Create, letter == 'C'),
            'u' | 'U' => (Operation::Update, letter == 'U'),
            'p' | 'P' => (Operation::Patch, letter == 'P'),
            'd' | 'D' => (Operation::Delete, letter == 'D'),
            'l' | 'L' => (Operation::List, letter == 'L'),
            _ => continue,
        };
        let rest = chars.as_str();
        let (path, body) = rest.split_once(' ').unwrap_or((rest, "{}"));
        let data = match serde_json::from_str::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for value in data.values() {
            for kind in KINDS {
                let _ = decode("f", *kind, value);
            }
        }
        let (backend, store): (&dyn Backend, &MemoryView) = if v1_mount {
            (&v1, &store_v1)
        } else {
            (&v2, &store_v2)
        };
        let resolved = backend.resolve(path);
        let req = Request::new(operation, resolved.path.into_owned()).with_data(data);
        runtime.block_on(async {
            let _ = backend.exists(&req, store).await;
            let _ = backend.handle(&req, store).await;
        });
    }
});
