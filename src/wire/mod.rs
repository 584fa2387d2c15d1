//! The daemons' wire formats and how lbdeck reaches them: one pure parser per format
//! (tested on captures from the real daemon), the runtime-API and HTTP transport, the
//! health probe and the nginx upstream file. Shared by the pollers in `sources` and the
//! changes in `ops`, neither of which depends on the other.

pub mod api;
pub mod audit;
mod error;
pub mod haproxy;
pub mod health;
pub mod http1;
pub mod keepalived;
pub mod nginx;
pub mod nginx_plus;
pub mod upstream;
pub mod upstream_file;

use std::time::Duration;

pub use error::{FetchError, ParseError, SourceError};

/// Largest reply accepted from any source: a stats page of ~10,000 servers fits; anything
/// bigger is cut off with a message rather than filling memory.
pub const MAX_REPLY: usize = 16 * 1024 * 1024;

/// How many timeouts a runtime-API socket over SSH may take: the SSH connection is made
/// (up to two timeouts, as every SSH connect) before the API is asked (one more).
pub const SSH_BUDGET: u32 = 3;

/// The HTTP client every source shares: no redirects followed for status pages, no proxy
/// from the environment (status pages are on the admin network), bounded connections.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy()
        // A 3xx is an answer: health checks count it healthy, as the balancers' own do.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(2)
        .user_agent(concat!("lbdeck/", env!("CARGO_PKG_VERSION")));
    match tls() {
        Some(tls) => builder.tls_backend_preconfigured(tls),
        None => builder,
    }
    .build()
    .unwrap_or_default()
}

/// The TLS settings of every client, built once: the system's CA roots are read and
/// parsed when a verifier is made (about 140 files, a tenth of a megabyte held), and a
/// fleet of two hundred clusters, each with its clients, would otherwise hold two
/// hundred copies and read them two hundred times. HTTP/1.1, as reqwest offers it here.
/// Without readable roots HTTPS fails with an unknown issuer where plain HTTP still
/// works. None when the crypto provider offers no usable protocol version: reqwest then
/// builds its own (and says why).
fn tls() -> Option<rustls::ClientConfig> {
    use std::sync::{Arc, OnceLock};
    static TLS: OnceLock<Option<rustls::ClientConfig>> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .ok()?;
        let mut config = match rustls_platform_verifier::Verifier::new(provider) {
            Ok(v) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(v))
                .with_no_client_auth(),
            Err(e) => {
                tracing::warn!(error = %e, "no CA roots read: HTTPS cannot be verified");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(config)
    })
    .clone()
}

/// GETs a URL's body as text, refusing non-2xx answers and bodies over [`MAX_REPLY`].
pub async fn get_text(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<String, SourceError> {
    let (status, body) = get_any(client, url, timeout, false).await?;
    if !status.is_success() {
        return Err(SourceError::Status {
            status,
            url: url.to_string(),
        });
    }
    Ok(body)
}

/// GETs a URL's status and body as text (bodies over [`MAX_REPLY`] refused); the body of
/// a non-2xx answer is read only when `error_body` asks for it (an API explaining why).
pub async fn get_any(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    error_body: bool,
) -> Result<(reqwest::StatusCode, String), SourceError> {
    let reqwest_err = |e: reqwest::Error| SourceError::from_reqwest(&e, timeout);
    let mut resp = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(reqwest_err)?;
    let status = resp.status();
    if !status.is_success() && !error_body {
        return Ok((status, String::new()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(reqwest_err)? {
        if body.len() + chunk.len() > MAX_REPLY {
            return Err(SourceError::TooBig);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_gets_the_tls_settings_built_once() {
        let config = tls().expect("aws-lc-rs offers TLS 1.2 and 1.3");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        // Built once: a second call hands out the same settings (the same provider, made
        // when they were built), not a new reading of the roots.
        let again = tls().expect("built once");
        assert!(std::sync::Arc::ptr_eq(
            &config.crypto_provider().clone(),
            &again.crypto_provider().clone()
        ));
    }
}
