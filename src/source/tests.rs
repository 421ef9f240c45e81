use super::*;

#[test]
fn branch_reference_only_moves_for_its_own_branch() {
    let main = Reference::Branch("main".into());
    assert!(main.is_moved_by("refs/heads/main"));
    assert!(!main.is_moved_by("refs/heads/main-2"));
    assert!(!main.is_moved_by("refs/tags/main"));
    assert!(Reference::Tag("v1".into()).is_moved_by("refs/tags/v1"));
    assert!(!Reference::Commit("ab".into()).is_moved_by("refs/heads/main"));
}
