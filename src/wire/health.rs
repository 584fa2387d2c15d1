//! Our own HTTP probes: each backend's health URL and the end-to-end check through the VIP.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::SourceError;

/// The answer to one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// HTTP status code.
    pub status: u16,
    /// Time until the whole response arrived.
    #[serde(serialize_with = "ms", rename = "latency_ms")]
    pub latency: Duration,
}

impl Probe {
    /// 2xx and 3xx count as healthy, as load balancers' HTTP checks do by default.
    pub fn healthy(&self) -> bool {
        (200..400).contains(&self.status)
    }
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
}

/// Health bodies are small; past this much the rest is not waited for.
const BODY_ENOUGH: usize = 64 * 1024;

/// GETs `url` and times it until the whole response arrived (a backend that sends its
/// headers and then trickles the body within the timeout is not healthy). A request
/// lost with a reused connection is sent once more on a fresh one.
pub async fn probe(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Probe, SourceError> {
    let mut started = Instant::now();
    let mut resp = match client.get(url).timeout(timeout).send().await {
        Ok(r) => r,
        // Not a timeout and not a failed connect: the request died on a kept-alive
        // connection the other end dropped (the VIP moved, the backend restarted). That
        // says nothing about a new request, so one on a fresh connection decides.
        Err(e) if !e.is_timeout() && !e.is_connect() => {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(SourceError::from_reqwest(&e, timeout));
            }
            started = Instant::now();
            super::http_client(left)
                .get(url)
                .send()
                .await
                .map_err(|e| SourceError::from_reqwest(&e, timeout))?
        }
        Err(e) => return Err(SourceError::from_reqwest(&e, timeout)),
    };
    let status = resp.status().as_u16();
    let mut read = 0usize;
    while read < BODY_ENOUGH {
        match resp.chunk().await {
            Ok(Some(c)) => read += c.len(),
            Ok(None) => break,
            Err(e) => {
                return Err(SourceError::BodyStalled {
                    status,
                    timeout,
                    read,
                    cause: Box::new(SourceError::from_reqwest(&e, timeout)),
                })
            }
        }
    }
    Ok(Probe {
        status,
        latency: started.elapsed(),
    })
}
