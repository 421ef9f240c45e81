//! What this build is: the crate version, the Git commit and the build date, recorded by
//! `build.rs` (the commit is "unknown" outside a Git checkout). `pg-gitops --version` prints
//! them; the image test checks the commit against the checkout.

/// The crate version (the image tag and the chart's `appVersion`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short commit of HEAD when built, or "unknown".
pub const COMMIT: &str = env!("PG_GITOPS_GIT_COMMIT");

/// The build date, YYYY-MM-DD in UTC (`SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("PG_GITOPS_BUILD_DATE");

/// `pg-gitops --version` after the program name: `0.2.0 (commit 38ff41a, built 2026-12-03)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PG_GITOPS_GIT_COMMIT"),
    ", built ",
    env!("PG_GITOPS_BUILD_DATE"),
    ")"
);
