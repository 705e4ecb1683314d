//! Audit devices through the real binary: what the log holds, that it never holds a secret or a
//! token, that a device that cannot write stops every request (and changes nothing), and that
//! SIGHUP reopens the file for log rotation.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

fn entries(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each audit line is JSON"))
        .collect()
}

#[tokio::test]
async fn file_device_logs_hmacs_that_audit_hash_reproduces() {
    let s = common::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = s
        .put(
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let listed = s.get("sys/audit").await;
    assert_eq!(listed.data()["file/"]["type"], "file");
    assert_eq!(
        listed.data()["file/"]["options"]["file_path"],
        log.to_str().unwrap()
    );

    // Requests made with an ordinary token, whose value must never reach the log.
    let admin = s.token(json!({"policies": ["root"]})).await;
    let w = s
        .call(
            "POST",
            "secret/data/app",
            Some(&admin),
            Some(json!({"data": {"password": "s3cret-value", "n": 7}})),
        )
        .await;
    assert_eq!(w.status, 200);
    let read = s.call("GET", "secret/data/app", Some(&admin), None).await;
    assert_eq!(read.data()["data"]["password"], "s3cret-value");
    let hash = |input: &str| {
        let input = input.to_owned();
        let s = &s;
        async move {
            let r = s
                .post("sys/audit-hash/file", json!({ "input": input }))
                .await;
            r.data()["hash"].as_str().unwrap().to_owned()
        }
    };
    let secret_hash = hash("s3cret-value").await;
    let token_hash = hash(&admin).await;
    assert!(secret_hash.starts_with("hmac-sha256:"));

    let all = entries(&log);
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(
        !raw.contains("s3cret-value"),
        "a secret reached the audit log"
    );
    assert!(!raw.contains(&admin), "the token reached the audit log");
    let write_req = all
        .iter()
        .find(|e| {
            e["type"] == "request"
                && e["request"]["path"] == "secret/data/app"
                && e["request"]["operation"] == "create"
        })
        .expect("the write's request entry");
    assert_eq!(
        write_req["request"]["data"]["data"]["password"],
        secret_hash
    );
    assert_eq!(
        write_req["request"]["data"]["data"]["n"],
        hash("7").await,
        "numbers are hashed as Vault hashes them"
    );
    assert_eq!(write_req["request"]["client_token"], token_hash);
    assert_eq!(write_req["auth"]["client_token"], token_hash);
    assert_eq!(write_req["auth"]["policies"], json!(["root"]));
    assert_eq!(write_req["request"]["mount_type"], "kv");
    assert_eq!(write_req["request"]["remote_address"], "127.0.0.1");
    let read_resp = all
        .iter()
        .find(|e| {
            e["type"] == "response"
                && e["request"]["path"] == "secret/data/app"
                && e["request"]["operation"] == "read"
        })
        .expect("the read's response entry");
    assert_eq!(
        read_resp["response"]["data"]["data"]["password"],
        secret_hash
    );
    assert!(read_resp["time"].as_str().unwrap().ends_with('Z'));
    // Each request id has its request and its response, request first.
    let id = write_req["request"]["id"].as_str().unwrap();
    let kinds: Vec<&str> = all
        .iter()
        .filter(|e| e["request"]["id"] == id)
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["request", "response"]);

    // Denied requests are logged, with their error.
    let t = s.token(json!({"policies": ["default"]})).await;
    let denied = s.call("GET", "secret/data/app", Some(&t), None).await;
    assert_eq!(denied.status, 403);
    let all = entries(&log);
    assert!(all
        .iter()
        .any(|e| e["request"]["path"] == "secret/data/app" && e["error"] == "permission denied"));

    // Disabling stops the logging.
    assert_eq!(s.delete("sys/audit/file").await.status, 204);
    let lines = entries(&log).len();
    s.get("secret/data/app").await;
    assert_eq!(entries(&log).len(), lines);
}

