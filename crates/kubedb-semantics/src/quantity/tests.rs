use super::*;

fn q(text: &str) -> Quantity {
    Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn equal_spellings_are_equal() {
    let cases = [
        ("1Gi", "1024Mi"),
        ("0.5", "500m"),
        (".5", "500m"),
        ("1", "1000m"),
        ("1k", "1000"),
        ("1e3", "1k"),
        ("1E3", "1000"),
        ("2Ki", "2048"),
        ("1.5Gi", "1536Mi"),
        ("+1", "1"),
        ("100m", "0.1"),
        ("1M", "1000k"),
        ("1n", "0.000000001"),
        ("1Ti", "1024Gi"),
    ];
    for (a, b) in cases {
        assert_eq!(q(a), q(b), "{a} vs {b}");
    }
}

#[test]
fn different_values_differ_and_order() {
    assert!(q("1Gi") < q("2Gi"));
    assert!(q("1G") < q("1Gi"));
    assert!(q("999m") < q("1"));
    assert!(q("-1") < q("0"));
    assert_ne!(q("1Mi"), q("1M"));
}

#[test]
fn malformed_inputs_are_refused() {
    for bad in [
        "", "abc", "1.2.3", "1Gb", "Gi", "1 Gi x", "1e", "--1", "1e99",
    ] {
        assert!(Quantity::parse(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn json_numbers_and_strings_compare_by_value() {
    assert!(json_quantities_equal(
        &serde_json::json!(2),
        &serde_json::json!("2000m")
    ));
    assert!(json_quantities_equal(
        &serde_json::json!("1Gi"),
        &serde_json::json!("1024Mi")
    ));
    assert!(!json_quantities_equal(
        &serde_json::json!("1Gi"),
        &serde_json::json!("1G")
    ));
    assert!(!json_quantities_equal(
        &serde_json::json!("oops"),
        &serde_json::json!("1")
    ));
    assert_eq!(
        compare_json_quantities(&serde_json::json!("10Gi"), &serde_json::json!("20Gi")),
        Some(Ordering::Less)
    );
}

#[test]
fn display_is_plain_decimal() {
    assert_eq!(q("500m").to_string(), "0.5");
    assert_eq!(q("2k").to_string(), "2000");
}

#[test]
fn overflow_is_reported_not_wrapped() {
    assert!(matches!(
        Quantity::parse("99999999999999999999999999999999Ei"),
        Err(QuantityError::Overflow(_))
    ));
}
