use super::*;

fn key(k: &str) -> PathSegment {
    PathSegment::Key(k.into())
}

const TWO_DOCS: &str = r"# leading comment
apiVersion: v1
kind: ConfigMap
---

apiVersion: gitops.kubedb.com/v1alpha1
kind: Postgres
metadata:
  name: pg1
spec:
  replica: 5
  podTemplate:
    spec:
      containers:
      - name: postgres
        resources: {}
      - name: pg-coordinator
        resourcez: {}
";

#[test]
fn documents_carry_their_first_line() {
    let docs = parse_documents(TWO_DOCS).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!((docs[0].index, docs[0].line), (0, 2));
    assert_eq!((docs[1].index, docs[1].line), (1, 6));
    assert_eq!(docs[1].value["spec"]["replica"], 5);
}

#[test]
fn locate_finds_keys_and_sequence_items() {
    assert_eq!(
        locate(TWO_DOCS, 1, &[key("spec"), key("replica")]),
        Some(11)
    );
    let coordinator = [
        key("spec"),
        key("podTemplate"),
        key("spec"),
        key("containers"),
        PathSegment::Index(1),
        key("resourcez"),
    ];
    assert_eq!(locate(TWO_DOCS, 1, &coordinator), Some(18));
    assert_eq!(locate(TWO_DOCS, 0, &[key("kind")]), Some(3));
}

#[test]
fn locate_falls_back_to_the_deepest_ancestor() {
    assert_eq!(
        locate(TWO_DOCS, 1, &[key("metadata"), key("namespace")]),
        Some(8)
    );
}

#[test]
fn empty_documents_are_skipped_but_counted() {
    let docs = parse_documents("---\n---\na: 1\n").unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].index, 1);
    assert_eq!(docs[0].line, 3);
}

#[test]
fn syntax_errors_name_the_line() {
    let error = parse_documents("a: 1\nb: [unclosed\nc: 2\n").unwrap_err();
    assert!(matches!(error, YamlError::Syntax { .. }));
    assert!(error.line() >= 2, "{error}");
}

#[test]
fn yaml_1_2_scalars() {
    let docs = parse_documents("a: yes\nb: 0644\nc: \"5\"\nd: 5\n").unwrap();
    assert_eq!(docs[0].value["a"], "yes");
    // YAML 1.2 has no octal `0644`: it stays a string, and the schema then refuses it.
    assert_eq!(docs[0].value["b"], "0644");
    assert_eq!(docs[0].value["c"], "5");
    assert_eq!(docs[0].value["d"], 5);
}

#[test]
fn display_path_reads_naturally() {
    let path = [
        key("spec"),
        key("containers"),
        PathSegment::Index(0),
        key("name"),
    ];
    assert_eq!(display_path(&path), "spec.containers[0].name");
}
