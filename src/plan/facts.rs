//! What one database's plan is made from, gathered and parsed once: every stage reads these.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::PlanSettings;
use super::checks::Catalog;
use super::report::{ErrorKind, PlanError};
use crate::manifest::Manifest;
use crate::models::{
    GitopsPostgres, KubedbPostgres, LastApplied, PostgresOpsRequest,
    ROTATE_CERTIFICATES_ANNOTATION, VOLUME_EXPANSION_MODE_ANNOTATION,
};

pub(super) struct Facts<'a> {
    pub manifest: &'a Manifest,
    /// The manifest's object, typed (read from its declared form once per plan).
    pub desired: GitopsPostgres,
    pub namespace: String,
    pub name: String,
    /// The spec as Git declares it: only the keys written, nulls dropped (borrowed from the
    /// manifest: a fleet's plan copies no spec).
    pub declared: &'a Map<String, Value>,
    /// The same, as the JSON value the checks read (`null` when nothing is declared).
    pub declared_spec: &'a Value,
    pub live: Option<&'a KubedbPostgres>,
    /// The live spec as JSON, serialised once (`Null` when there is no database yet).
    pub live_spec: Value,
    /// What pg-gitops last applied to the database, when it recorded anything.
    pub record: Option<LastApplied>,
    /// Every OpsRequest naming the database, whoever made it.
    pub ops: &'a [&'a PostgresOpsRequest],
    pub catalog: Option<&'a Catalog>,
    pub settings: &'a PlanSettings,
    pub revision: Option<&'a str>,
}

impl<'a> Facts<'a> {
    /// Gathers the facts, or the error that stops the database: a record that cannot be read.
    /// Read as "nothing declared" it would lose every removal, and the next write of the
    /// record would make that permanent.
    pub fn gather(
        manifest: &'a Manifest,
        live: Option<&'a KubedbPostgres>,
        ops: &'a [&'a PostgresOpsRequest],
        catalog: Option<&'a Catalog>,
        settings: &'a PlanSettings,
        revision: Option<&'a str>,
    ) -> Result<Self, PlanError> {
        let (namespace, name) = manifest.key();
        let desired = manifest.object().map_err(|error| PlanError {
            file: manifest.file.display().to_string(),
            line: manifest.line,
            message: format!("the declared object cannot be read: {error}"),
            kind: ErrorKind::InvalidSpec,
        })?;
        static NOTHING: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);
        let declared_spec = manifest.declared.get("spec").unwrap_or(&Value::Null);
        let declared = declared_spec.as_object().unwrap_or(&NOTHING);
        let mut facts = Self {
            manifest,
            desired,
            namespace,
            name,
            declared,
            declared_spec,
            live,
            live_spec: live.map_or(Value::Null, |l| {
                serde_json::to_value(&l.spec).unwrap_or(Value::Null)
            }),
            record: None,
            ops,
            catalog,
            settings,
            revision,
        };
        facts.record = match live.map(KubedbPostgres::last_applied).transpose() {
            Ok(record) => record.flatten(),
            Err(error) => {
                let (namespace, name) = (&facts.namespace, &facts.name);
                return Err(facts.error(
                    ErrorKind::UnreadableRecord,
                    format!(
                        "{error} (on the kubedb.com Postgres {namespace}/{name}); nothing is \
                         planned or written for this database until it is repaired: write it as \
                         the declared spec or as {{spec, labels, annotations}}, or delete it to \
                         accept that fields removed from Git before are not seen as removed"
                    ),
                ));
            }
        };
        Ok(facts)
    }

    /// An error at the manifest's first line.
    pub fn error(&self, kind: ErrorKind, message: String) -> PlanError {
        self.error_at(self.manifest.line, kind, message)
    }

    pub fn error_at(&self, line: usize, kind: ErrorKind, message: String) -> PlanError {
        PlanError {
            file: self.manifest.file.display().to_string(),
            line,
            message,
            kind,
        }
    }

    /// An annotation of the gitops object.
    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        self.manifest.declared["metadata"]["annotations"][key].as_str()
    }

    pub fn generation(&self) -> i64 {
        self.desired.metadata.generation.unwrap_or(0)
    }

    /// The certificate rotation Git asks for (a new value of the annotation asks again).
    pub fn rotate_token(&self) -> Option<&'a str> {
        self.annotation(ROTATE_CERTIFICATES_ANNOTATION)
    }

    /// VolumeExpansion mode: the database's annotation, else the configured default.
    pub fn volume_expansion_mode(&self) -> &'a str {
        self.annotation(VOLUME_EXPANSION_MODE_ANNOTATION)
            .unwrap_or(&self.settings.volume_expansion_mode)
    }
}
