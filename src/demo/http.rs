//! A minimal HTTP/1.1 responder for the demo's endpoints: one request per connection,
//! `Connection: close`, bounded header size and read time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Sim;

/// Largest request head read: the console sends a few hundred bytes.
const MAX_HEAD: usize = 8192;

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// nginx stub_status of balancer N.
    StubStatus(usize),
    /// Health endpoint of backend N.
    Health(usize),
    /// The site through the VIP.
    Vip,
}

/// Serves `route` on `listener` until aborted.
pub fn serve(listener: TcpListener, route: Route, sim: Arc<Mutex<Sim>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let sim = sim.clone();
            tokio::spawn(async move {
                let mut head = Vec::with_capacity(512);
                let mut buf = [0u8; 1024];
                let read = tokio::time::timeout(Duration::from_secs(5), async {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return false,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    true
                })
                .await;
                if !matches!(read, Ok(true)) {
                    return;
                }
                let (status, body, delay) = respond(route, &sim);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let reason = if status == 200 {
                    "OK"
                } else {
                    "Service Unavailable"
                };
                let reply = format!(
                    "HTTP/1.1 {status} {reason}\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    })
}

fn respond(route: Route, sim: &Arc<Mutex<Sim>>) -> (u16, String, Duration) {
    let Ok(s) = sim.lock() else {
        return (503, "simulation stopped\n".into(), Duration::ZERO);
    };
    match route {
        Route::StubStatus(lb) => (200, s.stub_status(lb), Duration::ZERO),
        Route::Health(i) => {
            let b = &s.backends[i];
            let delay = Duration::from_micros((b.rtime_ms * 100.0) as u64);
            if b.up {
                (200, format!("ok {}\n", b.name), delay)
            } else {
                (503, "unhealthy\n".into(), delay)
            }
        }
        Route::Vip => match s.pair.holder {
            Some(h) => (200, format!("served by lb{}\n", h + 1), Duration::ZERO),
            // Nobody holds the VIP: a real client would wait and fail.
            None => (
                503,
                "no balancer holds the VIP\n".into(),
                Duration::from_millis(900),
            ),
        },
    }
}
