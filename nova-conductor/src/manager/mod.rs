//! `ConductorManager`: the database proxy the other daemons use (Nova's
//! `ConductorManager` with its object indirection), one module per concern,
//! each implementing its trait of [`nova_rpc::conductor`].
//!
//! Reads are idempotent: one that loses its database connection is tried
//! again (oslo.db's `retry_on_disconnect`); a write is not, and its caller
//! sees `DBConnectionError` (503 at the API).

pub(crate) mod aggregates;
mod compute_nodes;
mod console_auth_tokens;
mod ec2;
mod flavor_extras;
mod flavors;
mod floating_ips;
mod instance_groups;
mod instance_metadata;
mod instances;
mod keypairs;
mod migrations;
mod networks;
mod quotas;
mod security_groups;
mod services;
mod task_log;

use nova_common::NovaResult;
use nova_db::Db;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::warn;

pub struct ConductorManager {
    pub(crate) db: Db,
    /// `[quota]` defaults; a project's overrides in the `quotas` table win.
    pub(crate) quota_defaults: BTreeMap<String, i64>,
    /// Every nova-api (the `api` topic's fanout): told when the flavors
    /// change and when instances are created.
    api: nova_rpc::api::Client,
    /// Every nova-scheduler (the `scheduler` topic's fanout): told when
    /// host aggregates change, as Nova's API tells them.
    scheduler: nova_rpc::scheduler::Client,
    /// `[DEFAULT] default_availability_zone`: the zone of a host in no zone's aggregate.
    default_availability_zone: String,
}

impl ConductorManager {
    pub fn new(
        db: Db,
        quota_defaults: BTreeMap<String, i64>,
        default_availability_zone: String,
        transport: nova_rpc::Transport,
    ) -> Self {
        ConductorManager {
            db,
            quota_defaults,
            default_availability_zone,
            api: nova_rpc::api::Client::new(transport.clone()).fanout(),
            scheduler: nova_rpc::scheduler::Client::new(transport).fanout(),
        }
    }

    /// After a flavor write (whatever its outcome), before its answer: every
    /// nova-api forgets its cached flavors.
    pub(crate) async fn flavors_written<T>(
        &self,
        ctx: &nova_common::RequestContext,
        r: NovaResult<T>,
    ) -> NovaResult<T> {
        if let Err(e) = self.api.flavors_changed(ctx).await {
            warn!("cannot tell nova-api that the flavors changed: {e}");
        }
        r
    }

    /// After an instance creation in `project_id` (whatever its outcome:
    /// a failed commit may still have written), before its answer: every
    /// nova-api forgets that the project had no instances.
    pub(crate) async fn instances_written<T>(
        &self,
        ctx: &nova_common::RequestContext,
        project_id: &str,
        r: NovaResult<T>,
    ) -> NovaResult<T> {
        if let Err(e) = self
            .api
            .instances_created(ctx, project_id.to_string())
            .await
        {
            warn!("cannot tell nova-api that instances were created: {e}");
        }
        r
    }
}

/// The pauses before each new try of a read whose connection was lost.
const READ_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

/// No new try once this long has passed since the first: the caller's RPC
/// timeout is not much longer.
const READ_RETRY_BUDGET: Duration = Duration::from_secs(10);

/// Run an idempotent read, again while it fails with a transient error
/// (a lost or refused database connection).
pub(crate) async fn retry_on_disconnect<T, F, Fut>(what: &str, read: F) -> NovaResult<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = NovaResult<T>>,
{
    retry_after(&READ_RETRY_DELAYS, READ_RETRY_BUDGET, what, read).await
}

async fn retry_after<T, F, Fut>(
    delays: &[Duration],
    budget: Duration,
    what: &str,
    read: F,
) -> NovaResult<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = NovaResult<T>>,
{
    let started = Instant::now();
    let mut delays = delays.iter();
    loop {
        match read().await {
            Err(e) if e.is_retryable() && started.elapsed() < budget => match delays.next() {
                Some(delay) => {
                    warn!("{what}: {e}; trying again in {delay:?}");
                    tokio::time::sleep(*delay).await;
                }
                None => return Err(e),
            },
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_common::NovaError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn lost() -> NovaError {
        NovaError::DBConnectionError {
            reason: "connection reset".into(),
        }
    }

    async fn count_tries(fail_first: usize, error: fn() -> NovaError) -> (NovaResult<u8>, usize) {
        let tries = AtomicUsize::new(0);
        let delays = [Duration::ZERO; 3];
        let outcome = retry_after(&delays, Duration::from_secs(60), "read", || async {
            if tries.fetch_add(1, Ordering::SeqCst) < fail_first {
                Err(error())
            } else {
                Ok(7)
            }
        })
        .await;
        (outcome, tries.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_read_that_lost_its_connection_is_tried_again() {
        assert_eq!(count_tries(2, lost).await, (Ok(7), 3));
    }

    #[tokio::test]
    async fn it_gives_up_after_the_last_delay() {
        assert_eq!(count_tries(10, lost).await, (Err(lost()), 4));
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let not_found = || NovaError::FlavorNotFound {
            flavor_id: "x".into(),
        };
        assert_eq!(count_tries(10, not_found).await, (Err(not_found()), 1));
    }
}
