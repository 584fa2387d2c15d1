//! Fetching from in-process servers: NGINX Plus recorded JSON (Plus cannot run here),
//! and servers that misbehave — hang, trickle, or answer too much. Every call must end
//! within its timeout with a sentence, never hang the caller.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use lbdeck::config::profile::Profile;
use lbdeck::sources::{poll_once, BalancerSample, SourceUpdate};

/// Serves `body` to every HTTP request on a fresh loopback port, `delay` before answering.
async fn http_server(body: String, delay: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    addr
}

fn profile(balancer: &str, timeout: &str) -> Profile {
    let text = format!("name = \"t\"\ntimeout = \"{timeout}\"\n[[balancers]]\nname = \"lb1\"\nhost = \"127.0.0.1\"\n{balancer}\n");
    Profile::parse("t.toml", &text).expect("profile")
}

fn balancer_result(updates: Vec<SourceUpdate>) -> Result<BalancerSample, String> {
    match updates.into_iter().next() {
        Some(SourceUpdate::Balancer { result, .. }) => result.map_err(|e| e.to_string()),
        other => panic!("expected a balancer update, got {other:?}"),
    }
}

#[tokio::test]
async fn nginx_plus_recorded_upstreams_through_the_real_fetch_path() {
    let body = include_str!("fixtures/nginx_plus/upstreams.json").to_string();
    let addr = http_server(body, Duration::ZERO).await;
    let p = profile(
        &format!("kind = \"nginx-plus\"\nstatus_url = \"http://{addr}/api\"\nbackend = \"be_web\""),
        "1s",
    );
    match balancer_result(poll_once(&p, None).await) {
        Ok(BalancerSample::Plus(peers)) => {
            assert_eq!(peers.len(), 3);
            assert_eq!(peers[1].state, "draining");
        }
        other => panic!("expected Plus peers, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_with_a_sentence() {
    // Accepts the connection, reads, never writes.
    let addr = http_server(String::new(), Duration::from_secs(3600)).await;
    let p = profile(
        &format!("kind = \"nginx\"\nstatus_url = \"http://{addr}/nginx_status\""),
        "300ms",
    );
    let started = Instant::now();
    let err = balancer_result(poll_once(&p, None).await).expect_err("must fail");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(err, "no answer within 300ms");
}

#[tokio::test]
async fn a_runtime_api_that_accepts_but_stays_silent_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let p = profile(
        &format!("kind = \"haproxy\"\nruntime_api = \"tcp://{addr}\""),
        "300ms",
    );
    let started = Instant::now();
    let err = balancer_result(poll_once(&p, None).await).expect_err("must fail");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err, "no answer within 300ms");
}

/// Answers every request with `head`, then one byte of body every `every`, `bytes` times.
async fn trickling_server(
    head: &'static [u8],
    every: Duration,
    bytes: usize,
) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(head).await;
                for _ in 0..bytes {
                    if s.write_all(b"A").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_trickling_server_is_cut_at_the_timeout() {
    let addr = trickling_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
        Duration::from_millis(50),
        100_000,
    )
    .await;
    let p = profile(
        &format!("kind = \"nginx\"\nstatus_url = \"http://{addr}/nginx_status\""),
        "400ms",
    );
    let started = Instant::now();
    let err = balancer_result(poll_once(&p, None).await).expect_err("must fail");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.contains("within 400ms"), "{err}");
}

#[tokio::test]
async fn an_oversized_reply_is_cut_off_with_a_message() {
    let body = "x".repeat(lbdeck::wire::MAX_REPLY + 1024);
    let addr = http_server(body, Duration::ZERO).await;
    let p = profile(
        &format!("kind = \"nginx\"\nstatus_url = \"http://{addr}/nginx_status\""),
        "10s",
    );
    let err = balancer_result(poll_once(&p, None).await).expect_err("must fail");
    assert!(err.contains("cut off"), "{err}");
}

#[tokio::test]
async fn a_wrong_page_says_what_was_expected() {
    let addr = http_server("<html>Welcome to nginx!</html>".into(), Duration::ZERO).await;
    let p = profile(
        &format!("kind = \"nginx\"\nstatus_url = \"http://{addr}/\""),
        "1s",
    );
    let err = balancer_result(poll_once(&p, None).await).expect_err("must fail");
    assert!(
        err.starts_with("stub_status: expected \"Active connections: N\""),
        "{err}"
    );
}

