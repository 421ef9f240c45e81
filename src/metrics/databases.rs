//! `pg_gitops_database_info{namespace,name,state}`: which database stands how, for dashboards
//! and alerts that must name the database. A database has at most one series; a change of
//! standing replaces it, and a deletion removes it.

use super::{DatabaseLabels, Metrics, standing_label};
use crate::status::Standing;

impl Metrics {
    /// The database's standing changed from `previous` (none for a database not seen yet) to
    /// `now` (none once it is deleted).
    pub(crate) fn set_database_standing(
        &self,
        namespace: &str,
        name: &str,
        previous: Option<Standing>,
        now: Option<Standing>,
    ) {
        let labels = |standing: Standing| DatabaseLabels {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            state: standing_label(standing),
        };
        let family = &self.families().database_info;
        if let Some(previous) = previous {
            family.remove(&labels(previous));
        }
        if let Some(now) = now {
            family.get_or_create(&labels(now)).set(1);
        }
    }
}
