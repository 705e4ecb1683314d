//! Per-layer micro-benchmarks: the barrier (seal and open one entry), ACL evaluation, and Shamir.
//! They locate a regression that the load benchmark (`bench/`) only shows as a slower request.
//! Run with `cargo bench -p tresor-core`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::json;
use tresor_core::barrier::{Barrier, Keyring};
use tresor_core::policy::{model, Acl, DEFAULT_POLICY};
use tresor_core::shamir;
use tresor_sdk::{Map, Operation};
use tresor_storage::InmemStorage;
use zeroize::Zeroizing;

/// A service's policy as the seeds write them: a few exact paths, globs and `+` segments.
const SERVICE_POLICY: &str = r#"
path "secret/data/payments/*" { capabilities = ["read", "list"] }
path "secret/metadata/payments/*" { capabilities = ["list"] }
path "secret/data/shared/+/config" { capabilities = ["read"] }
path "transit/encrypt/payments" { capabilities = ["update"] }
path "transit/decrypt/payments" { capabilities = ["update"] }
path "database/creds/payments-ro" { capabilities = ["read"] }
path "secret/data/payments/admin/*" { capabilities = ["deny"] }
"#;

fn barrier(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let barrier = Barrier::new(Arc::new(InmemStorage::new()), tresor_sdk::Clock::system());
    barrier.install(
        Keyring::generate(Zeroizing::new([7u8; 32]), time::OffsetDateTime::now_utc())
            .expect("keyring"),
    );
    // A KV v2 version of a small secret is a few hundred bytes of JSON.
    let value = vec![b'x'; 512];
    let path = "logical/5f1c/versions/app/config/1";
    rt.block_on(barrier.put(path, &value)).expect("put");

    let mut g = c.benchmark_group("barrier");
    g.bench_function("put 512 B", |b| {
        b.iter(|| rt.block_on(barrier.put(black_box(path), black_box(&value))))
    });
    g.bench_function("get 512 B", |b| {
        b.iter(|| rt.block_on(barrier.get(black_box(path))))
    });
    g.finish();
}

fn acl(c: &mut Criterion) {
    let default = model::parse("default", DEFAULT_POLICY).expect("default policy");
    let service = model::parse("payments", SERVICE_POLICY).expect("service policy");
    let acl = Acl::new([&default, &service]);
    let empty = Map::new();
    let mut g = c.benchmark_group("acl");
    g.bench_function("check glob read", |b| {
        b.iter(|| {
            acl.check(
                Operation::Read,
                black_box("secret/data/payments/db"),
                &empty,
            )
        })
    });
    g.bench_function("check segment read", |b| {
        b.iter(|| {
            acl.check(
                Operation::Read,
                black_box("secret/data/shared/eu/config"),
                &empty,
            )
        })
    });
    g.bench_function("check denied", |b| {
        b.iter(|| acl.check(Operation::Read, black_box("secret/data/other/db"), &empty))
    });
    g.bench_function("check lookup-self", |b| {
        b.iter(|| acl.check(Operation::Read, black_box("auth/token/lookup-self"), &empty))
    });
    let body = json!({"plaintext": "aGVsbG8="});
    let body = body.as_object().cloned().unwrap_or_default();
    g.bench_function("check update with data", |b| {
        b.iter(|| {
            acl.check(
                Operation::Update,
                black_box("transit/encrypt/payments"),
                &body,
            )
        })
    });
    g.bench_function("compile default+service", |b| {
        b.iter(|| Acl::new([black_box(&default), black_box(&service)]))
    });
    g.bench_function("parse default policy", |b| {
        b.iter(|| model::parse("default", black_box(DEFAULT_POLICY)))
    });
    g.finish();
}

fn shamir(c: &mut Criterion) {
    let secret = [42u8; 32];
    let mut fill = |buf: &mut [u8]| {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
    };
    let shares = shamir::split(&secret, 5, 3, &mut fill).expect("split");
    let mut g = c.benchmark_group("shamir");
    g.bench_function("split 32 B 5/3", |b| {
        b.iter(|| shamir::split(black_box(&secret), 5, 3, &mut fill))
    });
    g.bench_function("combine 3 of 5", |b| {
        b.iter_batched(
            || [&shares[0][..], &shares[2][..], &shares[4][..]],
            |parts| shamir::combine(black_box(&parts)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, barrier, acl, shamir);
criterion_main!(benches);
