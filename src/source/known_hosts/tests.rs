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

/// Found by the known_hosts fuzz target: many stars against a long name that almost matches
/// took exponential time (the fuzzer's input ran for minutes). Now it is immediate, and
/// globbing still means what it did.
#[test]
fn globbing_is_quick_on_pathological_patterns_and_still_right() {
    let started = std::time::Instant::now();
    let pattern = format!("{}b", "*a".repeat(40));
    let name = "a".repeat(200);
    assert!(!patterns_match(&pattern, &name));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for (pattern, name, expected) in [
        ("*.example.com", "git.example.com", true),
        ("*.example.com", "example.com", false),
        ("git?.example.com", "git1.example.com", true),
        ("GIT.Example.COM", "git.example.com", true),
        ("*", "", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("[host]:2222", "[host]:2222", true),
        ("*,!bad.example.com", "bad.example.com", false),
    ] {
        assert_eq!(patterns_match(pattern, name), expected, "{pattern} {name}");
    }
}