#[tokio::test]
async fn one_runtime_api_connection_per_poll_answers_all_three_commands() {
    // The reply HAProxy 2.6 gave the lab to the very line lbdeck sends.
    let reply = include_str!("fixtures/haproxy/poll_batch.txt");
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let _ = seen_tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    let p = profile(
        &format!("kind = \"haproxy\"\nruntime_api = \"tcp://{addr}\"\nbackend = \"be_web\""),
        "1s",
    );
    match balancer_result(poll_once(&p, None).await) {
        Ok(BalancerSample::Haproxy {
            info,
            stats,
            admin,
            access,
        }) => {
            let access = access.expect("how it was reached");
            assert_eq!(access.reach, "tcp");
            let info = info.expect("show info read");
            assert!(info.version.starts_with("2.6"), "{}", info.version);
            assert!(stats.iter().any(|r| r.svname == "web1"));
            assert_eq!(admin.expect("show servers state read").len(), 3);
        }
        other => panic!("expected HAProxy stats, got {other:?}"),
    }
    assert_eq!(
        seen.recv().await.as_deref(),
        Some("show info; show servers state be_web; show stat\n")
    );
    // The socket's level is asked apart, once; this API names none, so an admin-only
    // command that changes nothing decides.
    assert_eq!(seen.recv().await.as_deref(), Some("show cli level\n"));
    assert_eq!(seen.recv().await.as_deref(), Some("set server\n"));
    assert!(seen.try_recv().is_err(), "another connection was made");
}

/// Answers the first request of every connection and keeps it alive; a second request on
/// the same connection is answered with a reset, as the old MASTER does after a VIP move.
async fn resetting_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                if s.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                let _ = s.read(&mut buf).await;
                let _ = s.set_zero_linger();
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_reset_kept_alive_connection_is_not_an_outage() {
    let addr = resetting_server().await;
    let timeout = Duration::from_secs(2);
    let client = lbdeck::wire::http_client(timeout);
    let url = format!("http://{addr}/");
    for round in 0..3 {
        let probe = lbdeck::wire::health::probe(&client, &url, timeout).await;
        assert_eq!(
            probe.map(|p| p.status).map_err(|e| e.to_string()),
            Ok(200),
            "round {round}: a fresh request answers"
        );
    }
}

