//! Every input of the fuzz corpora (`fuzz/seeds/<target>/`) and every crash the fuzzers
//! found (`fuzz/regressions/<target>/`) replayed on stable through the same bodies the fuzz
//! targets run (`pg_gitops::fuzzing`), so `scripts/test` keeps them fixed without nightly.
//! The fuzzers themselves: `scripts/fuzz` (see docs/reliability.md).

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 7] = [
    ("manifest_loader", pg_gitops::fuzzing::manifest_loader),
    ("quantity", pg_gitops::fuzzing::quantity),
    ("webhook", pg_gitops::fuzzing::webhook),
    ("known_hosts", pg_gitops::fuzzing::known_hosts),
    ("config", pg_gitops::fuzzing::config),
    ("redact", pg_gitops::fuzzing::redact),
    ("planner", pg_gitops::fuzzing::planner),
];

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_and_regression_passes_its_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let corpus = inputs(&fuzz.join("seeds").join(name));
        assert!(!corpus.is_empty(), "fuzz/seeds/{name} has seed inputs");
        for file in corpus
            .iter()
            .chain(&inputs(&fuzz.join("regressions").join(name)))
        {
            let data = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} fails on {}", file.display());
        }
    }
}
