use super::*;

#[test]
fn userinfo_is_stripped_from_display() {
    let parsed = parse_url("https://alice:hunter2@git.example.com:8443/org/repo.git");
    assert_eq!(parsed.display, "https://git.example.com:8443/org/repo.git");
    assert_eq!(parsed.username.as_deref(), Some("alice"));
    assert_eq!(parsed.password.as_deref(), Some("hunter2"));
    assert_eq!(
        (parsed.host.as_str(), parsed.port),
        ("git.example.com", Some(8443))
    );
    assert_eq!(parse_url("https://tok@h/r").display, "https://h/r");
}

#[test]
fn ssh_and_scp_forms_give_host_and_port() {
    let parsed = parse_url("ssh://git@127.0.0.1:2222/srv/repo.git");
    assert_eq!(
        (parsed.host.as_str(), parsed.port),
        ("127.0.0.1", Some(2222))
    );
    assert_eq!(parsed.username.as_deref(), Some("git"));
    let scp = parse_url("git@github.com:org/repo.git");
    assert_eq!((scp.host.as_str(), scp.port), ("github.com", None));
    assert_eq!(scp.username.as_deref(), Some("git"));
}

#[test]
fn scrub_removes_every_secret() {
    assert_eq!(scrub("a s3cret b s3cret", &["s3cret", ""]), "a *** b ***");
}