#[tokio::test]
async fn a_refused_probe_still_fails_at_once() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    let timeout = Duration::from_secs(2);
    let client = lbdeck::wire::http_client(timeout);
    let started = Instant::now();
    let probe = lbdeck::wire::health::probe(&client, &format!("http://{addr}/"), timeout).await;
    assert!(probe.is_err(), "{probe:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Serves each connection with `answers` in turn, one per request read, then closes it;
/// counts the connections made.
async fn scripted_server(
    answers: Vec<&'static str>,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answers = answers.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                for a in answers {
                    if s.read(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if s.write_all(a.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[tokio::test]
async fn a_kept_probe_asks_every_round_on_one_connection() {
    let chunked =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n3;x=1\r\nyes\r\n0\r\n\r\n";
    // Early hints and the answer in one write: the answer is read from what is left.
    let hinted = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (addr, conns) = scripted_server(vec![
        OK,
        chunked,
        hinted,
        "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
    ])
    .await;
    let client = lbdeck::wire::http_client(Duration::from_secs(1));
    let mut prober = lbdeck::wire::health::Prober::default();
    let url = format!("http://{addr}/health");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let p = prober.probe(&client, &url, Duration::from_secs(1)).await;
        statuses.push(p.map(|p| p.status).map_err(|e| e.to_string()));
    }
    assert_eq!(statuses, vec![Ok(200), Ok(200), Ok(200), Ok(503)]);
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Three rounds of `prober` on `url`: each round's status, or its sentence.
async fn three_rounds(
    prober: &mut lbdeck::wire::health::Prober,
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Vec<Result<u16, String>> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let p = prober.probe(client, url, timeout).await;
        out.push(p.map(|p| p.status).map_err(|e| e.to_string()));
    }
    out
}

#[tokio::test]
async fn a_kept_probe_connects_anew_when_the_server_says_close_or_drops_it() {
    let close = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let (addr, conns) = scripted_server(vec![close]).await;
    let client = lbdeck::wire::http_client(Duration::from_secs(1));
    let mut prober = lbdeck::wire::health::Prober::default();
    let url = format!("http://{addr}/");
    assert_eq!(
        three_rounds(&mut prober, &client, &url, Duration::from_secs(1)).await,
        [Ok(200), Ok(200), Ok(200)]
    );
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Dropped without a word after one answer (no `close`): the next round's request on
    // the dead connection is sent again on a fresh one, and is not an outage.
    let (addr, conns) = scripted_server(vec![OK]).await;
    let url = format!("http://{addr}/");
    assert_eq!(
        three_rounds(&mut prober, &client, &url, Duration::from_secs(1)).await,
        [Ok(200), Ok(200), Ok(200)],
        "a fresh request answers every round"
    );
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Reset (as the old MASTER does after a VIP move): the same.
    let addr = resetting_server().await;
    let url = format!("http://{addr}/");
    assert_eq!(
        three_rounds(&mut prober, &client, &url, Duration::from_secs(2)).await,
        [Ok(200), Ok(200), Ok(200)],
        "a fresh request answers every round"
    );
}

#[tokio::test]
async fn a_kept_probe_fails_with_the_same_sentences() {
    let client = lbdeck::wire::http_client(Duration::from_secs(1));
    let mut prober = lbdeck::wire::health::Prober::default();
    let second = Duration::from_secs(1);
    // Refused: at once, as a failed connect.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refused = l.local_addr().expect("addr");
    drop(l);
    let started = Instant::now();
    let e = prober
        .probe(&client, &format!("http://{refused}/"), second)
        .await
        .expect_err("refused");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(
        e.to_string()
            .starts_with("cannot connect: Connection refused"),
        "{e}"
    );
    // Silent: no answer within the timeout.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
        }
    });
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hung = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let started = Instant::now();
    let e = prober
        .probe(&client, &format!("http://{hung}/"), second)
        .await
        .expect_err("silent");
    assert_eq!(e.to_string(), "no answer within 1s");
    assert!(started.elapsed() < Duration::from_millis(1300));
    // Closed without answering on a fresh connection: a sentence, not a hang.
    let e = prober
        .probe(&client, &format!("http://{silent}/"), second)
        .await
        .expect_err("closed");
    assert_eq!(e.to_string(), "the connection closed before an answer");
    // Headers, then a body that trickles: a stalled body, with what came.
    let trickle = trickling_server(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab",
        Duration::from_millis(100),
        30,
    )
    .await;
    let e = prober
        .probe(&client, &format!("http://{trickle}/"), second)
        .await
        .expect_err("trickle");
    let text = e.to_string();
    assert!(
        text.starts_with("HTTP 200, but the body did not arrive within 1s (")
            && text.ends_with("bytes came): no answer within 1s"),
        "{text}"
    );
    // Not HTTP at all.
    let (ssh, _) = scripted_server(vec!["SSH-2.0-OpenSSH_9.2\r\n"]).await;
    let e = prober
        .probe(&client, &format!("http://{ssh}/"), second)
        .await
        .expect_err("not http");
    assert!(e.to_string().starts_with("not an HTTP answer"), "{e}");
}

#[tokio::test]
async fn a_redirect_is_an_answer_for_both_probes() {
    // Followed, it would lead to a refused port; as the balancers' checks do, it counts.
    let moved =
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n";
    let (addr, _) = scripted_server(vec![moved, moved]).await;
    let url = format!("http://{addr}/");
    let second = Duration::from_secs(1);
    let client = lbdeck::wire::http_client(second);
    let kept = lbdeck::wire::health::Prober::default()
        .probe(&client, &url, second)
        .await
        .expect("kept probe");
    let once = lbdeck::wire::health::probe(&client, &url, second)
        .await
        .expect("one-shot probe");
    assert_eq!((kept.status, once.status), (302, 302));
    assert!(kept.healthy() && once.healthy());
}
