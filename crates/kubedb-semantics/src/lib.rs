//! What both pg-gitops (the planner) and kubedb-sim (the test oracle) need to know about
//! KubeDB's semantics, kept in one leaf crate so that neither depends on the other and the two
//! cannot disagree:
//! - [`quantity`]: Kubernetes resource quantities (`10Gi` = `10240Mi`), as KubeDB compares
//!   storage and resources;
//! - [`versions`]: PostgresVersion versions and the Masterminds semver constraints of their
//!   `updateConstraints`.

pub mod quantity;
pub mod versions;
