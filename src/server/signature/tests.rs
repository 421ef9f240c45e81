use super::*;

#[test]
fn github_documented_example_verifies() {
    // The example from GitHub's "Validating webhook deliveries" page.
    let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        verify_hmac_sha256(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some(header),
            true
        ),
        Ok(())
    );
    assert_eq!(
        sign_sha256(b"It's a Secret to Everybody", b"Hello, World!"),
        header
    );
}

#[test]
fn problems_are_told_apart() {
    let good = sign_sha256(b"k", b"body");
    assert_eq!(
        verify_hmac_sha256(b"k", b"body", None, true),
        Err(SignatureProblem::MissingHeader)
    );
    assert_eq!(
        verify_hmac_sha256(b"k", b"body", Some("sha256=zz"), true),
        Err(SignatureProblem::Malformed)
    );
    assert_eq!(
        verify_hmac_sha256(b"k", b"body", Some(&good[7..]), true),
        Err(SignatureProblem::Malformed)
    );
    assert_eq!(
        verify_hmac_sha256(b"k", b"body", Some(&good[7..]), false),
        Ok(())
    );
    assert_eq!(
        verify_hmac_sha256(b"other", b"body", Some(&good), true),
        Err(SignatureProblem::Mismatch)
    );
    assert_eq!(verify_token(b"tok", Some("tok")), Ok(()));
    assert_eq!(
        verify_token(b"tok", Some("tok2")),
        Err(SignatureProblem::Mismatch)
    );
}
