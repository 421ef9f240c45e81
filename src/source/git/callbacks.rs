//! The libgit2 callbacks of a sync (credentials, strict host key check, deadline) and the
//! translation of libgit2 failures into [`SourceError`]'s plain classes.

use std::time::Instant;

use git2::{CertificateCheckStatus, Cred, CredentialType, ErrorClass, ErrorCode, RemoteCallbacks};

use super::{CallbackState, GitSync};
use crate::source::SourceError;
use crate::source::auth::Credentials;
use crate::source::known_hosts::{self, HostKeyVerdict};
use crate::source::redact::scrub;

impl GitSync {
    pub(super) fn callbacks<'a>(
        &'a self,
        credentials: &'a Credentials,
        state: &'a CallbackState,
        deadline: Instant,
    ) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, username_from_url, allowed| {
            let username = credentials
                .username
                .as_deref()
                .or(username_from_url)
                .unwrap_or("git");
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(username);
            }
            // libgit2 asks again after a rejection; answering twice would loop forever.
            let attempt = state.credential_attempts.get() + 1;
            state.credential_attempts.set(attempt);
            if attempt > 1 {
                return Err(git2::Error::from_str("authentication refused"));
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                return match &credentials.ssh_key {
                    Some(key) => Cred::ssh_key(
                        username,
                        None,
                        key,
                        credentials
                            .ssh_passphrase
                            .as_ref()
                            .map(|secret| secret.expose()),
                    ),
                    None => Err(git2::Error::from_str(
                        "no source.auth.ssh_key_file configured",
                    )),
                };
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return match &credentials.password {
                    Some(password) => Cred::userpass_plaintext(username, password.expose()),
                    None => Err(git2::Error::from_str(
                        "the remote wants a password or token but none is configured",
                    )),
                };
            }
            Err(git2::Error::from_str(
                "the remote asks for an unsupported credential type",
            ))
        });
        callbacks.certificate_check(move |cert, _host| {
            let Some(host_key) = cert.as_hostkey() else {
                // TLS certificates: keep libgit2's verification against the system roots.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            match self.verify_host_key(host_key, credentials) {
                Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                Err(failure) => {
                    state.host_key_failure.replace(Some(failure));
                    Err(git2::Error::from_str("host key verification failed"))
                }
            }
        });
        // Returning false aborts the transfer, which is how a slow fetch honours the deadline.
        callbacks.transfer_progress(move |_| Instant::now() < deadline);
        callbacks.sideband_progress(move |_| Instant::now() < deadline);
        callbacks
    }

    fn verify_host_key(
        &self,
        host_key: &git2::cert::CertHostkey<'_>,
        credentials: &Credentials,
    ) -> Result<(), SourceError> {
        let host = known_hosts::host_pattern_name(&self.url.host, self.url.port.unwrap_or(22));
        let (Some(key), Some(key_type)) = (host_key.hostkey(), host_key.hostkey_type()) else {
            return Err(SourceError::Git {
                url: self.url.display.clone(),
                detail: "the SSH server's raw host key is unavailable; cannot verify it".into(),
            });
        };
        let key_type = key_type.name().to_string();
        let fingerprint = known_hosts::fingerprint(key);
        let Some(path) = &credentials.known_hosts else {
            return Err(SourceError::HostKeyUnknown {
                host,
                key_type,
                fingerprint,
                known_hosts: "known_hosts (source.auth.known_hosts_file is not set)".into(),
            });
        };
        let text = std::fs::read_to_string(path).map_err(|error| SourceError::Credential {
            what: "source.auth.known_hosts_file".into(),
            detail: format!("{}: {error}", path.display()),
        })?;
        let known_hosts = path.display().to_string();
        match known_hosts::check(&text, &self.url.host, self.url.port.unwrap_or(22), key) {
            HostKeyVerdict::Trusted => Ok(()),
            HostKeyVerdict::Unknown => Err(SourceError::HostKeyUnknown {
                host,
                key_type,
                fingerprint,
                known_hosts,
            }),
            HostKeyVerdict::Changed | HostKeyVerdict::Revoked => Err(SourceError::HostKeyChanged {
                host,
                key_type,
                fingerprint,
                known_hosts,
            }),
        }
    }

    /// Turns a libgit2 failure into one of the plain error classes.
    pub(super) fn classify(
        &self,
        error: &git2::Error,
        state: &CallbackState,
        credentials: &Credentials,
        deadline: Instant,
    ) -> SourceError {
        if let Some(failure) = state.host_key_failure.take() {
            return failure;
        }
        let url = self.url.display.clone();
        let detail = scrub(error.message(), &credentials.secret_values());
        let lower = detail.to_ascii_lowercase();
        let auth_words = [
            "authenticat",
            "unauthorized",
            "401",
            "403",
            "publickey",
            "password",
        ];
        if error.code() == ErrorCode::Auth
            || state.credential_attempts.get() > 1
            || auth_words.iter().any(|word| lower.contains(word))
        {
            return SourceError::AuthRefused { url, detail };
        }
        if error.code() == ErrorCode::Timeout
            || lower.contains("timed out")
            || lower.contains("timeout")
            || Instant::now() >= deadline
        {
            return SourceError::Timeout {
                url,
                after: self.timeout,
            };
        }
        let network_words = [
            "failed to connect",
            "refused",
            "unreachable",
            "resolve",
            "no route",
            "reset by peer",
        ];
        if matches!(
            error.class(),
            ErrorClass::Net | ErrorClass::Os | ErrorClass::Ssh
        ) && network_words.iter().any(|word| lower.contains(word))
        {
            return SourceError::NetworkUnreachable { url, detail };
        }
        self.plain_git_error(error, credentials)
    }

    pub(super) fn plain_git_error(
        &self,
        error: &git2::Error,
        credentials: &Credentials,
    ) -> SourceError {
        SourceError::Git {
            url: self.url.display.clone(),
            detail: scrub(error.message(), &credentials.secret_values()),
        }
    }
}
