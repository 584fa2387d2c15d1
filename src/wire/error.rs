//! What can go wrong reading a source, as types. Each renders as one sentence for the
//! screen (Display); callers that can act on a kind match on it.

use std::time::Duration;

use crate::ssh::SshError;

/// A reply that did not have the expected shape; `what` names the format (stub_status,
/// show stat…).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing came back.
    #[error("{what}: empty reply")]
    Empty {
        /// The format.
        what: &'static str,
    },
    /// Something other than the format came back.
    #[error("{what}: expected {expected}, found {found:?}")]
    Unexpected {
        /// The format.
        what: &'static str,
        /// What the format has there.
        expected: String,
        /// What came instead, cut short and made printable.
        found: String,
    },
    /// A header lacks a column lbdeck needs.
    #[error("{what}: the {header} has no {column} column")]
    MissingColumn {
        /// The format.
        what: &'static str,
        /// Which header ("CSV header", "header").
        header: &'static str,
        /// The column.
        column: String,
    },
    /// Not the JSON the format has.
    #[error("{what}: not the expected JSON: {detail}")]
    Json {
        /// The format.
        what: &'static str,
        /// The JSON parser's sentence.
        detail: String,
    },
    /// keepalived's JSON or text dump could not be read: it is written asynchronously,
    /// so this is most often a file caught half-written.
    #[error("{what}: unreadable (half-written?): {detail}")]
    HalfWritten {
        /// Which dump.
        what: &'static str,
        /// What is missing (the JSON parser's sentence for the JSON dump).
        detail: String,
    },
    /// keepalived's dump holds a state number lbdeck does not know.
    #[error("keepalived JSON dump: unknown state {0}")]
    UnknownState(i64),
    /// NGINX Plus reports no upstream of that name.
    #[error(
        "NGINX Plus upstreams: no upstream named {0:?} (add `zone` to it so the API reports it)"
    )]
    NoUpstream(String),
    /// Any other fault of the reply, in the format's words.
    #[error("{what}: {message}")]
    Invalid {
        /// The format.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl ParseError {
    /// A fault of the reply that has no variant of its own.
    pub fn new(what: &'static str, message: impl Into<String>) -> Self {
        ParseError::Invalid {
            what,
            message: message.into(),
        }
    }

    /// "expected X, found Y" with the found text cut short and made printable.
    pub fn expected(what: &'static str, expected: &str, found: &str) -> Self {
        ParseError::Unexpected {
            what,
            expected: expected.to_string(),
            found: crate::text::clip(found, 60),
        }
    }
}

/// Why a poll of a source brought nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No answer within the timeout.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The connection could not be made (the innermost cause's sentence).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The HTTP exchange failed otherwise (the innermost cause's sentence).
    #[error("{0}")]
    Http(String),
    /// The server answered with a status other than 2xx.
    #[error("HTTP {status} from {url}")]
    Status {
        /// The status, with its reason.
        status: reqwest::StatusCode,
        /// What was asked for.
        url: String,
    },
    /// A health probe's headers came but its body did not, in time.
    #[error(
        "HTTP {status}, but the body did not arrive within {} ({read} bytes came): {cause}",
        humantime::format_duration(*timeout)
    )]
    BodyStalled {
        /// The status the headers carried.
        status: u16,
        /// The probe's timeout.
        timeout: Duration,
        /// Body bytes that did arrive.
        read: usize,
        /// Why the rest did not.
        cause: Box<SourceError>,
    },
    /// The reply was larger than [`super::MAX_REPLY`].
    #[error("reply larger than {} MiB, cut off", super::MAX_REPLY / (1024 * 1024))]
    TooBig,
    /// The HAProxy runtime API could not be reached.
    #[error("cannot connect to {api}: {reason}")]
    RuntimeConnect {
        /// The socket, as the profile names it.
        api: String,
        /// The system's sentence.
        reason: String,
    },
    /// The runtime-API connection failed mid-exchange.
    #[error("runtime API: {0}")]
    RuntimeIo(String),
    /// The reply had the wrong shape.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// SSH to the node failed.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// keepalived runs but has no instance of the profile's name.
    #[error("keepalived has no instance {0:?}")]
    NoInstance(String),
    /// A stream the follower reads ended: `node` and what ended.
    #[error("{node}: the {stream} stream ended")]
    StreamEnded {
        /// The node's alias.
        node: String,
        /// "ip monitor"…
        stream: &'static str,
    },
    /// Prometheus could not answer: unreachable, or its API said why.
    #[error("Prometheus: {0}")]
    Prometheus(String),
    /// The exporter Prometheus scrapes for this node is down (`up == 0`): the node's
    /// numbers are unknown, which says nothing of the node itself.
    #[error("exporter {instance} ({job}) is DOWN for Prometheus: {reason}")]
    ExporterDown {
        /// The target's `instance` label.
        instance: String,
        /// Its `job` label.
        job: String,
        /// Prometheus' `lastError` for it.
        reason: String,
    },
    /// Prometheus' newest sample of a target is older than two scrape intervals.
    #[error(
        "stale: Prometheus' newest sample of {instance} is {:.1} s old (scraped every {})",
        .age.as_secs_f64(),
        humantime::format_duration(*.interval)
    )]
    Stale {
        /// The target's `instance` label.
        instance: String,
        /// Age of its newest sample.
        age: Duration,
        /// Its scrape interval.
        interval: Duration,
    },
    /// keepalived's notify FIFO did not open on the node.
    #[error("{0}: the notify FIFO could not be opened")]
    FifoUnopened(String),
    /// The notify log could not be followed on the node.
    #[error("{0}: the notify log could not be followed")]
    NotifyLogUnopened(String),
}

impl SourceError {
    /// The numbers are missing because the exporter Prometheus scrapes is down or its
    /// samples are stale: nothing is known of the node itself.
    pub fn exporter_side(&self) -> bool {
        matches!(
            self,
            SourceError::ExporterDown { .. } | SourceError::Stale { .. }
        )
    }

    /// Turns a reqwest error into its kind, with the innermost cause's sentence.
    pub fn from_reqwest(e: &reqwest::Error, timeout: Duration) -> Self {
        if e.is_timeout() {
            return SourceError::Timeout(timeout);
        }
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let text = cause.to_string();
        if e.is_connect() {
            SourceError::Connect(text)
        } else {
            SourceError::Http(text)
        }
    }
}

/// A source failure as its sentence, for callers outside the sources that still build or
/// read the text (the access-log follower, the drain); new code uses [`SourceError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

impl From<SourceError> for FetchError {
    fn from(e: SourceError) -> Self {
        FetchError(e.to_string())
    }
}
