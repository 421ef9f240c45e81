use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

#[test]
fn bitbucket_push_lists_every_changed_ref() {
    let body = br#"{"changes":[{"ref":{"id":"refs/heads/dev"},"toHash":"a"},{"ref":{"id":"refs/heads/main"},"toHash":"b"}]}"#;
    let event = parse_event(
        Provider::Bitbucket,
        &headers(&[("x-event-key", "repo:refs_changed")]),
        body,
    );
    let expected = vec![
        ("refs/heads/dev".into(), Some("a".into())),
        ("refs/heads/main".into(), Some("b".into())),
    ];
    assert_eq!(event, Ok(Event::Push { refs: expected }));
}

#[test]
fn non_push_events_and_form_payloads() {
    let event = parse_event(
        Provider::GitLab,
        &headers(&[("x-gitlab-event", "Merge Request Hook")]),
        b"{}",
    );
    assert_eq!(event, Ok(Event::Other("Merge Request Hook".into())));
    let form = headers(&[
        ("x-github-event", "push"),
        ("content-type", "application/x-www-form-urlencoded"),
    ]);
    assert!(
        parse_event(Provider::GitHub, &form, b"payload=%7B%7D")
            .unwrap_err()
            .contains("form-encoded")
    );
}
