use super::*;

#[test]
fn durations_parse_in_the_usual_units() {
    assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
    assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1s 500ms"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(
        parse_duration("1h 0m 500ms"),
        Ok(Duration::from_millis(3_600_500))
    );
    assert!(parse_duration("").is_err());
    assert!(parse_duration("5x").is_err());
    assert!(parse_duration("m").is_err());
    assert!(parse_duration("fast").is_err());
    assert!(parse_duration("2 fortnights").is_err());
}

#[test]
fn config_scopes_and_defaults() {
    let config = SimConfig::new(Duration::from_millis(200)).in_namespace("ns");
    assert_eq!(config.namespace.as_deref(), Some("ns"));
    assert_eq!(config.provisioning_duration, Duration::from_millis(200));
    assert_eq!(SimConfig::default().step_duration, Duration::from_secs(2));
}
