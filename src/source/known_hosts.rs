//! Strict SSH host key checking against a known_hosts file. There is no trust-on-first-use:
//! an unknown host or a key that differs from the recorded one is refused.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

/// The outcome of comparing the key a server offered with known_hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKeyVerdict {
    Trusted,
    /// No line names this host (hashed `|1|` lines are not supported and never match).
    Unknown,
    /// Lines name this host, but none with the offered key.
    Changed,
    /// The offered key is marked `@revoked`.
    Revoked,
}

/// `SHA256:<base64>` as `ssh-keygen -l` prints it.
pub(crate) fn fingerprint(key: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(key)))
}

/// The name known_hosts uses for a host: `[host]:port` unless the port is 22.
pub(crate) fn host_pattern_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

pub(crate) fn check(
    known_hosts: &str,
    host: &str,
    port: u16,
    offered_key: &[u8],
) -> HostKeyVerdict {
    let name = host_pattern_name(host, port);
    let mut host_listed = false;
    let mut trusted = false;
    for line in known_hosts.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace().peekable();
        let marker = match fields.peek() {
            Some(field) if field.starts_with('@') => fields.next(),
            _ => None,
        };
        let (Some(patterns), Some(_key_type), Some(key_base64)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if marker == Some("@cert-authority") || !patterns_match(patterns, &name) {
            continue;
        }
        let Ok(listed_key) = STANDARD.decode(key_base64) else {
            continue;
        };
        let same_key = listed_key == offered_key;
        if marker == Some("@revoked") {
            if same_key {
                return HostKeyVerdict::Revoked;
            }
            continue;
        }
        host_listed = true;
        trusted |= same_key;
    }
    match (trusted, host_listed) {
        (true, _) => HostKeyVerdict::Trusted,
        (false, true) => HostKeyVerdict::Changed,
        (false, false) => HostKeyVerdict::Unknown,
    }
}

/// OpenSSH pattern lists: comma-separated globs (`*`, `?`), a leading `!` negates.
fn patterns_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// Glob match in O(pattern × text): on a mismatch, go back to the last `*` and let it take
/// one more byte. (The recursive form took exponential time on patterns like `*a*a*a*…b`;
/// found by the known_hosts fuzz target.)
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has taken up to.
    let mut last_star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                last_star = Some((p, t));
                p += 1;
            }
            Some(b'?') => (p, t) = (p + 1, t + 1),
            Some(c) if c.eq_ignore_ascii_case(&text[t]) => (p, t) = (p + 1, t + 1),
            _ => match last_star {
                Some((star, taken)) => {
                    last_star = Some((star, taken + 1));
                    (p, t) = (star + 1, taken + 1);
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests;
