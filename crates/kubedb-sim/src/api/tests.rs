use super::*;

#[test]
fn every_type_round_trips_through_its_name() {
    for kind in OpsType::ALL {
        assert_eq!(OpsType::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(OpsType::parse("Upgrade"), None);
    assert_eq!(OpsType::parse("restart"), None);
}

#[test]
fn resources_use_the_crd_plurals() {
    assert_eq!(postgres_resource().plural, "postgreses");
    assert_eq!(postgres_resource().api_version, "kubedb.com/v1");
    assert_eq!(ops_request_resource().plural, "postgresopsrequests");
    assert_eq!(
        postgres_version_resource().api_version,
        "catalog.kubedb.com/v1alpha1"
    );
}
