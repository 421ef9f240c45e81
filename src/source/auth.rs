//! Credentials for the Git remote, read from files or environment variables at every sync so
//! a rotated Kubernetes Secret is picked up without a restart. Values are wrapped in
//! [`Secret`], whose `Debug` never shows them.

use std::fmt;
use std::path::{Path, PathBuf};

use super::SourceError;
use super::redact::ParsedUrl;
use crate::config::AuthConfig;

/// A credential value. `Debug` prints `***`; only [`Secret::expose`] gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What to answer when the remote asks who we are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ssh_key: Option<PathBuf>,
    pub ssh_passphrase: Option<Secret>,
    pub known_hosts: Option<PathBuf>,
}

impl Credentials {
    /// Reads every configured credential. Credentials embedded in the URL are used when no
    /// file or variable is configured for them.
    pub fn load(auth: &AuthConfig, url: &ParsedUrl) -> Result<Self, SourceError> {
        let token = read_secret(
            auth.token_file.as_deref(),
            auth.token_env.as_deref(),
            "source.auth.token",
        )?;
        let password = read_secret(
            auth.password_file.as_deref(),
            auth.password_env.as_deref(),
            "source.auth.password",
        )?;
        let username_from_file = match &auth.username_file {
            Some(path) => Some(
                read_file(path, "source.auth.username_file")?
                    .expose()
                    .to_string(),
            ),
            None => None,
        };
        let username = username_from_file
            .or_else(|| auth.username.clone())
            .or_else(|| url.username.clone())
            // Forges ignore the user name that goes with a token, but libgit2 needs one.
            .or_else(|| token.as_ref().map(|_| "git".to_string()));
        let password = token
            .or(password)
            .or_else(|| url.password.clone().map(Secret));
        let ssh_passphrase = read_secret(
            auth.ssh_passphrase_file.as_deref(),
            auth.ssh_passphrase_env.as_deref(),
            "source.auth.ssh_passphrase",
        )?;
        Ok(Credentials {
            username,
            password,
            ssh_key: auth.ssh_key_file.clone(),
            ssh_passphrase,
            known_hosts: auth.known_hosts_file.clone(),
        })
    }

    /// Every secret value, for scrubbing messages that libgit2 produced.
    pub fn secret_values(&self) -> Vec<&str> {
        [&self.password, &self.ssh_passphrase]
            .into_iter()
            .flatten()
            .map(Secret::expose)
            .collect()
    }
}

fn read_secret(
    file: Option<&Path>,
    env: Option<&str>,
    what: &str,
) -> Result<Option<Secret>, SourceError> {
    if let Some(path) = file {
        return read_file(path, &format!("{what}_file")).map(Some);
    }
    if let Some(name) = env {
        return match std::env::var(name) {
            Ok(value) => Ok(Some(Secret(value))),
            Err(_) => Err(SourceError::Credential {
                what: format!("{what}_env"),
                detail: format!("environment variable {name} is not set or not UTF-8"),
            }),
        };
    }
    Ok(None)
}

fn read_file(path: &Path, what: &str) -> Result<Secret, SourceError> {
    match std::fs::read_to_string(path) {
        // Secrets written by `echo` or kubectl often end with a newline that is not part
        // of the value.
        Ok(text) => Ok(Secret(text.trim_end_matches(['\n', '\r']).to_string())),
        Err(error) => Err(SourceError::Credential {
            what: what.to_string(),
            detail: format!("{}: {error}", path.display()),
        }),
    }
}
