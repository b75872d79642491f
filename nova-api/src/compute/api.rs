//! Port of `nova/compute/api.py`: [`API`] is the one place that creates,
//! deletes and acts on instances, checks their state, quota and
//! availability zone; [`KeypairAPI`] (in `api/keypairs.rs`) manages key pairs.
//!
//! Callers hand it parsed input and a [`RequestContext`] and get objects or
//! a [`NovaError`]; nothing here knows HTTP, so the OpenStack API, the EC2
//! API and the metadata service can all use it. Policy is the caller's
//! (Nova checks it in the API layer).
//!
//! State changes follow [`nova_common::transitions`]: check the instance's
//! states, set the task_state with a compare-and-set, record the instance
//! action, cast to the compute host — and if the cast fails, put the
//! task_state back so that nothing is left waiting for a message that was
//! never sent.
//!
//! Deliberate deviation: upstream reads and saves instances in the database
//! from here; in this port every read and write is a conductor call.

use crate::servicegroup;
use nova_clients::GlanceClient;
use nova_common::states::{TaskState, VmState};
use nova_common::transitions::{self, StateCheck, Transition};
use nova_common::{NovaConfig, NovaError, NovaResult, RequestContext};
use nova_objects::numa::numa_get_constraints;
use nova_objects::{
    ConsoleAuthToken, Flavor, ImageMeta, Instance, InstanceCreate, InstanceFault, InstanceFilters,
    InstanceUpdate, NetworkRequest, QuotaUsage, RequestSpec, Service,
};
use nova_rpc::{compute, compute_task, conductor, network};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use tracing::{error, info, warn};
use uuid::Uuid;

mod admin_actions;
mod admin_password;
mod aggregates;
mod block_devices;
mod empty_projects;
mod evacuate;
pub mod external_events;
mod extra_specs;
mod flavor_cache;
mod flavors;
mod hosts;
mod image_meta_cache;
mod images;
mod instance_cache;
mod instance_extras;
mod keypairs;
mod live_migrate;
mod migrate;
mod network_api;
mod rescue;
mod server_groups;
pub mod server_password;
mod shelve;
pub use block_devices::BlockDevice;
pub use evacuate::EvacuateRequest;
pub use network_api::NetworkShape;
pub use shelve::UnshelveRequest;
mod usage;
pub use instance_extras::MAX_TAG_COUNT;
pub use keypairs::{fingerprint, KeypairAPI};
pub use live_migrate::LiveMigrateRequest;
pub use server_groups::ServerGroupCreate;
pub mod security_groups;
pub use security_groups::SecurityGroupAPI;
pub use usage::{ServerUsage, TenantUsage, UsagePage};

/// Nova's `sanitize_hostname`.
/// The most instances one create request may ask for (`max_count`): beyond
/// it a request could not answer quickly even with unlimited quota.
pub const MAX_INSTANCES_PER_REQUEST: i64 = 1000;

pub fn sanitize_hostname(name: &str) -> String {
    let mut h: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    h = h.trim_matches(|c| c == '-' || c == '.').to_string();
    h.truncate(63);
    h = h.trim_end_matches(['-', '.']).to_string();
    if h.is_empty() {
        "server".into()
    } else {
        h
    }
}

/// The networks a new instance asks for (`requested_networks`).
#[derive(Clone, Debug, PartialEq)]
pub enum RequestedNetworks {
    /// Allocate from the networks available to the project.
    Auto,
    /// No network at all (microversion 2.37).
    None,
    /// These networks, in order, each with the fixed address asked for.
    Networks(Vec<NetworkRequest>),
}

impl RequestedNetworks {
    /// The form kept in the instance's system_metadata, read when networks are allocated.
    pub fn to_json(&self) -> Value {
        match self {
            RequestedNetworks::Auto => json!("auto"),
            RequestedNetworks::None => json!("none"),
            // A request without an address or tag keeps the bare uuid it
            // always was.
            RequestedNetworks::Networks(reqs) => Value::Array(
                reqs.iter()
                    .map(|r| match (&r.address, &r.tag) {
                        (None, None) => json!(r.network_id.to_string()),
                        _ => json!(r),
                    })
                    .collect(),
            ),
        }
    }
}

/// A requested availability zone in Nova's legacy `zone[:host[:node]]` form,
/// where the host part forces placement (an admin feature).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestedZone {
    /// As the user wrote it.
    pub raw: String,
    pub zone: String,
    pub forced_host: Option<String>,
}

impl RequestedZone {
    /// Nova's `_handle_availability_zone`.
    pub fn parse(raw: &str) -> NovaResult<Self> {
        if raw.matches(':').count() > 2 {
            return Err(NovaError::invalid_input(
                "Unable to parse availability_zone",
            ));
        }
        let mut parts = raw.split(':');
        let zone = parts.next().unwrap_or_default().to_string();
        let forced_host = parts.next().filter(|h| !h.is_empty()).map(str::to_string);
        Ok(RequestedZone {
            raw: raw.to_string(),
            zone,
            forced_host,
        })
    }

    /// Whether it names a host or node (the `create:forced_host` policy applies).
    pub fn forces_placement(&self) -> bool {
        self.raw.contains(':')
    }
}

/// What a new server is made of (the arguments of Nova's `API.create`).
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub display_name: String,
    pub display_description: Option<String>,
    /// Glance image id.
    pub image_href: String,
    pub flavor: Flavor,
    pub min_count: i64,
    pub max_count: i64,
    pub key_name: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub requested_networks: RequestedNetworks,
    /// Base64, as the user sent it.
    pub user_data: Option<String>,
    pub availability_zone: Option<RequestedZone>,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub config_drive: bool,
    /// `OS-DCF:diskConfig`: `Some(true)` for AUTO, `Some(false)` for MANUAL;
    /// `None` takes the image's `auto_disk_config`.
    pub auto_disk_config: Option<bool>,
    /// Names of the project's security groups to join (none: `default`).
    pub security_groups: Vec<String>,
    /// Items the caller records in each instance's system metadata along
    /// with Nova's own (the EC2 API's `EC2_client_token`).
    pub system_metadata: BTreeMap<String, String>,
    /// Tags (2.52), validated by the caller.
    pub tags: Vec<String>,
    /// The requested hostname (2.90), instead of one from the name.
    pub hostname: Option<String>,
    /// 2.74: the host and/or node to build on (the filters still run).
    pub requested_host: Option<String>,
    pub requested_hypervisor_hostname: Option<String>,
    /// The scheduler hints given (`os:scheduler_hints`); `group` names the
    /// server group the servers join.
    pub scheduler_hints: serde_json::Map<String, Value>,
    /// The image certificate ids the user trusts (2.63), kept with each
    /// instance. Nova validates certificates only when it verifies image
    /// signatures (`[glance] verify_glance_signatures`, not served here), so
    /// they are recorded and shown.
    pub trusted_certs: Option<Vec<String>>,
    /// The admin password (given or generated), which only a config drive
    /// carries to the guest.
    pub admin_password: Option<String>,
    /// The personality files (before 2.57): `(path, base64 contents)`,
    /// validated by the caller; the quota is checked here.
    pub injected_files: Vec<(String, String)>,
    /// The kernel and ramdisk images to boot with instead of the image's
    /// (the EC2 API's `KernelId`, `RamdiskId`; Glance ids).
    pub kernel_id: Option<String>,
    pub ramdisk_id: Option<String>,
}

pub use nova_objects::SCHEDULER_HINTS_KEY;

/// The instances a create made, and the reservation id they share.
#[derive(Debug)]
pub struct Created {
    pub instances: Vec<Instance>,
    pub reservation_id: String,
}

