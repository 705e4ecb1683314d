//! `tresor-load`: drives one scenario of the benchmark against a Vault API server (Tresor or
//! OpenBao alike) over keep-alive HTTP/1.1 connections and prints one JSON line of results:
//! requests, errors, requests per second, p50 and p99 latency.
//!
//! A minimal HTTP/1.1 client of its own keeps the generator cheap, so that on a small machine
//! the server, not the client, is what is measured.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    addr: String,
    token: String,
    scenario: String,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    keys: usize,
    role_id: String,
    secret_id: String,
    ciphertext: String,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        addr: "127.0.0.1:8200".into(),
        token: "root".into(),
        scenario: "health".into(),
        concurrency: 1,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        keys: 10_000,
        role_id: String::new(),
        secret_id: String::new(),
        ciphertext: String::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for a in &args {
        let (k, v) = a
            .trim_start_matches('-')
            .split_once('=')
            .ok_or_else(|| format!("expected -name=value, got {a}"))?;
        let secs = |v: &str| {
            v.parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|e| e.to_string())
        };
        match k {
            "addr" => o.addr = v.trim_start_matches("http://").to_owned(),
            "token" => o.token = v.to_owned(),
            "scenario" => o.scenario = v.to_owned(),
            "concurrency" => o.concurrency = v.parse().map_err(|e| format!("{e}"))?,
            "duration" => o.duration = secs(v)?,
            "warmup" => o.warmup = secs(v)?,
            "keys" => o.keys = v.parse().map_err(|e| format!("{e}"))?,
            "role-id" => o.role_id = v.to_owned(),
            "secret-id" => o.secret_id = v.to_owned(),
            "ciphertext" => o.ciphertext = v.to_owned(),
            other => return Err(format!("unknown option -{other}")),
        }
    }
    Ok(o)
}

/// The request a scenario sends for its `n`th call: method, path, body.
fn request(o: &Options, n: u64) -> (&'static str, String, Option<String>) {
    let key = n % o.keys.max(1) as u64;
    match o.scenario.as_str() {
        "kv-read" => ("GET", format!("secret/data/bench/{key}"), None),
        "kv-write" => (
            "POST",
            format!("secret/data/bench-w/{key}"),
            Some(format!(
                "{{\"data\":{{\"password\":\"p-{n}\",\"user\":\"svc\"}}}}"
            )),
        ),
        "transit-encrypt" => (
            "POST",
            "transit/encrypt/bench".into(),
            Some("{\"plaintext\":\"aGVsbG8gd29ybGQ=\"}".into()),
        ),
        "transit-decrypt" => (
            "POST",
            "transit/decrypt/bench".into(),
            Some(format!("{{\"ciphertext\":\"{}\"}}", o.ciphertext)),
        ),
        "lookup-self" => ("GET", "auth/token/lookup-self".into(), None),
        "approle-login" => (
            "POST",
            "auth/approle/login".into(),
            Some(format!(
                "{{\"role_id\":\"{}\",\"secret_id\":\"{}\"}}",
                o.role_id, o.secret_id
            )),
        ),
        _ => ("GET", "sys/health".into(), None),
    }
}

/// One request on a kept-alive connection; returns the status.
async fn send(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    o: &Options,
    n: u64,
) -> std::io::Result<u16> {
    let (method, path, body) = request(o, n);
    let body = body.unwrap_or_default();
    let token = if o.scenario == "approle-login" || o.scenario == "health" {
        String::new()
    } else {
        format!("X-Vault-Token: {}\r\n", o.token)
    };
    let head = format!(
        "{method} /v1/{path} HTTP/1.1\r\nHost: {}\r\n{token}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        o.addr,
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    if !body.is_empty() {
        conn.write_all(body.as_bytes()).await?;
    }
    read_response(conn, buf).await
}

async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let have = buf.len() - header_end;
        let done = match length {
            Some(len) => have >= len,
            None if chunked => buf.ends_with(b"0\r\n\r\n"),
            None => true,
        };
        if done {
            return Ok(status);
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One connection's loop until `end`: latencies in microseconds, and errors.
async fn worker(
    o: std::sync::Arc<Options>,
    id: u64,
    warm_end: Instant,
    end: Instant,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut conn = match TcpStream::connect(&o.addr).await {
        Ok(c) => c,
        Err(_) => return (latencies, 1),
    };
    let _ = conn.set_nodelay(true);
    let mut n = id.wrapping_mul(7919);
    while Instant::now() < end {
        n = n.wrapping_add(1);
        let t = Instant::now();
        let result = send(&mut conn, &mut buf, &o, n).await;
        let measured = t >= warm_end;
        match result {
            Ok(status) if (200..300).contains(&status) => {
                if measured {
                    latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
            }
            Ok(_) => {
                if measured {
                    errors += 1;
                }
            }
            Err(_) => {
                if measured {
                    errors += 1;
                }
                match TcpStream::connect(&o.addr).await {
                    Ok(c) => conn = c,
                    Err(_) => return (latencies, errors + 1),
                }
            }
        }
    }
    (latencies, errors)
}

fn main() -> std::process::ExitCode {
    let o = match parse() {
        Ok(o) => std::sync::Arc::new(o),
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (latencies, errors, measured) = runtime.block_on(async {
        let start = Instant::now();
        let warm_end = start + o.warmup;
        let end = warm_end + o.duration;
        let tasks: Vec<_> = (0..o.concurrency as u64)
            .map(|i| tokio::spawn(worker(o.clone(), i, warm_end, end)))
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            if let Ok((l, e)) = t.await {
                all.extend(l);
                errors += e;
            }
        }
        (all, errors, o.duration.as_secs_f64())
    });
    let mut sorted = latencies;
    sorted.sort_unstable();
    let pct = |p: f64| -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i] as f64 / 1000.0
    };
    let result = serde_json::json!({
        "scenario": o.scenario,
        "concurrency": o.concurrency,
        "requests": sorted.len(),
        "errors": errors,
        "seconds": measured,
        "rps": sorted.len() as f64 / measured,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    });
    println!("{result}");
    std::process::ExitCode::SUCCESS
}
