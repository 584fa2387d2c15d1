//! NGINX Plus cannot run here: its API is served in-process from recorded responses (the
//! documented v9 shapes), with the servers' drain flag kept as state so that `lbdeck
//! drain` goes through its real PATCH and read-back path.

use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves the recorded upstreams and a stateful servers collection; returns its address.
async fn plus_api(servers: Arc<Mutex<Vec<Value>>>) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let servers = servers.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16384];
                let mut n = 0;
                loop {
                    let Ok(k) = s.read(&mut buf[n..]).await else {
                        return;
                    };
                    if k == 0 {
                        return;
                    }
                    n += k;
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let len = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if n >= head_end + 4 + len {
                            break;
                        }
                    }
                }
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let mut first = text.lines().next().unwrap_or("").split_whitespace();
                let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
                let (status, reply) = match (method, path) {
                    ("GET", "/api/9/http/upstreams") => (
                        200,
                        include_str!("fixtures/nginx_plus/upstreams.json").to_string(),
                    ),
                    ("GET", "/api/9/http/upstreams/be_web/servers") => (
                        200,
                        Value::Array(servers.lock().expect("lock").clone()).to_string(),
                    ),
                    (m, p) if p.starts_with("/api/9/http/upstreams/be_web/servers/") => {
                        let id: u64 = p
                            .rsplit('/')
                            .next()
                            .and_then(|x| x.parse().ok())
                            .unwrap_or(99);
                        let mut all = servers.lock().expect("lock");
                        match all.iter_mut().find(|s| s["id"] == id) {
                            Some(srv) => {
                                if m == "PATCH" {
                                    let patch: Value =
                                        serde_json::from_str(body).unwrap_or_default();
                                    if let Some(d) = patch.get("drain") {
                                        srv["drain"] = d.clone();
                                    }
                                }
                                (200, srv.to_string())
                            }
                            None => (
                                404,
                                json!({"error": {"status": 404, "text": "server not found"}})
                                    .to_string(),
                            ),
                        }
                    }
                    _ => (404, "{}".to_string()),
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_patches_nginx_plus_and_reads_it_back() {
    let servers = Arc::new(Mutex::new(
        (0..3)
            .map(|i| json!({"id": i, "server": format!("10.0.0.2{}:80", i + 1), "weight": 1, "backup": false, "down": false, "drain": false}))
            .collect::<Vec<_>>(),
    ));
    let addr = plus_api(servers.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let profile = dir.path().join("plus.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"plus\"\nenvironment = \"staging\"\ntimeout = \"1s\"\n[[balancers]]\nname = \"p1\"\nhost = \"127.0.0.1\"\nkind = \"nginx-plus\"\n\
             status_url = \"http://{addr}/api\"\nbackend = \"be_web\"\n\
             [[backends]]\nname = \"web1\"\naddress = \"10.0.0.21:80\"\nhealth_url = \"http://127.0.0.1:9/\"\n\
             [[backends]]\nname = \"web2\"\naddress = \"10.0.0.22:80\"\nhealth_url = \"http://127.0.0.1:9/\"\n"
        ),
    )
    .expect("profile");
    let run = |args: Vec<String>| {
        let state = dir.path().join("state");
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_lbdeck"))
                .args(&args)
                .env("XDG_STATE_HOME", &state)
                .env("HOME", &state)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("lbdeck")
        })
    };
    let p = profile.display().to_string();
    let o = run(vec![
        "drain".into(),
        "--profile".into(),
        p.clone(),
        "web2".into(),
        "--yes".into(),
    ])
    .await
    .expect("join");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("(before: UP on p1; after: DRAIN on p1)"),
        "{out}"
    );
    assert_eq!(
        servers.lock().expect("lock")[1]["drain"],
        true,
        "the PATCH reached the API"
    );
    let o = run(vec![
        "undrain".into(),
        "--profile".into(),
        p.clone(),
        "web2".into(),
        "--yes".into(),
    ])
    .await
    .expect("join");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(servers.lock().expect("lock")[1]["drain"], false);
    // A server the API does not have: failed, exit 1, nothing changed.
    servers.lock().expect("lock").retain(|s| s["id"] != 1);
    let o = run(vec![
        "drain".into(),
        "--profile".into(),
        p,
        "web2".into(),
        "--yes".into(),
    ])
    .await
    .expect("join");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("failed") && out.contains("no server 10.0.0.22:80"),
        "{out}"
    );
}
