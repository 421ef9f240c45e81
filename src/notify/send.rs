//! Sending (client required): one task and one bounded queue per target, so a slow or failing
//! target delays only its own messages, in order (a commit's `pending` always goes before its
//! final status). Connection errors, timeouts, 408, 429 and 5xx answers are retried with a
//! doubling delay; other answers (a refused token, a wrong repository) are not, as no retry
//! would change them. A message that still fails is logged (never with its URL or token) and
//! counted, then dropped.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::render::{self, Outgoing};
use super::secret::FileSecret;
use super::tracker::Message;
use super::{NotifyError, NotifyResult, Observer};
use crate::backoff::Backoff;
use crate::config::{AlertFormat, AlertOn, Forge, ForgeRepository, MAX_RETRY_DELAY};
use crate::source::redact::scrub;

/// An HTTPS (and HTTP) client with the system's root certificates.
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Result<Self, NotifyError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|error| NotifyError::Client(error.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// One attempt. The error never holds the URL or a header value.
    async fn send(&self, outgoing: &Outgoing) -> Result<(), SendError> {
        let mut request = hyper::Request::post(&outgoing.url);
        for (name, value) in &outgoing.headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(outgoing.body.clone())))
            .map_err(|_| SendError::BadRequest)?;
        let answer = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(request).await?;
            let status = response.status();
            // Read the answer to its end so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok::<_, hyper_util::client::legacy::Error>(status)
        })
        .await;
        match answer {
            Err(_) => Err(SendError::Timeout(self.timeout)),
            Ok(Err(error)) => {
                let mut text = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                let secrets: Vec<&str> = std::iter::once(outgoing.url.as_str())
                    .chain(outgoing.headers.iter().map(|(_, v)| v.as_str()))
                    .collect();
                Err(SendError::Transport(scrub(&text, &secrets)))
            }
            Ok(Ok(status)) if status.is_success() => Ok(()),
            Ok(Ok(status)) => Err(SendError::Status(status.as_u16())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    #[error("the request could not be built (is the URL valid?)")]
    BadRequest,
}

impl SendError {
    fn retryable(&self) -> bool {
        match self {
            SendError::Status(code) => matches!(code, 408 | 429) || *code >= 500,
            SendError::Timeout(_) | SendError::Transport(_) => true,
            SendError::BadRequest => false,
        }
    }
}

/// Where one target sends, and its secrets.
pub(crate) enum Target {
    Forge {
        forge: Forge,
        repository: ForgeRepository,
        context: String,
        token: FileSecret,
    },
    Webhook {
        format: AlertFormat,
        url: FileSecret,
        hmac_key: Option<FileSecret>,
        on: Vec<AlertOn>,
        instance: String,
    },
}

impl Target {
    /// The `provider` label of the notifications metric.
    pub(crate) fn provider(&self) -> &'static str {
        match self {
            Target::Forge { forge, .. } => forge.name(),
            Target::Webhook {
                format: AlertFormat::Generic,
                ..
            } => "webhook",
            Target::Webhook {
                format: AlertFormat::Slack,
                ..
            } => "slack",
        }
    }

    /// Which messages it sends.
    pub(crate) fn route(&self) -> Route {
        match self {
            Target::Forge { .. } => Route::Statuses,
            Target::Webhook { on, .. } => Route::Alerts(on.clone()),
        }
    }

    /// The request for `message`, with the secrets as their files hold them now.
    fn request(&self, message: &Message) -> Option<Outgoing> {
        match (self, message) {
            (
                Target::Forge {
                    forge,
                    repository,
                    context,
                    token,
                },
                Message::Status {
                    sha,
                    state,
                    description,
                },
            ) => Some(render::commit_status(
                *forge,
                repository,
                context,
                token.current().expose(),
                sha,
                *state,
                description,
            )),
            (
                Target::Webhook {
                    format,
                    url,
                    hmac_key,
                    instance,
                    ..
                },
                Message::Alert(alert),
            ) => {
                let url = url.current();
                Some(match format {
                    AlertFormat::Generic => {
                        let key = hmac_key.as_ref().map(FileSecret::current);
                        let now = k8s_openapi::jiff::Timestamp::now().to_string();
                        render::generic_alert(
                            url.expose(),
                            key.as_ref().map(|k| k.expose()),
                            alert,
                            instance,
                            &now,
                        )
                    }
                    AlertFormat::Slack => render::slack_alert(url.expose(), alert),
                })
            }
            _ => None,
        }
    }
}

/// Which messages a target sends: commit statuses, or alerts of some kinds.
pub(crate) enum Route {
    Statuses,
    Alerts(Vec<AlertOn>),
}

impl Route {
    pub(crate) fn wants(&self, message: &Message) -> bool {
        match (self, message) {
            (Route::Statuses, Message::Status { .. }) => true,
            (Route::Alerts(on), Message::Alert(alert)) => on.contains(&alert.on),
            _ => false,
        }
    }
}

/// How often and how soon a message is tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub max_attempts: u32,
    pub first_delay: Duration,
}

/// Sends the messages of one target's queue until every sender is gone.
pub(crate) async fn run_target(
    name: String,
    target: Target,
    mut queue: mpsc::Receiver<Message>,
    http: Arc<Http>,
    retry: Retry,
    observe: Observer,
) {
    let provider = target.provider();
    let backoff = Backoff::new(retry.first_delay, MAX_RETRY_DELAY);
    while let Some(message) = queue.recv().await {
        let Some(outgoing) = target.request(&message) else {
            continue;
        };
        let mut attempt = 1;
        loop {
            match http.send(&outgoing).await {
                Ok(()) => {
                    debug!(target = %name, attempt, "notification sent");
                    observe(provider, NotifyResult::Sent);
                    break;
                }
                Err(error) if error.retryable() && attempt < retry.max_attempts => {
                    let delay = backoff.jittered(attempt);
                    debug!(target = %name, attempt, %error, retry_in = ?delay, "notification not sent; retrying");
                    observe(provider, NotifyResult::Retried);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => {
                    warn!(target = %name, attempts = attempt, %error, "notification not delivered; dropped");
                    observe(provider, NotifyResult::Failed);
                    break;
                }
            }
        }
    }
}
