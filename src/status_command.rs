//! `pg-gitops status`: reads `/status` from a running service and prints it, as `flux get` or
//! `argocd app get` do: a few header lines about the source, then one row per database (or
//! the JSON as the service sent it). The service holds the state; this command only shows it,
//! so it needs no Kubernetes credentials, only the service's HTTP port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::config::{Config, ConfigError};
use crate::status_view::{DatabaseStatus, StatusReport};

/// One request may take this long; a service that answers slower is as good as down.
const TIMEOUT: Duration = Duration::from_secs(10);
/// `--watch` re-reads this often.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// The longest error shown in a table cell; `--output json` has the whole text.
const CELL_ERROR: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum StatusCommandError {
    #[error("--url {url}: {reason}")]
    Url { url: String, reason: &'static str },
    #[error("loading {path} for server.listen: {source}")]
    Config { path: PathBuf, source: ConfigError },
    #[error(
        "cannot reach pg-gitops at {url}: {detail}; is the service running, and is this its \
         server.listen address (or pass --url)?"
    )]
    Unreachable { url: String, detail: String },
    #[error("pg-gitops at {url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} did not answer with a status report: {detail}")]
    NotAReport { url: String, detail: String },
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

pub struct StatusCommand {
    /// The service's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    pub format: Format,
    pub watch: bool,
}

impl StatusCommand {
    /// Prints once, or with `watch` until the process is stopped. While watching, an
    /// unreachable service is shown in place of the table and the next round tries again.
    pub async fn run(&self, out: &mut impl Write) -> Result<(), StatusCommandError> {
        if !self.watch {
            let text = self.render().await?;
            out.write_all(text.as_bytes())?;
            return Ok(());
        }
        loop {
            let text = match self.render().await {
                Ok(text) => text,
                Err(error) => format!("error: {error}\n"),
            };
            // Clear the screen and home the cursor, as `watch` does.
            write!(out, "\x1b[2J\x1b[H{text}")?;
            out.flush()?;
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }

    async fn render(&self) -> Result<String, StatusCommandError> {
        let body = fetch(&self.url).await?;
        let url = status_url(&self.url);
        let report: StatusReport =
            serde_json::from_str(&body).map_err(|error| StatusCommandError::NotAReport {
                url,
                detail: error.to_string(),
            })?;
        Ok(match self.format {
            Format::Json => format!("{}\n", body.trim_end()),
            Format::Table => table(&report),
        })
    }
}

/// The base URL to read: `--url`, else `server.listen` of the config (when given, or when
/// `config.toml` exists here), else the default listen address. A wildcard listen address
/// (0.0.0.0, ::) is reached on loopback.
pub fn resolve_url(
    url: Option<String>,
    config: Option<&Path>,
) -> Result<String, StatusCommandError> {
    if let Some(url) = url {
        return Ok(url);
    }
    let default = Path::new("config.toml");
    let config = config.or_else(|| default.exists().then_some(default));
    let listen = match config {
        Some(path) => {
            Config::from_file(path)
                .map_err(|source| StatusCommandError::Config {
                    path: path.to_path_buf(),
                    source,
                })?
                .server
                .listen
        }
        None => crate::config::ServerConfig::default().listen,
    };
    Ok(url_of(listen))
}

/// `http://<addr>`, with a wildcard address replaced by loopback.
pub fn url_of(mut listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        listen.set_ip(match listen {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    format!("http://{listen}")
}

fn status_url(base: &str) -> String {
    format!("{}/status", base.trim_end_matches('/'))
}

/// GETs `<base>/status` over plain HTTP/1.1 and returns the body of a 200 answer.
pub async fn fetch(base: &str) -> Result<String, StatusCommandError> {
    let url = status_url(base);
    let bad = |reason| StatusCommandError::Url {
        url: base.to_string(),
        reason,
    };
    let rest = base.strip_prefix("http://").ok_or_else(|| {
        bad("only http:// is supported (the service serves plain HTTP; use a port-forward)")
    })?;
    let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("give host:port, without credentials"));
    }
    let address = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = format!("/{}", status_url(prefix).trim_start_matches('/'));
    let unreachable = |detail: String| StatusCommandError::Unreachable {
        url: base.to_string(),
        detail,
    };
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(&address)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        tokio::spawn(connection);
        let request = hyper::Request::get(&path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|_| bad("not a valid request target"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| unreachable(error.to_string()))?
            .to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(StatusCommandError::Refused {
                url: url.clone(),
                status: status.as_u16(),
                body: body.chars().take(200).collect(),
            });
        }
        Ok(body)
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| StatusCommandError::Timeout {
            url: url.clone(),
            after: TIMEOUT,
        })?
}

