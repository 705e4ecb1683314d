//! KV version 1, and upgrading a v1 mount to v2 in place.

mod common;

use serde_json::json;

#[tokio::test]
async fn v1_read_write_list_delete() {
    let s = common::dev();
    let m = s
        .post(
            "sys/mounts/kv",
            json!({"type": "kv", "description": "plain"}),
        )
        .await;
    assert_eq!(m.status, 204, "{:?}", m.body);
    assert_eq!(
        s.post("kv/team/db", json!({"password": "p1", "port": 5432}))
            .await
            .status,
        204
    );
    s.post("kv/team/api", json!({"key": "k"})).await;
    s.post("kv/top", json!({"x": "y"})).await;
    let r = s.get("kv/team/db").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data(), &json!({"password": "p1", "port": 5432}));
    assert_eq!(s.list("kv").await.data()["keys"], json!(["team/", "top"]));
    assert_eq!(s.list("kv/team").await.data()["keys"], json!(["api", "db"]));
    assert_eq!(
        s.post("kv/team/db", json!({"password": "p2"})).await.status,
        204
    );
    assert_eq!(s.get("kv/team/db").await.data(), &json!({"password": "p2"}));
    assert_eq!(s.delete("kv/team/db").await.status, 204);
    assert_eq!(s.get("kv/team/db").await.status, 404);
    assert_eq!(s.get("kv/missing").await.status, 404);
    assert_eq!(s.list("kv/nothing").await.status, 404);
    assert_eq!(s.post("kv/empty", json!({})).await.status, 400);
}

#[tokio::test]
async fn tuning_v1_to_v2_upgrades_in_place() {
    let s = common::dev();
    s.post(
        "sys/mounts/old",
        json!({"type": "kv", "options": {"version": "1"}}),
    )
    .await;
    s.post("old/a", json!({"v": "1"})).await;
    s.post("old/dir/b", json!({"v": "2"})).await;
    let ui = s.get("sys/internal/ui/mounts/old/a").await;
    assert_eq!(ui.data()["options"]["version"], "1");
    assert_eq!(ui.data()["path"], "old/");

    let t = s
        .post("sys/mounts/old/tune", json!({"options": {"version": "2"}}))
        .await;
    assert_eq!(t.status, 204, "{:?}", t.body);
    let a = s.get("old/data/a").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.data()["data"], json!({"v": "1"}));
    assert_eq!(a.data()["metadata"]["version"], 1);
    assert_eq!(s.get("old/data/dir/b").await.data()["data"]["v"], "2");
    assert_eq!(
        s.list("old/metadata").await.data()["keys"],
        json!(["a", "dir/"])
    );
    assert_eq!(
        s.get("sys/internal/ui/mounts/old").await.data()["options"]["version"],
        "2"
    );

    let down = s
        .post("sys/mounts/old/tune", json!({"options": {"version": "1"}}))
        .await;
    assert_eq!(down.status, 400);
}
