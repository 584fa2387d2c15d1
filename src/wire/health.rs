//! Our own HTTP probes: each backend's health URL and the end-to-end check through the VIP.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::http1::{Failure, KeptGet, Plain, Progress};
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

/// A probe that keeps its connection between rounds: a plain `http://` URL is asked with
/// one write and one read on a kept-alive socket ([`super::http1`]); any other URL (https,
/// credentials in it) through reqwest, as [`probe`]. What it reports is the same either
/// way: the status, the time until the whole answer arrived, and the same sentences when
/// it fails.
#[derive(Default)]
pub struct Prober {
    /// The URL the plan was made for, and the plan (None: through reqwest).
    plan: Option<(String, Option<Plain>)>,
    conn: KeptGet,
}

impl Prober {
    /// Probes `url` within `timeout`. A request lost with the kept connection (the other
    /// end closed it while idle, the VIP moved) is sent once more on a fresh one.
    pub async fn probe(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> Result<Probe, SourceError> {
        if self.plan.as_ref().is_none_or(|(u, _)| u != url) {
            self.plan = Some((url.to_string(), Plain::parse(url)));
            self.conn.reset();
        }
        let Some((_, Some(plain))) = &self.plan else {
            return probe(client, url, timeout).await;
        };
        let started = Instant::now();
        match once(&mut self.conn, plain, timeout, timeout).await {
            Err(Retry) => {
                let left = timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(SourceError::Timeout(timeout));
                }
                match once(&mut self.conn, plain, left, timeout).await {
                    Ok(r) => r,
                    // A fresh connection is never stale.
                    Err(Retry) => Err(SourceError::Http(
                        "the connection closed before an answer".into(),
                    )),
                }
            }
            Ok(r) => r,
        }
    }
}

/// One exchange on `conn` within `within`; errors say `timeout`. Err(Retry): a kept
/// connection was gone before any of the answer came.
async fn once(
    conn: &mut KeptGet,
    plain: &Plain,
    within: Duration,
    timeout: Duration,
) -> Result<Result<Probe, SourceError>, Retry> {
    let started = Instant::now();
    let mut progress = Progress::default();
    let got = tokio::time::timeout(within, conn.get(plain, BODY_ENOUGH, &mut progress)).await;
    let failed = |cause: SourceError| match progress.status {
        Some(status) => SourceError::BodyStalled {
            status,
            timeout,
            read: progress.read,
            cause: Box::new(cause),
        },
        None => cause,
    };
    Ok(match got {
        Ok(Ok(status)) => Ok(Probe {
            status,
            latency: started.elapsed(),
        }),
        Ok(Err(Failure::Stale)) => return Err(Retry),
        Ok(Err(Failure::Connect(e))) => Err(SourceError::Connect(e.to_string())),
        Ok(Err(Failure::Broken(why))) => Err(failed(SourceError::Http(why))),
        Err(_) => {
            conn.reset();
            Err(failed(SourceError::Timeout(timeout)))
        }
    })
}

/// A kept connection was gone before any of the answer came.
struct Retry;