/// The header lines, then one row per database in aligned columns.
pub fn table(report: &StatusReport) -> String {
    let source = &report.source;
    let or_dash = |value: Option<&str>| value.unwrap_or("-").to_string();
    let mut text = String::new();
    let mut line = |label: &str, value: String| text.push_str(&format!("{label:<10}{value}\n"));
    let mut origin = source.kind.clone();
    if let Some(url) = &source.url {
        origin.push_str(&format!(" {url}"));
    }
    if let Some(reference) = &source.reference {
        origin.push_str(&format!(" ({reference})"));
    }
    line("Source:", origin);
    line("Revision:", or_dash(source.revision.as_deref()));
    if source.kind != "cluster" {
        line(
            "Fetched:",
            format!(
                "{} (last success: {})",
                or_dash(source.last_fetch_time.as_deref()),
                or_dash(source.last_success_time.as_deref())
            ),
        );
        line("Error:", or_dash(source.last_fetch_error.as_deref()));
    }
    if let (false, Some(since)) = (
        report.kubernetes.reachable,
        report.kubernetes.unreachable_since.as_deref(),
    ) {
        line(
            "Cluster:",
            format!(
                "unreachable since {since} ({}); databases as they were then",
                or_dash(report.kubernetes.error.as_deref())
            ),
        );
    }
    line("Invalid:", source.invalid_manifests.len().to_string());
    for invalid in &source.invalid_manifests {
        line(
            "",
            format!("{}:{}: {}", invalid.file, invalid.line, invalid.message),
        );
    }
    text.push('\n');
    if report.databases.is_empty() {
        text.push_str("No databases.\n");
        return text;
    }
    let header = [
        "NAMESPACE",
        "NAME",
        "PHASE",
        "CHANGE",
        "READY",
        "OPSREQUEST",
        "AGE",
        "WAITING-FOR",
        "MESSAGE",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(report.databases.iter().map(row))
        .collect();
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

fn row(database: &DatabaseStatus) -> Vec<String> {
    let dash = |value: Option<&String>| value.cloned().unwrap_or_else(|| "-".into());
    let ops = database.ops_request.as_ref();
    // The error that stalls it, else why change control holds it (the approval command).
    let message = database.last_error.as_deref().or(database.held.as_deref());
    let error = message.map(|error| {
        let one_line = error.replace('\n', " ");
        if one_line.chars().count() > CELL_ERROR {
            format!("{}…", one_line.chars().take(CELL_ERROR).collect::<String>())
        } else {
            one_line
        }
    });
    vec![
        database.namespace.clone(),
        database.name.clone(),
        dash(database.phase.as_ref()),
        dash(database.change_request_status.as_ref()),
        dash(database.reason.as_ref()),
        ops.map_or("-".into(), |o| {
            let phase = if o.phase.is_empty() { "New" } else { &o.phase };
            format!("{} ({phase})", o.name)
        }),
        ops.and_then(|o| o.age_seconds)
            .map_or("-".into(), |age| short_age(age.max(0).unsigned_abs())),
        dash(database.waiting_for.as_ref()),
        dash(error.as_ref()),
    ]
}

/// `45s`, `12m`, `3h`, `5d`: as kubectl shows ages.
pub fn short_age(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

#[cfg(test)]
mod tests;
