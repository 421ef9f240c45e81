//! `pg_gitops_notifications_total{provider,result}`: what became of each notification
//! (see `src/notify.rs`). Same label set as the webhook deliveries: a provider and a result.

use super::Metrics;
use super::labels::DeliveryLabels;
use crate::notify::NotifyResult;

impl Metrics {
    /// `provider` is a target's (`github`, `gitlab`, `gitea`, `webhook`, `slack`) or `all`.
    pub(crate) fn record_notification(&self, provider: &'static str, result: NotifyResult) {
        self.families()
            .notifications_total
            .get_or_create(&DeliveryLabels {
                provider,
                result: result.label(),
            })
            .inc();
    }
}
