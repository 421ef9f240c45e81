//! Request authentication for the webhook receivers. Every comparison is constant-time:
//! HMAC tags through `Mac::verify_slice`, shared tokens by comparing SHA-256 digests with
//! `subtle` (hashing first also hides the token's length).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Provider;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery was refused. Never includes the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureProblem {
    MissingHeader,
    Malformed,
    Mismatch,
}

impl SignatureProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureProblem::MissingHeader => "missing signature header",
            SignatureProblem::Malformed => "malformed signature header",
            SignatureProblem::Mismatch => "signature does not match",
        }
    }
}

/// Checks a hex HMAC-SHA256 of `body`, optionally behind a `sha256=` prefix.
pub(crate) fn verify_hmac_sha256(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
    require_prefix: bool,
) -> Result<(), SignatureProblem> {
    let header = header.ok_or(SignatureProblem::MissingHeader)?.trim();
    let hex = match header.strip_prefix("sha256=") {
        Some(hex) => hex,
        None if require_prefix => return Err(SignatureProblem::Malformed),
        None => header,
    };
    let tag = decode_hex(hex).ok_or(SignatureProblem::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&tag)
        .map_err(|_| SignatureProblem::Mismatch)
}

/// Compares a shared token (GitLab's `X-Gitlab-Token`) in constant time.
pub(crate) fn verify_token(secret: &[u8], header: Option<&str>) -> Result<(), SignatureProblem> {
    let given = header.ok_or(SignatureProblem::MissingHeader)?;
    let equal = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(secret));
    if bool::from(equal) {
        Ok(())
    } else {
        Err(SignatureProblem::Mismatch)
    }
}

/// `sha256=<hex>` for `body`, as the providers compute it (used by tests and tools).
pub fn sign_sha256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        tag.iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    )
}

/// The authentication header `provider` sends with `body`, signed with `secret`: what a
/// receiver must accept (used by tests, tools and the fuzz targets).
pub fn sign_for(provider: Provider, secret: &[u8], body: &[u8]) -> (&'static str, String) {
    match provider {
        Provider::GitHub => ("x-hub-signature-256", sign_sha256(secret, body)),
        Provider::GitLab => (
            "x-gitlab-token",
            String::from_utf8_lossy(secret).into_owned(),
        ),
        // Gitea signs with the bare hex digest, no `sha256=` prefix.
        Provider::Gitea => (
            "x-gitea-signature",
            sign_sha256(secret, body)[7..].to_string(),
        ),
        Provider::Bitbucket => ("x-hub-signature", sign_sha256(secret, body)),
        Provider::Generic => ("x-signature", sign_sha256(secret, body)),
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
