//! A minimal HTTP/1.1 responder for the demo's endpoints: one request per connection,
//! `Connection: close`, bounded head and body size and read time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Sim;

/// Largest request head read: the console sends a few hundred bytes.
const MAX_HEAD: usize = 8192;
/// Largest request body read: a PATCH to the Plus API is a few bytes of JSON.
const MAX_BODY: usize = 4096;

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
pub enum Route {
    /// nginx stub_status of balancer N.
    StubStatus(usize),
    /// Health endpoint of backend N.
    Health(usize),
    /// The site through the VIP.
    Vip,
    /// NGINX Plus API of balancer N.
    PlusApi(usize),
    /// HAProxy's Prometheus exporter (and keepalived's state) of balancer N.
    Metrics(usize),
}

/// One request as the demo reads it.
struct Request {
    method: String,
    path: String,
    body: String,
}

/// Reads a request: its head, then as much body as `Content-Length` says (bounded).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut data = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if data.len() >= MAX_HEAD {
            return None;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    while data.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let mut first = head.split_whitespace();
    let end = (head_end + length).min(data.len());
    Some(Request {
        method: first.next().unwrap_or("").to_string(),
        path: first.next().unwrap_or("/").to_string(),
        body: String::from_utf8_lossy(&data[head_end..end]).into_owned(),
    })
}

/// The reason phrase of the statuses the demo answers.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    }
}

/// Serves `route` on `listener` until aborted.
pub fn serve(listener: TcpListener, route: Route, sim: Arc<Mutex<Sim>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let sim = sim.clone();
            tokio::spawn(async move {
                let read = tokio::time::timeout(Duration::from_secs(5), read_request(&mut stream));
                let Ok(Some(request)) = read.await else {
                    return;
                };
                let (status, body, delay) = respond(route, &request, &sim);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let content_type = match route {
                    Route::PlusApi(_) => "application/json",
                    _ => "text/plain",
                };
                let reply = format!(
                    "HTTP/1.1 {status} {}\r\nServer: nginx\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    })
}

fn respond(route: Route, request: &Request, sim: &Arc<Mutex<Sim>>) -> (u16, String, Duration) {
    let Ok(mut s) = sim.lock() else {
        return (503, "simulation stopped\n".into(), Duration::ZERO);
    };
    match route {
        Route::StubStatus(lb) => (200, s.stub_status(lb), Duration::ZERO),
        Route::Metrics(lb) => (200, super::metrics::exposition(&s, lb), Duration::ZERO),
        Route::PlusApi(lb) => {
            let (status, body) =
                super::plus::answer(&mut s, lb, &request.method, &request.path, &request.body);
            (status, body, Duration::ZERO)
        }
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
            Some(h) if s.has_server(h) => (200, format!("served by lb{}\n", h + 1), Duration::ZERO),
            // What HAProxy and nginx answer with no server to send the request to.
            Some(_) => (503, "no server is available\n".into(), Duration::ZERO),
            // Nobody holds the VIP: a real client would wait and fail.
            None => (
                503,
                "no balancer holds the VIP\n".into(),
                Duration::from_millis(900),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vip_answers_503_when_no_server_is_in_rotation() {
        let sim = Arc::new(Mutex::new(Sim::new(2)));
        sim.lock().expect("sim").step(1.0);
        let get = Request {
            method: "GET".into(),
            path: "/".into(),
            body: String::new(),
        };
        assert_eq!(respond(Route::Vip, &get, &sim).0, 200);
        for b in &mut sim.lock().expect("sim").backends {
            b.admin = [crate::state::ServerState::Drain; 2];
        }
        let (status, body, _) = respond(Route::Vip, &get, &sim);
        assert_eq!((status, body.as_str()), (503, "no server is available\n"));
    }
}