/// A validated rebuild: the image and what else changes with it. `None`
/// leaves a field as it is; for nullable ones `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct RebuildRequest {
    pub image_href: String,
    pub admin_pass: String,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub access_ip_v4: Option<Option<String>>,
    pub access_ip_v6: Option<Option<String>>,
    pub preserve_ephemeral: bool,
    /// 2.54.
    pub key_name: Option<Option<String>>,
    /// 2.57.
    pub user_data: Option<Option<String>>,
    /// 2.90.
    pub hostname: Option<String>,
    /// 2.63: new trusted image certificate ids (`Some(None)` clears them).
    pub trusted_certs: Option<Option<Vec<String>>>,
    /// The personality files (before 2.57), as in [`CreateRequest`].
    pub injected_files: Vec<(String, String)>,
    /// `OS-DCF:diskConfig`, as in [`CreateRequest`] (of the new image).
    pub auto_disk_config: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebootType {
    Soft,
    Hard,
}

impl RebootType {
    pub fn as_str(self) -> &'static str {
        match self {
            RebootType::Soft => "SOFT",
            RebootType::Hard => "HARD",
        }
    }
}

/// The `api` topic: the conductor's fanout casts, what to forget.
#[nova_rpc::__private::async_trait]
impl nova_rpc::api::Manager for API {
    async fn flavors_changed(&self, _ctx: &RequestContext) -> NovaResult<()> {
        self.flavor_cache.drop_all();
        Ok(())
    }

    async fn instances_created(&self, _ctx: &RequestContext, project_id: String) -> NovaResult<()> {
        self.empty_projects.forget(&project_id);
        Ok(())
    }
}

/// What [`API::before_listing`] says of a listing.
enum Listing {
    /// Of a project known to have no instances: nothing, without asking.
    KnownEmpty,
    /// Ask the conductor; a whole project's listing is remembered if it
    /// finds nothing.
    Ask(Option<WholeProject>),
}

/// A listing of all of a project's instances, begun under `generation`
/// and connection `epoch` (see `empty_projects`).
struct WholeProject {
    project: String,
    generation: u64,
    epoch: u64,
}

/// `nova.compute.api.API`.
#[derive(Clone)]
pub struct API {
    cfg: Arc<NovaConfig>,
    conductor: conductor::Client,
    /// The conductor's `compute_task` namespace (Nova's `ComputeTaskAPI`).
    compute_task_api: compute_task::Client,
    compute_rpcapi: compute::Client,
    network_api: network::Client,
    image_api: GlanceClient,
    /// Active images' metadata for `[glance] image_metadata_cache_time`.
    image_cache: Arc<image_meta_cache::ImageMetaCache>,
    /// Every flavor, until a flavor write (see `flavor_cache`).
    flavor_cache: Arc<flavor_cache::FlavorCache>,
    /// The instances of recent `servers/detail` listings, each at its
    /// generation (see `instance_cache`).
    instance_cache: Arc<instance_cache::InstanceCache>,
    /// The projects known to have no instances (see `empty_projects`).
    empty_projects: Arc<empty_projects::EmptyProjects>,
    security_group_api: SecurityGroupAPI,
}

impl API {
    pub fn new(
        cfg: Arc<NovaConfig>,
        conductor: conductor::Client,
        compute_rpcapi: compute::Client,
        network_api: network::Client,
        image_api: GlanceClient,
    ) -> Self {
        let image_cache = Arc::new(image_meta_cache::ImageMetaCache::new(
            std::time::Duration::from_secs(cfg.glance.image_metadata_cache_time),
        ));
        // Room for two full pages of the largest listing.
        let instance_cache = Arc::new(instance_cache::InstanceCache::new(2 * cfg.api.max_limit));
        API {
            cfg,
            image_cache,
            flavor_cache: Default::default(),
            instance_cache,
            empty_projects: Default::default(),
            compute_task_api: compute_task::Client::new(conductor.transport().clone()),
            security_group_api: SecurityGroupAPI::new(conductor.clone(), compute_rpcapi.clone()),
            conductor,
            compute_rpcapi,
            network_api,
            image_api,
        }
    }

    // ----- reading instances -----

    /// An instance as the caller may see it: other projects' instances do
    /// not exist for non-admins. `id` is reported back as given.
    pub async fn get(&self, ctx: &RequestContext, id: &str) -> NovaResult<Instance> {
        let uuid = parse_instance_id(id)?;
        let inst = self
            .conductor
            .instance_get_by_uuid(ctx, uuid)
            .await
            .map_err(|e| instance_not_found_as(e, id))?;
        visible_to(ctx, inst, id)
    }

