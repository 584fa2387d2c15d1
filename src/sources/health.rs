//! Our own HTTP probes: each backend's health URL and the end-to-end check through the VIP.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::FetchError;

/// The answer to one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// HTTP status code.
    pub status: u16,
    /// Time until the response headers arrived.
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

/// GETs `url` and times it; the body is not read.
pub async fn probe(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Probe, FetchError> {
    let started = Instant::now();
    let resp = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| FetchError::from_reqwest(&e, timeout))?;
    Ok(Probe {
        status: resp.status().as_u16(),
        latency: started.elapsed(),
    })
}
