//! Executing one step of a plan against the API server (client required). Only the first step
//! of a plan is ever executed; the next watch event recomputes the plan from scratch.

use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Error as KubeError};
use serde_json::Value;

use crate::models::{KubedbPostgres, PostgresOpsRequest};
use crate::plan::Step;

/// The field manager of every write pg-gitops makes.
pub const FIELD_MANAGER: &str = "pg-gitops";

/// Errors from executing a step.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("creating the kubedb.com Postgres {name}: {source}")]
    Provision { name: String, source: KubeError },
    #[error("patching the kubedb.com Postgres {name}: {source}")]
    Patch { name: String, source: KubeError },
    #[error("creating OpsRequest {name}: {source}")]
    CreateOpsRequest { name: String, source: KubeError },
}

/// What executing a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    Provisioned,
    /// The database's resourceVersion after the patch (unchanged when the patch changed
    /// nothing).
    Patched {
        resource_version: Option<String>,
    },
    Created {
        name: String,
    },
    /// The object was already there. For a deterministic name that means this very intent was
    /// already carried out (or is running): never a duplicate.
    AlreadyExists {
        name: String,
    },
}

fn is_already_exists(error: &KubeError) -> bool {
    matches!(error, KubeError::Api(status) if status.code == 409 && status.reason == "AlreadyExists")
}

/// Executes `step` for database `name` in `namespace`.
pub async fn execute(
    client: &Client,
    namespace: &str,
    name: &str,
    step: &Step,
) -> Result<Executed, ExecuteError> {
    let post = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match step {
        Step::Provision(object) => {
            let api: Api<KubedbPostgres> = Api::namespaced(client.clone(), namespace);
            match api.create(&post, object).await {
                Ok(_) => Ok(Executed::Provisioned),
                Err(error) if is_already_exists(&error) => {
                    Ok(Executed::AlreadyExists { name: name.into() })
                }
                Err(source) => Err(ExecuteError::Provision {
                    name: name.into(),
                    source,
                }),
            }
        }
        Step::Patch(patch) => Ok(Executed::Patched {
            resource_version: merge_patch(client, namespace, name, patch).await?,
        }),
        Step::OpsRequest { request, .. } => {
            let api: Api<PostgresOpsRequest> = Api::namespaced(client.clone(), namespace);
            let request_name = request.metadata.name.clone().unwrap_or_default();
            match api.create(&post, request).await {
                Ok(_) => Ok(Executed::Created { name: request_name }),
                Err(error) if is_already_exists(&error) => {
                    Ok(Executed::AlreadyExists { name: request_name })
                }
                Err(source) => Err(ExecuteError::CreateOpsRequest {
                    name: request_name,
                    source,
                }),
            }
        }
    }
}

/// Writes a plan's bookkeeping (pg-gitops' own annotations on the database). Not a step:
/// nothing of the database changes, so no event and no step metric. Returns the database's
/// resourceVersion after it.
pub async fn write_bookkeeping(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Option<String>, ExecuteError> {
    merge_patch(client, namespace, name, patch).await
}

async fn merge_patch(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &Value,
) -> Result<Option<String>, ExecuteError> {
    let api: Api<KubedbPostgres> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let patched = api
        .patch(name, &params, &Patch::Merge(patch))
        .await
        .map_err(|source| ExecuteError::Patch {
            name: name.into(),
            source,
        })?;
    Ok(patched.metadata.resource_version)
}