    /// As [`API::get`], with the `nova-compute` service of its host (none
    /// when it has none), read in the same conductor round trip: what a
    /// delete needs to know whether the host is up. `None` for the services
    /// when the conductor predates the combined read ([`API::delete_with`]
    /// then reads them itself).
    pub async fn get_with_services(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> NovaResult<(Instance, Option<Vec<Service>>)> {
        let uuid = parse_instance_id(id)?;
        match self
            .conductor
            .instance_get_by_uuid_with_services(ctx, uuid)
            .await
        {
            Ok((inst, services)) => Ok((visible_to(ctx, inst, id)?, Some(services))),
            Err(NovaError::UnsupportedRpcMethod { .. }) => Ok((self.get(ctx, id).await?, None)),
            Err(e) => Err(instance_not_found_as(e, id)),
        }
    }

    /// As [`API::get`], with the `host_status` of its host (microversion
    /// 2.16), read in the same conductor round trip.
    pub async fn get_with_host_statuses(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> NovaResult<(Instance, HashMap<String, &'static str>)> {
        let uuid = parse_instance_id(id)?;
        match self
            .conductor
            .instance_get_by_uuid_with_services(ctx, uuid)
            .await
        {
            Ok((inst, services)) => {
                Ok((visible_to(ctx, inst, id)?, self.host_statuses_of(&services)))
            }
            // A conductor from before the combined read: the two calls.
            Err(NovaError::UnsupportedRpcMethod { .. }) => {
                let inst = self.get(ctx, id).await?;
                Ok((inst, self.host_statuses(ctx).await.unwrap_or_default()))
            }
            Err(e) => Err(instance_not_found_as(e, id)),
        }
    }

    /// Instances matching `filters`; `flavor_id` (the public flavor id)
    /// narrows them to one flavor, and matches nothing when it does not exist.
    pub async fn get_all(
        &self,
        ctx: &RequestContext,
        mut filters: InstanceFilters,
        flavor_id: Option<String>,
    ) -> NovaResult<Vec<Instance>> {
        if !self
            .resolve_flavor_filter(ctx, &mut filters, flavor_id)
            .await?
        {
            return Ok(vec![]);
        }
        let whole = match self.before_listing(&filters) {
            Listing::KnownEmpty => return Ok(vec![]),
            Listing::Ask(whole) => whole,
        };
        let instances = self
            .conductor
            .instance_get_all_by_filters(ctx, filters)
            .await?;
        self.after_listing(whole, instances.is_empty());
        Ok(instances)
    }

    /// As [`API::get_all`], with the `host_status` of each compute host the
    /// instances are on (microversion 2.16), read in the same conductor
    /// round trip.
    pub async fn get_all_with_host_statuses(
        &self,
        ctx: &RequestContext,
        mut filters: InstanceFilters,
        flavor_id: Option<String>,
    ) -> NovaResult<(Vec<Instance>, HashMap<String, &'static str>)> {
        if !self
            .resolve_flavor_filter(ctx, &mut filters, flavor_id)
            .await?
        {
            return Ok((vec![], HashMap::new()));
        }
        match self
            .conductor
            .instance_get_all_by_filters_with_services(ctx, filters.clone())
            .await
        {
            Ok((instances, services)) => Ok((instances, self.host_statuses_of(&services))),
            // A conductor from before the combined read: the two calls.
            Err(NovaError::UnsupportedRpcMethod { .. }) => {
                let instances = self
                    .conductor
                    .instance_get_all_by_filters(ctx, filters)
                    .await?;
                Ok((instances, self.host_statuses(ctx).await.unwrap_or_default()))
            }
            Err(e) => Err(e),
        }
    }

    /// As [`API::get_all`] (with the `host_status` of each compute host
    /// when `with_host_statuses`), for a listing asked again and again:
    /// the conductor sends only the instances nova-api does not hold at
    /// their current generation (see `instance_cache`); the others are the
    /// copies held.
    pub async fn get_all_known(
        &self,
        ctx: &RequestContext,
        mut filters: InstanceFilters,
        flavor_id: Option<String>,
        with_host_statuses: bool,
    ) -> NovaResult<(Vec<Arc<Instance>>, HashMap<String, &'static str>)> {
        if !self
            .resolve_flavor_filter(ctx, &mut filters, flavor_id)
            .await?
        {
            return Ok((vec![], HashMap::new()));
        }
        let whole = match self.before_listing(&filters) {
            Listing::KnownEmpty => return Ok((vec![], HashMap::new())),
            Listing::Ask(whole) => whole,
        };
        let query = serde_json::to_string(&filters)
            .map_err(|e| NovaError::internal(format!("listing filters: {e}")))?;
        let attrs = filters.expected_attrs.clone();
        let mut held = self.instance_cache.held(&query, attrs.as_deref());
        let known = std::mem::take(&mut held.known);
        match self
            .conductor
            .instance_get_all_by_filters_known(ctx, filters.clone(), known, with_host_statuses)
            .await
        {
            Ok((listed, services)) => {
                if let Some(page) =
                    self.instance_cache
                        .resolve(query, attrs.as_deref(), held, listed)
                {
                    self.after_listing(whole, page.is_empty());
                    return Ok((page, self.host_statuses_of(&services)));
                }
            }
            // A conductor from before this call: the full listing.
            Err(NovaError::UnsupportedRpcMethod { .. }) => {}
            Err(e) => return Err(e),
        }
        let (instances, statuses) = if with_host_statuses {
            self.get_all_with_host_statuses(ctx, filters, None).await?
        } else {
            (self.get_all(ctx, filters, None).await?, HashMap::new())
        };
        Ok((instances.into_iter().map(Arc::new).collect(), statuses))
    }

    /// Whether a listing must ask the conductor: not when it lists all of
    /// a project's instances and the project is known to have none (see
    /// `empty_projects`).
    fn before_listing(&self, filters: &InstanceFilters) -> Listing {
        let Some(project) = filters.whole_project() else {
            return Listing::Ask(None);
        };
        let epoch = self.conductor.transport().connection_epoch();
        match self.empty_projects.check(project, epoch) {
            Ok(()) => Listing::KnownEmpty,
            Err(generation) => Listing::Ask(Some(WholeProject {
                project: project.to_string(),
                generation,
                epoch,
            })),
        }
    }

    /// After a listing the conductor answered: a whole project's that
    /// found nothing says the project has no instances.
    fn after_listing(&self, whole: Option<WholeProject>, found_none: bool) {
        if let Some(w) = whole.filter(|_| found_none) {
            self.empty_projects
                .found_empty(&w.project, w.generation, w.epoch);
        }
    }

    /// Turn a public flavor id filter into the flavor's internal id; false
    /// when no such flavor exists (nothing can match).
    async fn resolve_flavor_filter(
        &self,
        ctx: &RequestContext,
        filters: &mut InstanceFilters,
        flavor_id: Option<String>,
    ) -> NovaResult<bool> {
        if let Some(id) = flavor_id {
            match self.conductor.flavor_get_by_flavor_id(ctx, id).await {
                Ok(flavor) => filters.flavor_id = Some(flavor.id),
                Err(NovaError::FlavorNotFound { .. }) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// `host_status` of each compute host (microversion 2.16):
    /// UP, DOWN (not reporting, or forced down) or MAINTENANCE (disabled).
    pub async fn host_statuses(
        &self,
        ctx: &RequestContext,
    ) -> NovaResult<HashMap<String, &'static str>> {
        let services = self.conductor.service_get_all(ctx).await?;
        Ok(self.host_statuses_of(&services))
    }

    /// `host_status` of the compute hosts among `services`.
    pub fn host_statuses_of(&self, services: &[Service]) -> HashMap<String, &'static str> {
        services
            .iter()
            .filter(|s| s.binary == "nova-compute")
            .map(|s| {
                let st = if s.forced_down || !servicegroup::service_is_up(&self.cfg, s) {
                    "DOWN"
                } else if s.disabled {
                    "MAINTENANCE"
                } else {
                    "UP"
                };
                (s.host.clone(), st)
            })
            .collect()
    }

    // ----- create -----

    /// Nova's `API.create`: validate everything, take quota for as many of
    /// `min_count..=max_count` instances as it allows, record them in BUILD
    /// and hand them to the conductor to schedule and build. If recording
    /// fails part-way the recorded ones are destroyed; if the hand-over
    /// fails they go to ERROR with a fault.
    pub async fn create(&self, ctx: &RequestContext, req: CreateRequest) -> NovaResult<Created> {
        let (Some(user), Some(project)) = (ctx.user_id.clone(), ctx.project_id.clone()) else {
            return Err(NovaError::NotAuthorized {
                reason: "the request has no user or project".into(),
            });
        };
        // No zone asked for: `[DEFAULT] default_schedule_zone`, if set, as
        // if the user had asked for it (the server is kept there).
        let mut req = req;
        if req.availability_zone.is_none() {
            if let Some(zone) = &self.cfg.default.default_schedule_zone {
                req.availability_zone = Some(RequestedZone::parse(zone)?);
            }
        }
        let keypair = match &req.key_name {
            Some(name) => Some(
                self.conductor
                    .keypair_get(ctx, user.clone(), name.clone())
                    .await?,
            ),
            None => None,
        };
        if let Some(az) = &req.availability_zone {
            self.validate_availability_zone(ctx, az).await?;
        }
        let security_groups = if req.security_groups.is_empty() {
            vec!["default".to_string()]
        } else {
            req.security_groups.clone()
        };
        self.security_group_api
            .check_requested_secgroups(ctx, &security_groups)
            .await?;
        self.check_requested_networks(ctx, &req.requested_networks, req.max_count)
            .await?;
        self.check_metadata_quota(ctx, &project, req.metadata.len())
            .await?;
        self.check_injected_file_quota(ctx, &project, &req.injected_files)
            .await?;
        let flavor = &req.flavor;
        if flavor.disabled {
            return Err(NovaError::InvalidRequest {
                reason: "Flavor is disabled.".into(),
            });
        }
        let requested_destination = self
            .validate_host_or_node(
                ctx,
                req.requested_host.as_deref(),
                req.requested_hypervisor_hostname.as_deref(),
            )
            .await?;
        // Nova's `_get_requested_instance_group`.
        let instance_group = match req.scheduler_hints.get("group").and_then(Value::as_str) {
            Some(g) => Some(self.get_server_group(ctx, g).await?),
            None => None,
        };
        let image = self.image_for_create(ctx, &req.image_href).await?;
        check_requested_image(&image, flavor)?;
        let auto_disk_config = inherit_auto_disk_config(&image, req.auto_disk_config)?;
        let (kernel_id, ramdisk_id) = self
            .kernel_and_ramdisk(
                ctx,
                req.kernel_id.as_deref(),
                req.ramdisk_id.as_deref(),
                &image,
            )
            .await?;
        let count = req.max_count;
        if req.hostname.is_some() && count > 1 {
            return Err(NovaError::AmbiguousHostnameForMultipleInstances {});
        }
        if req.tags.len() > MAX_TAG_COUNT {
            return Err(instance_extras::too_many_tags());
        }
        if count > MAX_INSTANCES_PER_REQUEST {
            return Err(NovaError::InvalidRequest {
                reason: format!(
                    "max_count {count} is more than one request may create ({MAX_INSTANCES_PER_REQUEST})"
                ),
            });
        }

        let reservation_id = format!("r-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let mut system_metadata = req.system_metadata.clone();
        system_metadata.insert(
            "requested_networks".to_string(),
            req.requested_networks.to_json().to_string(),
        );
        system_metadata.insert(
            "image_disk_format".into(),
            image.disk_format.clone().unwrap_or_default(),
        );
        if let Some(n) = &image.name {
            system_metadata.insert("image_base_image_ref".into(), image.id.clone());
            system_metadata.insert("image_name".into(), n.chars().take(255).collect());
        }
        // Nova's `get_system_metadata_from_image`: the image's properties
        // (2.98 shows them) and the inheritable keys, prefixed.
        for (k, val) in image.properties.iter().filter(|(k, _)| k.len() <= 249) {
            system_metadata.insert(format!("image_{k}"), val.chars().take(255).collect());
        }
        system_metadata.insert("image_min_ram".into(), image.min_ram.to_string());
        system_metadata.insert("image_min_disk".into(), image.min_disk.to_string());
        if let Some(cf) = &image.container_format {
            system_metadata.insert("image_container_format".into(), cf.clone());
        }
        // The zone the user asked for pins the server there (Nova's
        // RequestSpec.availability_zone; 2.96 shows it).
        if let Some(az) = req
            .availability_zone
            .as_ref()
            .map(|az| az.zone.as_str())
            .filter(|z| !z.is_empty())
        {
            system_metadata.insert(nova_objects::PINNED_AZ_KEY.into(), az.to_string());
        }
        // The hints as Nova's RequestSpec keeps them: every value a list.
        let scheduler_hints: BTreeMap<String, Vec<Value>> = req
            .scheduler_hints
            .iter()
            .map(|(k, v)| match v {
                Value::Array(a) => (k.clone(), a.clone()),
                other => (k.clone(), vec![other.clone()]),
            })
            .collect();
        if !scheduler_hints.is_empty() {
            let text = json!(scheduler_hints).to_string();
            if text.chars().count() <= 255 {
                system_metadata.insert(SCHEDULER_HINTS_KEY.into(), text);
            }
        }
        let zone = req
            .availability_zone
            .as_ref()
            .map(|az| az.zone.as_str())
            .filter(|z| !z.is_empty())
            .unwrap_or(&self.cfg.default.default_availability_zone)
            .to_string();
        let mut requested = Vec::with_capacity(count as usize);
        for index in 0..count {
            let display_name = if count > 1 {
                format!("{}-{}", req.display_name, index + 1)
            } else {
                req.display_name.clone()
            };
            let values = InstanceCreate {
                uuid: Uuid::new_v4(),
                user_id: user.clone(),
                project_id: project.clone(),
                hostname: req
                    .hostname
                    .clone()
                    .unwrap_or_else(|| sanitize_hostname(&display_name)),
                display_name,
                display_description: req.display_description.clone(),
                image_ref: image.id.clone(),
                flavor: flavor.clone(),
                availability_zone: Some(zone.clone()),
                key_name: keypair.as_ref().map(|k| k.name.clone()),
                key_data: keypair.as_ref().map(|k| k.public_key.clone()),
                user_data: req.user_data.clone(),
                reservation_id: reservation_id.clone(),
                launch_index: index as i32,
                access_ip_v4: req.access_ip_v4.clone(),
                access_ip_v6: req.access_ip_v6.clone(),
                config_drive: if req.config_drive {
                    "True".into()
                } else {
                    String::new()
                },
                auto_disk_config,
                kernel_id: kernel_id.clone(),
                ramdisk_id: ramdisk_id.clone(),
                metadata: req.metadata.clone(),
                system_metadata: system_metadata.clone(),
                request_id: ctx.request_id.clone(),
                security_groups: security_groups.clone(),
                instance_group: instance_group.as_ref().map(|g| g.uuid),
                trusted_certs: req.trusted_certs.clone(),
            };
            requested.push(values);
        }
        // The conductor takes quota for as many as fit (at least min_count)
        // and records them in one transaction: all of those or none.
        let created = self
            .conductor
            .instance_create_within_quota(ctx, requested, req.min_count)
            .await;
        // Whatever the answer (a lost one may hide a write): the project
        // may have instances now, here at once (the conductor's cast
        // tells the other nova-apis).
        self.empty_projects.forget(&project);
        let created = created?;
        let uuids: Vec<Uuid> = created.iter().map(|i| i.uuid).collect();
        // Tags given at create (2.52), before anyone builds the servers.
        let mut created = created;
        if !req.tags.is_empty() {
            for inst in created.iter_mut() {
                inst.tags = self
                    .conductor
                    .instance_tag_set(ctx, inst.uuid, req.tags.clone())
                    .await?;
            }
        }
        let spec = RequestSpec {
            instance_uuid: uuids[0],
            project_id: project,
            user_id: user,
            flavor: flavor.clone(),
            image,
            num_instances: created.len() as i32,
            availability_zone: req.availability_zone.as_ref().map(|az| az.zone.clone()),
            ignore_hosts: vec![],
            force_hosts: req
                .availability_zone
                .as_ref()
                .and_then(|az| az.forced_host.clone())
                .or(requested_destination)
                .into_iter()
                .collect(),
            num_attempts: 1,
            instance_group,
            scheduler_hints,
            ..Default::default()
        };
        let cast = self.compute_task_api.schedule_and_build_instances(
            ctx,
            spec,
            uuids.clone(),
            req.admin_password.clone(),
            req.injected_files.clone(),
        );
        if let Err(e) = cast.await {
            // Nothing will build them: do not leave them in BUILD.
            for u in &uuids {
                self.set_error(ctx, *u, &e).await;
            }
            return Err(e);
        }
        Ok(Created {
            instances: created,
            reservation_id,
        })
    }

    /// Nova's `_validate_host_or_node` (2.74): the compute host a requested
    /// host and/or node names; ComputeHostNotFound when none has them.
    async fn validate_host_or_node(
        &self,
        ctx: &RequestContext,
        host: Option<&str>,
        node: Option<&str>,
    ) -> NovaResult<Option<String>> {
        if host.is_none() && node.is_none() {
            return Ok(None);
        }
        let nodes = self.conductor.compute_node_get_all(ctx).await?;
        nodes
            .iter()
            .find(|n| {
                host.is_none_or(|h| n.host == h) && node.is_none_or(|x| n.hypervisor_hostname == x)
            })
            .map(|n| Some(n.host.clone()))
            .ok_or_else(|| NovaError::ComputeHostNotFound {
                host: host.or(node).unwrap_or_default().to_string(),
            })
    }

    /// A fault saying why, then ERROR with task_state cleared (in this
    /// order, so that whoever sees ERROR also sees why).
    async fn set_error(&self, ctx: &RequestContext, uuid: Uuid, err: &NovaError) {
        let fault = InstanceFault::from_error(uuid, err, None);
        if let Err(e) = self.conductor.instance_fault_create(ctx, fault).await {
            warn!(instance = %uuid, "cannot record the fault: {e}");
        }
        let upd = InstanceUpdate {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            ..Default::default()
        };
        if let Err(e) = self.conductor.instance_update(ctx, uuid, upd).await {
            error!(instance = %uuid, "cannot set ERROR after a failure ({err}): {e}");
        }
    }

    /// The requested zone must be one users may boot in now (a zone of an
    /// enabled compute service); a forced host is the scheduler's to check,
    /// and then the zone is not checked, as in Nova.
    async fn validate_availability_zone(
        &self,
        ctx: &RequestContext,
        az: &RequestedZone,
    ) -> NovaResult<()> {
        if az.forced_host.is_some() || az.zone.is_empty() {
            return Ok(());
        }
        let (services, aggregates) = self.services_and_aggregates(ctx).await?;
        if !crate::availability_zones::is_available(&self.cfg, &services, &aggregates, &az.zone) {
            return Err(NovaError::InvalidRequest {
                reason: format!(
                    "The requested availability zone is not available: {}",
                    az.raw
                ),
            });
        }
        Ok(())
    }

    // ----- quota -----

    /// The migrations matching `filters` (Nova's `MigrationList.get_by_filters`).
    pub async fn migrations(
        &self,
        ctx: &RequestContext,
        filters: nova_objects::MigrationFilters,
    ) -> NovaResult<Vec<nova_objects::Migration>> {
        self.conductor
            .migration_get_all_by_filters(ctx, filters)
            .await
    }

    /// Every project's defaults: `[quota]` overridden by the `default`
    /// quota class (decided by the conductor, which enforces them).
    pub async fn quota_defaults(&self, ctx: &RequestContext) -> NovaResult<BTreeMap<String, i64>> {
        self.conductor.quota_get_defaults(ctx).await
    }

    /// A quota class's limits (Nova's `get_class_quotas`): each `[quota]`
    /// resource and nova-network's, overridden by the class where it sets them.
    pub async fn get_class_quotas(
        &self,
        ctx: &RequestContext,
        class_name: &str,
    ) -> NovaResult<BTreeMap<String, i64>> {
        let class = self
            .conductor
            .quota_class_get_all_by_name(ctx, class_name.to_string())
            .await?;
        Ok(self
            .cfg
            .quota
            .iter()
            .map(|(r, d)| (r.clone(), class.get(r).copied().unwrap_or(*d)))
            .collect())
    }

    /// Set a quota class's limits, then its limits as [`Self::get_class_quotas`] gives them.
    pub async fn update_class_quotas(
        &self,
        ctx: &RequestContext,
        class_name: &str,
        limits: BTreeMap<String, i64>,
    ) -> NovaResult<BTreeMap<String, i64>> {
        if class_name.is_empty() || class_name.chars().count() > 255 {
            return Err(NovaError::invalid_input(format!(
                "quota_class_name has to be between 1 and 255 characters long: {class_name}"
            )));
        }
        self.conductor
            .quota_class_update(ctx, class_name.to_string(), limits)
            .await?;
        self.get_class_quotas(ctx, class_name).await
    }

    /// A project's limits: the defaults overridden by its own.
    pub async fn get_project_quotas(
        &self,
        ctx: &RequestContext,
        project: &str,
    ) -> NovaResult<BTreeMap<String, i64>> {
        let mut limits = self.quota_defaults(ctx).await?;
        limits.extend(
            self.conductor
                .quota_get_all_by_project(ctx, project.to_string())
                .await?,
        );
        Ok(limits)
    }

    pub async fn quota_usage(&self, ctx: &RequestContext, project: &str) -> NovaResult<QuotaUsage> {
        self.conductor.quota_usage(ctx, project.to_string()).await
    }

    // ----- delete -----

    /// Delete: with a live compute host the host deletes; otherwise the API
    /// does (Nova's local delete).
    pub async fn delete(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        self.delete_with(ctx, inst, None).await
    }

    /// [`API::delete`], given the services of the instance's host when they
    /// were read with it ([`API::get_with_services`]): one conductor round
    /// trip fewer than reading every service to learn whether the host is up.
    pub async fn delete_with(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        services: Option<&[Service]>,
    ) -> NovaResult<()> {
        self.do_delete(ctx, inst, services, false).await
    }

    /// forceDelete: delete now, even with `reclaim_instance_interval` set
    /// (a SOFT_DELETED instance among others), as Nova's `force_delete`.
    pub async fn force_delete(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        self.do_delete(ctx, inst, None, true).await
    }

    /// restore: a SOFT_DELETED instance comes back ACTIVE (its host powers
    /// the guest on; one without a host is ACTIVE at once). Its quota was
    /// never given back (a soft-deleted instance keeps counting).
    pub async fn restore(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::RESTORE;
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        if inst.host.is_none() {
            self.record_action(ctx, inst.uuid, t.action).await;
            self.conductor
                .instance_update(
                    ctx,
                    inst.uuid,
                    InstanceUpdate {
                        vm_state: Some(VmState::Active),
                        task_state: Some(None),
                        expected_task_state: Some(vec![None]),
                        expected_vm_state: Some(vec![VmState::SoftDeleted]),
                        ..Default::default()
                    },
                )
                .await?;
            return Ok(());
        }
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.restore_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    /// Nova's `_delete`: by the host when it is up (a soft delete when
    /// `[DEFAULT] reclaim_instance_interval` > 0, the instance was launched
    /// and `force` is false), else locally.
    async fn do_delete(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        services: Option<&[Service]>,
        force: bool,
    ) -> NovaResult<()> {
        let soft =
            !force && self.cfg.default.reclaim_instance_interval > 0 && inst.launched_at.is_some();
        let t = if soft {
            &transitions::SOFT_DELETE
        } else {
            &transitions::DELETE
        };
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        let uuid = inst.uuid;
        self.record_action(ctx, uuid, t.action).await;
        // Its consoles go with it (Nova's `clean_console_auths_for_instance`).
        if let Err(e) = self
            .conductor
            .console_auth_token_destroy_all_by_instance(ctx, uuid)
            .await
        {
            warn!(instance = %uuid, "cannot delete the console tokens: {e}");
        }
        let compute_up = match &inst.host {
            Some(h) => {
                let read;
                let services = match services {
                    Some(s) => s,
                    None => {
                        read = self.conductor.service_get_all(ctx).await?;
                        &read
                    }
                };
                services.iter().any(|s| {
                    &s.host == h
                        && s.binary == "nova-compute"
                        && servicegroup::service_is_up(&self.cfg, s)
                })
            }
            None => false,
        };
        if compute_up {
            let host = inst.host.clone().unwrap_or_default();
            let inst = self.save_task_state(ctx, inst, t).await?;
            let compute = self.compute_rpcapi.to_server(&host);
            if soft {
                let cast = compute.soft_delete_instance(ctx, inst);
                return self.cast_or_revert(ctx, uuid, t, cast).await;
            }
            let cast = compute.terminate_instance(ctx, inst);
            self.cast_or_revert(ctx, uuid, t, cast).await
        } else {
            if !inst.network_info.is_empty() {
                self.network_api
                    .deallocate_for_instance(ctx, uuid, inst.host.clone())
                    .await?;
            } else {
                // A fixed IP may have been taken without the cache being written yet.
                self.conductor
                    .network_deallocate_instance(ctx, uuid)
                    .await?;
            }
            self.conductor.instance_destroy(ctx, uuid).await?;
            Ok(())
        }
    }

    // ----- actions -----

    pub async fn reboot(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        reboot_type: RebootType,
    ) -> NovaResult<()> {
        let t = match reboot_type {
            RebootType::Soft => &transitions::SOFT_REBOOT,
            RebootType::Hard => &transitions::HARD_REBOOT,
        };
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.reboot_instance(ctx, i, reboot_type.as_str().into());
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    pub async fn stop(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::STOP;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.stop_instance(ctx, i, true);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    pub async fn start(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::START;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.start_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    pub async fn pause(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::PAUSE;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.pause_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    pub async fn unpause(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::UNPAUSE;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.unpause_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    pub async fn suspend(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::SUSPEND;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.suspend_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    pub async fn resume(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::RESUME;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.resume_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    /// Nova's `trigger_crash_dump` (2.17): lock, host and state checked, the
    /// action recorded, an NMI cast to the instance's host; no state changes.
    pub async fn trigger_crash_dump(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<()> {
        let c = &transitions::TRIGGER_CRASH_DUMP;
        check_instance_lock(ctx, inst)?;
        Self::check_instance_host(inst)?;
        check_state_only(inst, c)?;
        self.record_action(ctx, inst.uuid, c.action).await;
        self.compute(inst)
            .trigger_crash_dump(ctx, inst.clone())
            .await
    }

    /// Nova's `add_fixed_ip` (addFixedIp): lock checked, a cast to the
    /// instance's host, which asks nova-network.
    pub async fn add_fixed_ip(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        network_id: String,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        Self::check_instance_host(inst)?;
        self.compute(inst)
            .add_fixed_ip_to_instance(ctx, inst.clone(), network_id)
            .await
    }

    /// Nova's `remove_fixed_ip` (removeFixedIp), as `add_fixed_ip`.
    pub async fn remove_fixed_ip(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        address: String,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        Self::check_instance_host(inst)?;
        self.compute(inst)
            .remove_fixed_ip_from_instance(ctx, inst.clone(), address)
            .await
    }

    /// Nova's `rebuild`: checks (lock, state, host, key pair, image against
    /// the flavor, metadata quota), then the new image_ref, name, key pair,
    /// user data... and task_state rebuilding saved at once (compare-and-set
    /// on an idle task_state), the action recorded, the metadata replaced
    /// and `rebuild_instance` cast to the instance's host.
    pub async fn rebuild(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        req: RebuildRequest,
    ) -> NovaResult<Instance> {
        let t = &transitions::REBUILD;
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        let (key_name, key_data) = match &req.key_name {
            None => (None, None),
            Some(None) => (Some(None), Some(None)),
            Some(Some(name)) => {
                let user = ctx.user_id.clone().unwrap_or_default();
                let kp = self.conductor.keypair_get(ctx, user, name.clone()).await?;
                (Some(Some(kp.name)), Some(Some(kp.public_key)))
            }
        };
        let image = self.image_for_create(ctx, &req.image_href).await?;
        check_requested_image(&image, &inst.flavor)?;
        let auto_disk_config = inherit_auto_disk_config(&image, req.auto_disk_config)?;
        let (kernel_id, ramdisk_id) = self.kernel_and_ramdisk(ctx, None, None, &image).await?;
        // The instance keeps its host and its cells: an image asking for
        // another NUMA topology would need a move (Nova's rebuild refusal).
        if numa_get_constraints(&inst.flavor, &image.properties)?
            != numa_get_constraints(&inst.flavor, &inst.image_properties())?
        {
            return Err(NovaError::ImageNUMATopologyRebuildConflict {});
        }
        if let Some(m) = &req.metadata {
            self.check_metadata_quota(ctx, &inst.project_id, m.len())
                .await?;
        }
        self.check_injected_file_quota(ctx, &inst.project_id, &req.injected_files)
            .await?;
        let orig_image_ref = inst.image_ref.clone();
        let updated = self
            .conductor
            .instance_update(
                ctx,
                inst.uuid,
                InstanceUpdate {
                    task_state: Some(Some(t.task_state)),
                    image_ref: Some(image.id.clone()),
                    kernel_id: Some(kernel_id),
                    ramdisk_id: Some(ramdisk_id),
                    progress: Some(0),
                    display_name: req.name,
                    display_description: req.description,
                    hostname: req.hostname,
                    access_ip_v4: req.access_ip_v4,
                    access_ip_v6: req.access_ip_v6,
                    key_name,
                    key_data,
                    user_data: req.user_data,
                    trusted_certs: req.trusted_certs,
                    auto_disk_config: Some(auto_disk_config),
                    expected_task_state: t.allowed_task_states.map(<[_]>::to_vec),
                    expected_vm_state: t.allowed_vm_states.map(<[_]>::to_vec),
                    ..Default::default()
                },
            )
            .await?;
        self.record_action(ctx, inst.uuid, t.action).await;
        if let Some(m) = req.metadata {
            self.conductor
                .instance_metadata_update(ctx, inst.uuid, m, true)
                .await?;
        }
        // As Nova: through the conductor, which forwards an in-place
        // rebuild to the instance's host.
        let spec = RequestSpec {
            instance_uuid: inst.uuid,
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor: inst.flavor.clone(),
            image: image.clone(),
            num_instances: 1,
            availability_zone: inst.availability_zone.clone(),
            ..Default::default()
        };
        let cast = self.compute_task_api.rebuild_instance(
            ctx,
            updated,
            orig_image_ref,
            image.id.clone(),
            Some(req.admin_pass),
            req.injected_files,
            false,
            false,
            req.preserve_ephemeral,
            None,
            spec,
            None,
        );
        self.cast_or_revert(ctx, inst.uuid, t, cast).await?;
        self.get(ctx, &inst.uuid.to_string()).await
    }

    /// createImage: the image record is created in Glance first (so its id
    /// can be returned), then the compute host snapshots into it. Any
    /// failure before the host has it deletes the record again.
    pub async fn snapshot(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        name: &str,
        extra_properties: &BTreeMap<String, String>,
    ) -> NovaResult<ImageMeta> {
        // A locked server may be snapshotted, as Nova's (no lock check).
        let t = &transitions::SNAPSHOT;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        let image = self
            .create_snapshot_image(ctx, inst, name, "snapshot", extra_properties)
            .await?;
        let i = match self.save_task_state(ctx, inst, t).await {
            Ok(i) => i,
            Err(e) => {
                self.delete_image(ctx, &image.id).await;
                return Err(e);
            }
        };
        self.record_action(ctx, inst.uuid, t.action).await;
        let compute = self.compute(inst);
        let cast = compute.snapshot_instance(ctx, i, image.id.clone());
        if let Err(e) = self.cast_or_revert(ctx, inst.uuid, t, cast).await {
            self.delete_image(ctx, &image.id).await;
            return Err(e);
        }
        Ok(image)
    }

    /// Where Glance serves an image (the `Location` of a snapshot).
    pub fn image_url(&self, image_id: &str) -> String {
        self.image_api.image_url(image_id)
    }

    async fn delete_image(&self, ctx: &RequestContext, image_id: &str) {
        if let Err(e) = self.image_api.delete(ctx, image_id).await {
            warn!(image = %image_id, "cannot delete the unused snapshot image: {e}");
        }
    }

    /// Lock the server; from 2.73 with a reason (kept in system_metadata
    /// as `locked_reason`, removed by unlock).
    pub async fn lock(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        reason: Option<String>,
    ) -> NovaResult<()> {
        let by = if ctx.is_admin { "admin" } else { "owner" };
        self.set_locked(ctx, inst, Some(by), reason).await?;
        self.record_action(ctx, inst.uuid, "lock").await;
        Ok(())
    }

    pub async fn unlock(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        self.set_locked(ctx, inst, None, None).await?;
        self.record_action(ctx, inst.uuid, "unlock").await;
        Ok(())
    }

    async fn set_locked(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        by: Option<&str>,
        reason: Option<String>,
    ) -> NovaResult<()> {
        let reason_change = match (by, reason) {
            (Some(_), Some(r)) => Some(Some(r)),
            (None, _) if inst.system_metadata.contains_key("locked_reason") => Some(None),
            _ => None,
        };
        self.conductor
            .instance_update(
                ctx,
                inst.uuid,
                InstanceUpdate {
                    locked: Some(by.is_some()),
                    locked_by: Some(by.map(str::to_string)),
                    system_metadata: reason_change
                        .map(|r| BTreeMap::from([("locked_reason".to_string(), r)])),
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Nova's `_check_requested_networks`: one fixed address cannot serve
    /// several instances, and nova-network validates the networks and
    /// addresses (`validate_networks`).
    async fn check_requested_networks(
        &self,
        ctx: &RequestContext,
        requested: &RequestedNetworks,
        max_count: i64,
    ) -> NovaResult<()> {
        let RequestedNetworks::Networks(reqs) = requested else {
            return Ok(());
        };
        if reqs.is_empty() {
            return Ok(());
        }
        if max_count > 1 && reqs.iter().any(|r| r.address.is_some()) {
            return Err(NovaError::InvalidFixedIpAndMaxCountRequest {
                reason: "max_count cannot be greater than 1 if an fixed_ip is specified.".into(),
            });
        }
        self.network_api.validate_networks(ctx, reqs.clone()).await
    }

    /// Nova's `check_instance_host`: an instance on no host is not ready.
    fn check_instance_host(inst: &Instance) -> NovaResult<()> {
        match inst.host {
            Some(_) => Ok(()),
            None => Err(NovaError::InstanceNotReady {
                instance_id: inst.uuid.to_string(),
            }),
        }
    }

    /// The guest's counters as its driver names them (diagnostics before 2.48).
    pub async fn get_diagnostics(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<BTreeMap<String, i64>> {
        Self::check_instance_host(inst)?;
        self.compute(inst).get_diagnostics(ctx, inst.clone()).await
    }

    /// The guest's diagnostics in the standard format (2.48).
    pub async fn get_instance_diagnostics(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<nova_objects::Diagnostics> {
        Self::check_instance_host(inst)?;
        self.compute(inst)
            .get_instance_diagnostics(ctx, inst.clone())
            .await
    }

    /// The guest's console log; its last `tail_length` lines if given.
    pub async fn get_console_output(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        tail_length: Option<i64>,
    ) -> NovaResult<String> {
        if inst.host.is_none() || inst.vm_state == VmState::Building {
            return Err(NovaError::InstanceNotReady {
                instance_id: inst.uuid.to_string(),
            });
        }
        self.compute(inst)
            .get_console_output(ctx, inst.clone(), tail_length)
            .await
    }

    /// A console URL for the guest (Nova >= Rocky: the compute host says where
    /// the guest's VNC server listens, a token is stored, by its hash, with
    /// `[consoleauth] token_ttl`, and the URL carries the token).
    pub async fn get_vnc_console(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        console_type: &str,
    ) -> NovaResult<String> {
        if inst.host.is_none() || inst.vm_state != VmState::Active {
            return Err(NovaError::InstanceNotReady {
                instance_id: inst.uuid.to_string(),
            });
        }
        let info = self
            .compute(inst)
            .get_vnc_console(ctx, inst.clone(), console_type.to_string())
            .await?;
        let token = Uuid::new_v4().to_string();
        let base = self.cfg.vnc.novncproxy_base_url.clone();
        self.conductor
            .console_auth_token_create(
                ctx,
                ConsoleAuthToken {
                    console_type: console_type.to_string(),
                    host: info.host,
                    port: info.port,
                    internal_access_path: info.internal_access_path,
                    instance_uuid: inst.uuid,
                    access_url_base: base.clone(),
                    token_hash: ConsoleAuthToken::hash(&token),
                    ..Default::default()
                },
                self.cfg.vnc.token_ttl as i64,
            )
            .await?;
        Ok(console_access_url(&base, console_type, &token))
    }

    // ----- the state machine -----

    fn compute(&self, inst: &Instance) -> compute::Client {
        self.compute_rpcapi
            .to_server(inst.host.as_deref().unwrap_or_default())
    }

    /// Checks, the task_state, the instance action: everything before the cast.
    async fn start_action(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        t: &Transition,
    ) -> NovaResult<Instance> {
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        let updated = self.save_task_state(ctx, inst, t).await?;
        self.record_action(ctx, inst.uuid, t.action).await;
        Ok(updated)
    }

    /// `instance.task_state = ...; instance.save(expected_task_state=...)`:
    /// the compare-and-set that makes two racing requests one winner and one
    /// UnexpectedTaskStateError.
    async fn save_task_state(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        t: &Transition,
    ) -> NovaResult<Instance> {
        self.conductor
            .instance_update(
                ctx,
                inst.uuid,
                InstanceUpdate {
                    task_state: Some(Some(t.task_state)),
                    expected_task_state: t.allowed_task_states.map(<[_]>::to_vec),
                    expected_vm_state: t.allowed_vm_states.map(<[_]>::to_vec),
                    ..Default::default()
                },
            )
            .await
    }

    /// Send the cast (or make the call); when it fails, put the task_state back
    /// (compare-and-set, so a task_state someone else set since is kept).
    async fn cast_or_revert(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        t: &Transition,
        cast: impl Future<Output = NovaResult<()>>,
    ) -> NovaResult<()> {
        let Err(e) = cast.await else {
            return Ok(());
        };
        warn!(instance = %uuid, "cannot cast {}: {e}; reverting task_state {}", t.event, t.task_state);
        let revert = InstanceUpdate {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(t.task_state)]),
            ..Default::default()
        };
        match self.conductor.instance_update(ctx, uuid, revert).await {
            Ok(_) => info!(instance = %uuid, "task_state {} reverted", t.task_state),
            Err(NovaError::UnexpectedTaskStateError { actual, .. }) => {
                info!(instance = %uuid, task_state = %actual, "task_state changed since; not reverting")
            }
            Err(r) => {
                error!(instance = %uuid, "cannot revert task_state {}: {r}", t.task_state)
            }
        }
        Err(e)
    }

    async fn record_action(&self, ctx: &RequestContext, uuid: Uuid, action: &str) {
        if let Err(e) = self
            .conductor
            .action_start(ctx, uuid, action.to_string(), ctx.request_id.clone())
            .await
        {
            warn!(instance = %uuid, "cannot record the {action} action: {e}");
        }
    }
}

/// `@check_instance_lock`: only admins act on a locked instance.
fn check_instance_lock(ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
    if inst.locked && !ctx.is_admin {
        return Err(NovaError::InstanceIsLocked {
            instance_uuid: inst.uuid.to_string(),
        });
    }
    Ok(())
}

/// `@check_instance_state`, from the transition table.
fn check_instance_state(inst: &Instance, t: &Transition) -> NovaResult<()> {
    check_states(inst, t.action, t.allowed_vm_states, t.allowed_task_states)
}

/// `@check_instance_state` of an action that changes no state.
fn check_state_only(inst: &Instance, c: &StateCheck) -> NovaResult<()> {
    check_states(
        inst,
        c.action,
        Some(c.allowed_vm_states),
        Some(c.allowed_task_states),
    )
}

fn check_states(
    inst: &Instance,
    action: &str,
    vm_states: Option<&[VmState]>,
    task_states: Option<&[Option<TaskState>]>,
) -> NovaResult<()> {
    let invalid = |attr: &str, state: &str| NovaError::InstanceInvalidState {
        attr: attr.into(),
        instance_uuid: inst.uuid.to_string(),
        state: state.into(),
        method: action.into(),
    };
    if vm_states.is_some_and(|a| !a.contains(&inst.vm_state)) {
        return Err(invalid("vm_state", inst.vm_state.as_str()));
    }
    if task_states.is_some_and(|a| !a.contains(&inst.task_state)) {
        let ts = inst.task_state.map(TaskState::as_str).unwrap_or("None");
        return Err(invalid("task_state", ts));
    }
    Ok(())
}

/// An instance not yet placed on a host has nothing to act on.
fn check_instance_host(inst: &Instance, t: &Transition) -> NovaResult<()> {
    if inst.host.is_none() {
        return Err(NovaError::InstanceInvalidState {
            attr: "vm_state".into(),
            instance_uuid: inst.uuid.to_string(),
            state: inst.vm_state.as_str().into(),
            method: t.action.into(),
        });
    }
    Ok(())
}

/// Nova's `_check_requested_image`: the image is usable with the flavor.
fn check_requested_image(image: &ImageMeta, flavor: &Flavor) -> NovaResult<()> {
    if image.status != "active" {
        return Err(NovaError::ImageNotActive {
            image_id: image.id.clone(),
        });
    }
    if image.min_ram > flavor.memory_mb {
        return Err(NovaError::FlavorMemoryTooSmall {});
    }
    let too_big = image
        .size
        .is_some_and(|s| s > flavor.root_gb * 1024 * 1024 * 1024);
    if flavor.root_gb > 0 && (image.min_disk > flavor.root_gb || too_big) {
        return Err(NovaError::FlavorDiskTooSmall {});
    }
    // A NUMA topology or CPU pinning the two cannot ask for together.
    numa_get_constraints(flavor, &image.properties)?;
    Ok(())
}

/// Nova's `_ensure_auto_disk_config_is_valid`: AUTO may not be asked of
/// an image whose `auto_disk_config` property is `disabled`.
pub fn check_auto_disk_config(
    image_id: &str,
    image_prop: Option<&str>,
    asked: Option<bool>,
) -> NovaResult<()> {
    let disabled = image_prop.is_some_and(|p| p.trim().eq_ignore_ascii_case("disabled"));
    if disabled && asked == Some(true) {
        return Err(NovaError::AutoDiskConfigDisabledByImage {
            image: image_id.to_string(),
        });
    }
    Ok(())
}

/// Nova's `_inherit_properties_from_image`: the `auto_disk_config` an
/// instance gets at create or rebuild, the one asked or else the image's.
fn inherit_auto_disk_config(image: &ImageMeta, asked: Option<bool>) -> NovaResult<bool> {
    let prop = image.properties.get("auto_disk_config").map(String::as_str);
    check_auto_disk_config(&image.id, prop, asked)?;
    Ok(asked.unwrap_or_else(|| prop.is_some_and(nova_common::bool_from_string)))
}

/// `application/x-www-form-urlencoded`, as Python's `urlencode` writes a value.
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The URL a console token is handed out in (`ConsoleAuthToken.access_url`).
/// noVNC >= 1.1 reads the websocket path from its `path` parameter, so the
/// token goes inside it (after a `path` the base URL already has).
pub fn console_access_url(base: &str, console_type: &str, token: &str) -> String {
    if console_type != "novnc" {
        let sep = if base.contains('?') { '&' } else { '?' };
        return format!("{base}{sep}token={token}");
    }
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let mut params: Vec<String> = vec![];
    let mut done = false;
    for p in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match p.strip_prefix("path=") {
            Some(old) if !done => {
                params.push(format!(
                    "path={old}{}",
                    form_encode(&format!("?token={token}"))
                ));
                done = true;
            }
            _ => params.push(p.to_string()),
        }
    }
    if !done {
        params.push(format!("path={}", form_encode(&format!("?token={token}"))));
    }
    format!("{head}?{}", params.join("&"))
}

/// An instance id as the API takes it, or InstanceNotFound naming it as given.
fn parse_instance_id(id: &str) -> NovaResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| NovaError::InstanceNotFound {
        instance_id: id.to_string(),
    })
}

/// The conductor's InstanceNotFound, naming the instance as the caller gave it.
fn instance_not_found_as(e: NovaError, id: &str) -> NovaError {
    match e {
        NovaError::InstanceNotFound { .. } => NovaError::InstanceNotFound {
            instance_id: id.to_string(),
        },
        other => other,
    }
}

/// Other projects' instances do not exist for non-admins.
fn visible_to(ctx: &RequestContext, inst: Instance, id: &str) -> NovaResult<Instance> {
    if !ctx.is_admin && ctx.project_id.as_deref() != Some(inst.project_id.as_str()) {
        return Err(NovaError::InstanceNotFound {
            instance_id: id.to_string(),
        });
    }
    Ok(inst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_urls_carry_the_token_in_novncs_path() {
        let t = "0f1e2d3c-aaaa-bbbb-cccc-000000000000";
        assert_eq!(
            console_access_url("http://h:6080/vnc_auto.html", "novnc", t),
            format!("http://h:6080/vnc_auto.html?path=%3Ftoken%3D{t}")
        );
        assert_eq!(
            console_access_url("http://h/vnc_lite.html?path=novnc&x=1", "novnc", t),
            format!("http://h/vnc_lite.html?path=novnc%3Ftoken%3D{t}&x=1")
        );
        assert_eq!(
            console_access_url("http://h/spice_auto.html", "spice-html5", t),
            format!("http://h/spice_auto.html?token={t}")
        );
    }

    #[test]
    fn hostnames() {
        assert_eq!(sanitize_hostname("My Server_1"), "my-server-1");
        assert_eq!(sanitize_hostname("--"), "server");
    }

    #[test]
    fn requested_networks_keep_their_stored_form() {
        assert_eq!(RequestedNetworks::Auto.to_json().to_string(), "\"auto\"");
        assert_eq!(RequestedNetworks::None.to_json().to_string(), "\"none\"");
        let u = Uuid::nil();
        let plain = NetworkRequest {
            network_id: u,
            address: None,
            tag: None,
        };
        let fixed = NetworkRequest {
            network_id: u,
            address: Some("10.0.0.9".into()),
            tag: None,
        };
        let tagged = NetworkRequest {
            network_id: u,
            address: None,
            tag: Some("storage".into()),
        };
        let stored =
            RequestedNetworks::Networks(vec![plain.clone(), fixed.clone(), tagged.clone()])
                .to_json();
        assert_eq!(
            stored,
            json!([u.to_string(), {"network_id": u.to_string(), "address": "10.0.0.9"},
                {"network_id": u.to_string(), "tag": "storage"}])
        );
        // What compute reads back, the bare uuid included.
        let read: Vec<NetworkRequest> = serde_json::from_value(stored).unwrap();
        assert_eq!(read, [plain, fixed, tagged]);
    }

    #[test]
    fn availability_zones_parse_as_nova_does() {
        let z = RequestedZone::parse("nova").expect("zone");
        assert_eq!((z.zone.as_str(), z.forced_host.as_deref()), ("nova", None));
        assert!(!z.forces_placement());
        let z = RequestedZone::parse("nova:host1").expect("zone:host");
        assert_eq!(z.forced_host.as_deref(), Some("host1"));
        assert!(z.forces_placement());
        let z = RequestedZone::parse("nova::node1").expect("zone::node");
        assert_eq!(z.forced_host, None);
        assert!(z.forces_placement());
        assert!(RequestedZone::parse("a:b:c:d").is_err());
    }

    fn flavor(vcpus: i64, ram: i64) -> Flavor {
        Flavor {
            vcpus,
            memory_mb: ram,
            ..Default::default()
        }
    }

    #[test]
    fn images_are_checked_against_the_flavor() {
        let mut image = ImageMeta {
            id: "i".into(),
            status: "active".into(),
            ..Default::default()
        };
        let mut f = flavor(1, 512);
        f.root_gb = 1;
        assert!(check_requested_image(&image, &f).is_ok());
        image.size = Some(2 * 1024 * 1024 * 1024);
        assert_eq!(
            check_requested_image(&image, &f).map_err(|e| e.class().to_string()),
            Err("FlavorDiskTooSmall".to_string())
        );
        image.size = None;
        image.min_ram = 1024;
        assert_eq!(
            check_requested_image(&image, &f).map_err(|e| e.class().to_string()),
            Err("FlavorMemoryTooSmall".to_string())
        );
        image.status = "queued".into();
        assert_eq!(
            check_requested_image(&image, &f).map_err(|e| e.to_string()),
            Err("Image i is not active.".to_string())
        );
    }

    #[test]
    fn state_checks_follow_the_table() {
        let mut inst = Instance {
            vm_state: VmState::Active,
            task_state: None,
            host: Some("h".into()),
            ..Default::default()
        };
        assert!(check_instance_state(&inst, &transitions::STOP).is_ok());
        let e = check_instance_state(&inst, &transitions::START).expect_err("active");
        assert!(e.to_string().contains("vm_state active"), "{e}");
        inst.task_state = Some(TaskState::Rebooting);
        let e = check_instance_state(&inst, &transitions::STOP).expect_err("busy");
        assert!(e.to_string().contains("task_state rebooting"), "{e}");
        assert!(check_instance_state(&inst, &transitions::HARD_REBOOT).is_ok());
        assert!(check_instance_state(&inst, &transitions::DELETE).is_ok());
        inst.host = None;
        assert!(check_instance_host(&inst, &transitions::STOP).is_err());
        inst.locked = true;
        let user = RequestContext::new("u", "p", vec![], false);
        assert!(matches!(
            check_instance_lock(&user, &inst),
            Err(NovaError::InstanceIsLocked { .. })
        ));
        assert!(check_instance_lock(&RequestContext::admin(), &inst).is_ok());
    }
}
