use super::*;

const KEY_A: &[u8] = b"\x00\x00\x00\x0bssh-ed25519key-a";
const KEY_B: &[u8] = b"\x00\x00\x00\x0bssh-ed25519key-b";

fn line(host: &str, key: &[u8]) -> String {
    format!("{host} ssh-ed25519 {}\n", STANDARD.encode(key))
}

#[test]
fn verdicts_for_trusted_unknown_changed_and_revoked() {
    let file = line("[127.0.0.1]:2222", KEY_A) + &line("github.com,gh", KEY_B);
    assert_eq!(
        check(&file, "127.0.0.1", 2222, KEY_A),
        HostKeyVerdict::Trusted
    );
    assert_eq!(
        check(&file, "127.0.0.1", 2222, KEY_B),
        HostKeyVerdict::Changed
    );
    assert_eq!(
        check(&file, "127.0.0.1", 22, KEY_A),
        HostKeyVerdict::Unknown
    );
    assert_eq!(check(&file, "gh", 22, KEY_B), HostKeyVerdict::Trusted);
    let revoked = format!("@revoked {}", line("*", KEY_A)) + &line("host", KEY_A);
    assert_eq!(check(&revoked, "host", 22, KEY_A), HostKeyVerdict::Revoked);
}

#[test]
fn globs_and_negation() {
    assert!(patterns_match(
        "*.example.com,!bad.example.com",
        "git.example.com"
    ));
    assert!(!patterns_match(
        "*.example.com,!bad.example.com",
        "bad.example.com"
    ));
    assert!(patterns_match("gi?", "git"));
}