#[tokio::test]
async fn options_raw_prefix_jsonx_and_accessor() {
    let s = common::dev();
    let dir = tempfile::tempdir().unwrap();
    let raw_log = dir.path().join("raw.log");
    let x_log = dir.path().join("x.log");
    let r = s
        .put(
            "sys/audit/raw",
            json!({"type": "file", "options": {"file_path": raw_log.to_str().unwrap(), "log_raw": "true", "hmac_accessor": "false", "prefix": "AUDIT:", "mode": "0640"}}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = s
        .put(
            "sys/audit/x",
            json!({"type": "file", "options": {"file_path": x_log.to_str().unwrap(), "format": "jsonx"}}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    s.post("secret/data/p", json!({"data": {"k": "plain"}}))
        .await;
    let raw = std::fs::read_to_string(&raw_log).unwrap();
    assert!(raw.lines().all(|l| l.starts_with("AUDIT:{")));
    assert!(raw.contains("\"plain\""), "log_raw keeps values");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&raw_log).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let x = std::fs::read_to_string(&x_log).unwrap();
    assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><json:object"));
    assert!(!x.contains("plain"));

    // Standard output is a device too (the server's stdout; the request just has to succeed).
    let r = s
        .put(
            "sys/audit/out",
            json!({"type": "file", "options": {"file_path": "stdout"}}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get("secret/data/p").await.status, 200);
    let listed = s.get("sys/audit").await;
    assert_eq!(listed.data().as_object().unwrap().len(), 3);

    // Bad devices are refused when enabled.
    let bad = s
        .put(
            "sys/audit/bad",
            json!({"type": "file", "options": {"file_path": "/nonexistent/dir/a.log"}}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = s.put("sys/audit/bad", json!({"type": "syslogx"})).await;
    assert_eq!(bad.status, 400);
    let dup = s
        .put(
            "sys/audit/x",
            json!({"type": "file", "options": {"file_path": "discard"}}),
        )
        .await;
    assert_eq!(dup.status, 400);
    // Enabling needs sudo.
    let t = s.token(json!({"policies": ["default"]})).await;
    let r = s
        .call(
            "PUT",
            "sys/audit/mine",
            Some(&t),
            Some(json!({"type": "file", "options": {"file_path": "discard"}})),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_device_that_cannot_write_stops_everything_until_it_can() {
    let s = common::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    s.put(
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
    )
    .await;
    assert_eq!(
        s.post("secret/data/k", json!({"data": {"v": "1"}}))
            .await
            .status,
        200
    );

    // Rotation: the file moves away, SIGHUP, and the log starts afresh.
    let rotated = dir.path().join("audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    s.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.get("secret/data/k").await.status, 200);
    assert!(!entries(&log).is_empty(), "a new file after SIGHUP");

    // Now the path cannot be opened: requests fail with 500 and change nothing.
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    s.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = s.post("secret/data/k", json!({"data": {"v": "2"}})).await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert_eq!(s.get("secret/data/k").await.status, 500);

    // When it can write again, it does, and the data is as it was.
    std::fs::remove_dir(&log).unwrap();
    let r = s.get("secret/data/k").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["data"]["v"], "1");
    assert_eq!(r.data()["metadata"]["version"], 1);
}

#[tokio::test]
async fn audit_devices_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (s, key, root) = common::durable(dir.path()).await;
    let r = s
        .call(
            "PUT",
            "sys/audit/file",
            Some(&root),
            Some(json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})),
        )
        .await;
    assert_eq!(r.status, 204);
    let before = s
        .call(
            "POST",
            "sys/audit-hash/file",
            Some(&root),
            Some(json!({"input": "x"})),
        )
        .await
        .body["data"]["hash"]
        .clone();
    drop(s);
    let s = common::reopen(dir.path(), &key).await;
    let lines = entries(&log).len();
    s.call("GET", "sys/audit", Some(&root), None).await;
    assert_eq!(
        entries(&log).len(),
        lines + 2,
        "logging resumes after unseal"
    );
    let after = s
        .call(
            "POST",
            "sys/audit-hash/file",
            Some(&root),
            Some(json!({"input": "x"})),
        )
        .await
        .body["data"]["hash"]
        .clone();
    assert_eq!(before, after, "the salt survives the restart");
    for (path, input, error) in [
        (
            "sys/audit-hash/file",
            "",
            "the \"input\" parameter is empty",
        ),
        (
            "sys/audit-hash/nope",
            "x",
            "unknown audit backend \"nope/\"",
        ),
    ] {
        let r = s
            .call("POST", path, Some(&root), Some(json!({ "input": input })))
            .await;
        assert_eq!(
            (r.status.as_u16(), r.errors()),
            (400, vec![error.to_owned()])
        );
    }
}

#[tokio::test]
async fn socket_devices_send_one_entry_per_line_over_tcp_and_udp() {
    use std::io::{BufRead, BufReader};
    let s = common::dev();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let udp_addr = udp.local_addr().unwrap().to_string();
    let r = s
        .put(
            "sys/audit/tcp",
            json!({"type": "socket", "options": {"address": tcp_addr}}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = s
        .put(
            "sys/audit/udp",
            json!({"type": "socket", "options": {"address": udp_addr, "socket_type": "udp"}}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    s.post("secret/data/sock", json!({"data": {"k": "socket-secret"}}))
        .await;

    let (conn, _) = tcp.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut lines = BufReader::new(conn).lines();
    let mut seen_write = false;
    for _ in 0..10 {
        let line = lines.next().unwrap().unwrap();
        let e: Value = serde_json::from_str(&line).unwrap();
        assert!(!line.contains("socket-secret"));
        if e["request"]["path"] == "secret/data/sock" && e["type"] == "response" {
            seen_write = true;
            break;
        }
    }
    assert!(seen_write, "the write reached the TCP device");
    let mut buf = [0u8; 65536];
    let n = udp.recv(&mut buf).unwrap();
    let e: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert!(e["type"] == "request" || e["type"] == "response");

    // A socket nobody listens on is refused when enabled.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    let r = s
        .put(
            "sys/audit/dead",
            json!({"type": "socket", "options": {"address": dead}}),
        )
        .await;
    assert_eq!(r.status, 400);
}
