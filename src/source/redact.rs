//! Keeping credentials out of logs and errors. URLs may carry `user:password@`; every URL we
//! print goes through [`parse_url`]`.display` first, and libgit2's own messages go through
//! [`scrub`] because they sometimes echo the URL back.

/// A URL split into the part safe to show and the userinfo it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// The URL without any userinfo: safe to log.
    pub display: String,
    pub scheme: Option<String>,
    pub username: Option<String>,
    /// Present only for `scheme://user:password@host` URLs.
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parses `scheme://[user[:password]@]host[:port]/path` and scp-like `[user@]host:path`.
pub fn parse_url(url: &str) -> ParsedUrl {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(user.to_string()), Some(password.to_string())),
                None => (Some(info.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(host_port);
        ParsedUrl {
            display: format!("{scheme}://{host_port}{path}"),
            scheme: Some(scheme.to_ascii_lowercase()),
            username: username.filter(|user| !user.is_empty()),
            password,
            host,
            port,
        }
    } else {
        // scp-like syntax has no password field; the user name is not a secret.
        let (user, rest) = match url.split_once('@') {
            Some((user, rest)) if !user.contains('/') => (Some(user.to_string()), rest),
            _ => (None, url),
        };
        let host = rest.split(':').next().unwrap_or_default().to_string();
        ParsedUrl {
            display: url.to_string(),
            scheme: None,
            username: user,
            password: None,
            host,
            port: None,
        }
    }
}

fn split_host_port(host_port: &str) -> (String, Option<u16>) {
    if let Some(rest) = host_port.strip_prefix('[') {
        // [ipv6]:port
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|port| port.parse().ok());
            return (host.to_string(), port);
        }
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !port.is_empty() => {
            (host.to_string(), port.parse().ok())
        }
        _ => (host_port.to_string(), None),
    }
}

/// Replaces every occurrence of each non-empty secret in `text` with `***`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut cleaned = text.to_string();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        cleaned = cleaned.replace(secret, "***");
    }
    cleaned
}

#[cfg(test)]
mod tests;
