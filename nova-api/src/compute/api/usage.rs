//! Usage over a period (Nova's `simple_tenant_usage` arithmetic): per
//! instance the hours it ran inside the period, per project the sums.

use super::API;
use chrono::{DateTime, Utc};
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::Instance;
use uuid::Uuid;

/// One instance's usage in the period.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerUsage {
    pub instance: Instance,
    pub hours: f64,
    pub local_gb: i64,
    /// `terminated`, or the instance's vm_state.
    pub state: String,
    /// Seconds from launch to termination (or now).
    pub uptime: i64,
}

/// A project's usage in the period.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantUsage {
    pub tenant_id: String,
    pub start: DateTime<Utc>,
    pub stop: DateTime<Utc>,
    pub total_hours: f64,
    pub total_local_gb_usage: f64,
    pub total_vcpus_usage: f64,
    pub total_memory_mb_usage: f64,
    pub server_usages: Vec<ServerUsage>,
}

/// Nova's `_hours_for`: the hours of `[start, stop]` the instance ran
/// (from launch, until termination); none if it never launched.
pub fn hours_for(i: &Instance, start: DateTime<Utc>, stop: DateTime<Utc>) -> f64 {
    let Some(launched) = i.launched_at else {
        return 0.0;
    };
    if i.terminated_at.is_some_and(|t| t < start) || launched > stop {
        return 0.0;
    }
    let from = launched.max(start);
    let to = i.terminated_at.map_or(stop, |t| t.min(stop));
    (to - from).num_milliseconds() as f64 / 3_600_000.0
}

/// The per-project reports, in the order the projects first appear.
pub fn tenant_usages(
    instances: Vec<Instance>,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<TenantUsage> {
    let mut out: Vec<TenantUsage> = vec![];
    for i in instances {
        let hours = hours_for(&i, start, stop);
        let local_gb = i.root_gb + i.ephemeral_gb;
        let terminated = i.terminated_at.is_some();
        let launched = i.launched_at.unwrap_or(now);
        let uptime = (i.terminated_at.unwrap_or(now) - launched).num_seconds();
        let usage = ServerUsage {
            hours,
            local_gb,
            state: if terminated {
                "terminated".into()
            } else {
                i.vm_state.as_str().into()
            },
            uptime,
            instance: i,
        };
        let tenant = usage.instance.project_id.clone();
        let pos = match out.iter().position(|t| t.tenant_id == tenant) {
            Some(p) => p,
            None => {
                out.push(TenantUsage {
                    tenant_id: tenant,
                    start,
                    stop,
                    total_hours: 0.0,
                    total_local_gb_usage: 0.0,
                    total_vcpus_usage: 0.0,
                    total_memory_mb_usage: 0.0,
                    server_usages: vec![],
                });
                out.len() - 1
            }
        };
        let t = &mut out[pos];
        t.total_local_gb_usage += local_gb as f64 * hours;
        t.total_vcpus_usage += usage.instance.vcpus as f64 * hours;
        t.total_memory_mb_usage += usage.instance.memory_mb as f64 * hours;
        t.total_hours += hours;
        t.server_usages.push(usage);
    }
    out
}

/// A page of the instances a usage report covers (2.40; before it the
/// first `[api] max_limit`).
#[derive(Clone, Debug, Default)]
pub struct UsagePage {
    pub limit: usize,
    pub marker: Option<Uuid>,
}

impl API {
    /// The usage of one project (or all) between `start` and `stop`, over
    /// one page of instances; with the last instance's uuid when the page
    /// is full (the next page's marker).
    pub async fn get_tenant_usages(
        &self,
        ctx: &RequestContext,
        start: DateTime<Utc>,
        stop: DateTime<Utc>,
        project_id: Option<String>,
        page: UsagePage,
    ) -> NovaResult<(Vec<TenantUsage>, Option<Uuid>)> {
        let mut instances = self
            .conductor
            .instance_get_active_by_window_joined(ctx, start, stop, project_id, None)
            .await?;
        if let Some(m) = page.marker {
            let pos =
                instances
                    .iter()
                    .position(|i| i.uuid == m)
                    .ok_or(NovaError::MarkerNotFound {
                        marker: m.to_string(),
                    })?;
            instances.drain(..=pos);
        }
        instances.truncate(page.limit);
        let next = match instances.last() {
            Some(last) if page.limit > 0 && instances.len() == page.limit => Some(last.uuid),
            _ => None,
        };
        Ok((tenant_usages(instances, start, stop, Utc::now()), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn hours_inside_the_period() {
        let mut i = Instance {
            launched_at: Some(at(2)),
            ..Default::default()
        };
        assert_eq!(hours_for(&i, at(0), at(10)), 8.0);
        assert_eq!(hours_for(&i, at(4), at(10)), 6.0);
        i.terminated_at = Some(at(5));
        assert_eq!(hours_for(&i, at(0), at(10)), 3.0);
        assert_eq!(hours_for(&i, at(6), at(10)), 0.0);
        assert_eq!(hours_for(&i, at(0), at(1)), 0.0);
        i.launched_at = None;
        assert_eq!(hours_for(&i, at(0), at(10)), 0.0);
    }

    #[test]
    fn sums_per_project() {
        let inst = |p: &str, vcpus: i64| Instance {
            project_id: p.into(),
            vcpus,
            memory_mb: 512,
            root_gb: 1,
            launched_at: Some(at(0)),
            ..Default::default()
        };
        let u = tenant_usages(
            vec![inst("a", 1), inst("b", 2), inst("a", 2)],
            at(0),
            at(2),
            at(3),
        );
        assert_eq!(u.len(), 2);
        assert_eq!(
            (
                u[0].tenant_id.as_str(),
                u[0].total_hours,
                u[0].total_vcpus_usage
            ),
            ("a", 4.0, 6.0)
        );
        assert_eq!(u[0].total_memory_mb_usage, 2048.0);
        assert_eq!(u[1].server_usages[0].uptime, 3 * 3600);
        assert_eq!(u[1].server_usages[0].state, "building");
    }
}
