//! Errors of the ingest stage. Each says whether trying again later can help, which drives the
//! fetch retries and the source health record.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("http status {status} from {url}")]
    Status {
        url: String,
        status: u16,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    #[error("{url} deferred for {}s at the server's request (retry-after)", wait.as_secs())]
    Deferred { url: String, wait: Duration },
    #[error("network error fetching {url}: {reason}")]
    Network { url: String, reason: String },
    #[error("timed out fetching {url}")]
    Timeout { url: String },
    #[error("body of {url} exceeds the {limit} byte cap")]
    TooLarge { url: String, limit: u64 },
    #[error("refused {url}: {reason}")]
    Refused { url: String, reason: String },
    #[error("robots.txt disallows {url}")]
    RobotsDisallowed { url: String },
    #[error("too many redirects from {url}")]
    TooManyRedirects { url: String },
    #[error("unsupported content type {content_type:?} at {url}")]
    ContentType { url: String, content_type: String },
    #[error("cannot parse {what}: {reason}")]
    Parse { what: String, reason: String },
    #[error("bad url {0:?}")]
    BadUrl(String),
    #[error("crawl state: {0}")]
    State(#[from] sled::Error),
    #[error("bus: {0}")]
    Bus(#[from] common::BusError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("shutting down")]
    Shutdown,
}

impl Error {
    /// Whether the same request can succeed later (network trouble, overload, server errors),
    /// as opposed to a refusal, a malformed resource or a misconfiguration.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            Error::Network { .. }
            | Error::Timeout { .. }
            | Error::Deferred { .. }
            | Error::State(_)
            | Error::Io(_) => true,
            Error::Bus(e) => e.is_retryable(),
            Error::TooLarge { .. }
            | Error::Refused { .. }
            | Error::RobotsDisallowed { .. }
            | Error::TooManyRedirects { .. }
            | Error::ContentType { .. }
            | Error::Parse { .. }
            | Error::BadUrl(_)
            | Error::Config(_)
            | Error::Shutdown => false,
        }
    }

    /// How long the server asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn parse(what: impl Into<String>, reason: impl ToString) -> Self {
        Error::Parse {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
