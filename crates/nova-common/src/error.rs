//! `NovaError`: the exceptions of `nova.exception` (and the few of oslo's)
//! that cross a boundary.
//!
//! Every error is declared once, as a row of the [`nova_errors!`] table
//! below: its class name, keyword arguments, HTTP code and message format.
//! From that row come the enum variant, [`NovaError::class`], the keyword
//! arguments, the HTTP code and the reconstruction from the wire. A failure
//! raised in one daemon travels over RPC as
//! `{"class": ..., "module": ..., "message": ..., "kwargs": {...}}` (oslo's
//! `serialize_remote_exception`) and comes back to the caller as the same
//! variant; a class this build does not know stays a [`NovaError::Remote`].

use serde_json::{json, Map, Value};

pub type NovaResult<T> = Result<T, NovaError>;

/// Nova's module for its own exceptions.
pub const NOVA_MODULE: &str = "nova.exception";

/// Declares [`NovaError`] from one row per exception:
///
/// ```text
/// /// doc
/// Variant [as "WireClass"] [in "python.module"] { kwarg, ... } => http_code, "message {kwarg}";
/// ```
///
/// The class on the wire is the variant's name unless `as` gives another;
/// the module is `nova.exception` unless `in` gives another. Keyword
/// arguments are strings; the message names them as `{kwarg}`.
macro_rules! nova_errors {
    (@class $variant:ident) => { stringify!($variant) };
    (@class $variant:ident $class:literal) => { $class };
    (@module) => { NOVA_MODULE };
    (@module $module:literal) => { $module };
    (
        $(
            $(#[doc = $doc:literal])*
            $variant:ident $(as $class:literal)? $(in $module:literal)?
                { $($field:ident),* $(,)? } => $code:literal, $msg:tt;
        )*
    ) => {
        #[derive(Debug, Clone, PartialEq, thiserror::Error)]
        pub enum NovaError {
            $(
                $(#[doc = $doc])*
                #[error($msg)]
                $variant { $($field: String),* },
            )*
            /// A failure whose class this build does not model; kept verbatim.
            #[error("{message}")]
            Remote {
                class: String,
                module: String,
                message: String,
                kwargs: Value,
            },
        }

        impl NovaError {
            /// Every class of the table, as it appears on the wire.
            pub const CLASSES: &'static [&'static str] =
                &[$(nova_errors!(@class $variant $($class)?)),*];

            /// Nova's exception class name.
            pub fn class(&self) -> &str {
                match self {
                    $( NovaError::$variant { .. } => nova_errors!(@class $variant $($class)?), )*
                    NovaError::Remote { class, .. } => class,
                }
            }

            /// The Python module of the class (`nova.exception`, `oslo_db.exception`, ...).
            pub fn module(&self) -> &str {
                match self {
                    $( NovaError::$variant { .. } => nova_errors!(@module $($module)?), )*
                    NovaError::Remote { module, .. } => module,
                }
            }

            /// The HTTP code Nova's exception carries (its `code` attribute).
            pub fn http_code(&self) -> u16 {
                match self {
                    $( NovaError::$variant { .. } => $code, )*
                    NovaError::Remote { kwargs, .. } => kwargs
                        .get("code")
                        .and_then(Value::as_u64)
                        .and_then(|c| u16::try_from(c).ok())
                        .unwrap_or(500),
                }
            }

            /// The keyword arguments, as `NovaException.kwargs` holds them
            /// (Nova adds its `code` to those of its own exceptions).
            pub fn kwargs(&self) -> Value {
                let pairs: Vec<(&str, &String)> = match self {
                    $( NovaError::$variant { $($field),* } => vec![$((stringify!($field), $field)),*], )*
                    NovaError::Remote { kwargs, .. } => return kwargs.clone(),
                };
                let mut m: Map<String, Value> = pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v.clone())))
                    .collect();
                if self.module() == NOVA_MODULE {
                    m.insert("code".into(), Value::from(self.http_code()));
                }
                Value::Object(m)
            }

            /// Rebuild the typed error from an RPC reply's `failure`.
            pub fn from_failure(failure: &Value) -> Self {
                let class = failure["class"].as_str().unwrap_or("NovaException");
                let kwargs = match failure.get("kwargs") {
                    Some(Value::Object(m)) => Value::Object(m.clone()),
                    _ => json!({}),
                };
                // Python sends numbers where Nova formats numbers; keep their text.
                let k = |name: &str| match &kwargs[name] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                $(
                    if class == nova_errors!(@class $variant $($class)?) {
                        return NovaError::$variant { $($field: k(stringify!($field))),* };
                    }
                )*
                NovaError::Remote {
                    class: class.to_string(),
                    module: failure["module"].as_str().unwrap_or(NOVA_MODULE).to_string(),
                    message: failure["message"].as_str().unwrap_or_default().to_string(),
                    kwargs,
                }
            }

            /// One error of each class, every keyword argument set to
            /// `<its name>`: the golden wire samples.
            #[cfg(test)]
            fn golden_samples() -> Vec<NovaError> {
                vec![$( NovaError::$variant { $($field: format!("<{}>", stringify!($field))),* } ),*]
            }
        }
    };
}

nova_errors! {
    // --- not found (404) ---
    InstanceNotFound { instance_id } => 404, "Instance {instance_id} could not be found.";
    FlavorNotFound { flavor_id } => 404, "Flavor {flavor_id} could not be found.";
    ImageNotFound { image_id } => 404, "Image {image_id} could not be found.";
    /// A volume Cinder does not have (here: any volume; there is no Cinder).
    VolumeNotFound { volume_id } => 404, "Volume {volume_id} could not be found.";
    ComputeHostNotFound { host } => 404, "Compute host {host} could not be found.";
    ServiceNotFound { service_id } => 404, "Service {service_id} could not be found.";
    NetworkNotFound { network_id } => 404, "Network {network_id} could not be found.";
    KeypairNotFound { user_id, name } => 404, "Keypair {name} not found for user {user_id}";
    InstanceGroupNotFound { group_uuid } => 404, "Instance group {group_uuid} could not be found.";
    /// The `marker` of a paginated listing names no row (the API answers 400).
    MarkerNotFound { marker } => 404, "Marker {marker} could not be found.";
    SecurityGroupNotFound { security_group_id } => 404, "Security group {security_group_id} not found.";
    SecurityGroupNotFoundForProject { security_group_id, project_id } => 404,
        "Security group {security_group_id} not found for project {project_id}.";
    SecurityGroupNotFoundForRule { rule_id } => 404, "Security group with rule {rule_id} not found.";
    SecurityGroupDefaultRuleNotFound { rule_id } => 404, "Security group default rule ({rule_id}) not found.";
    InstanceActionNotFound { request_id, instance_uuid } => 404,
        "Action for request_id {request_id} on instance {instance_uuid} not found";
    FlavorExtraSpecsNotFound { flavor_id, extra_specs_key } => 404,
        "Flavor {flavor_id} has no extra specs with key {extra_specs_key}.";
    FlavorAccessNotFound { flavor_id, project_id } => 404,
        "Flavor access not found for {flavor_id} / {project_id} combination.";
    InstanceTagNotFound { instance_id, tag } => 404, "Instance {instance_id} has no tag '{tag}'";
    AggregateNotFound { aggregate_id } => 404, "Aggregate {aggregate_id} could not be found.";
    AggregateHostNotFound { aggregate_id, host } => 404, "Aggregate {aggregate_id} has no host {host}.";
    MigrationNotFound { migration_id } => 404, "Migration {migration_id} could not be found.";
    /// confirmResize/revertResize on an instance whose resize is not waiting for it.
    MigrationNotFoundByStatus { instance_id, status } => 404,
        "Instance {instance_id} has no migration with status {status}.";

    // --- conflicts (409) ---
    FlavorExists { name } => 409, "Flavor with name {name} already exists.";
    FlavorIdExists { flavor_id } => 409, "Flavor with ID {flavor_id} already exists.";
    KeyPairExists { key_name } => 409, "Key pair '{key_name}' already exists.";
    InstanceExists { instance_name } => 409, "Instance {instance_name} already exists.";
    InstanceInvalidState { attr, instance_uuid, state, method } => 409,
        "Instance {instance_uuid} in {attr} {state}. Cannot {method} while the instance is in this state.";
    /// A compare-and-set on `task_state` found another value.
    UnexpectedTaskStateError { instance_uuid, expected, actual } => 409,
        "Unexpected task state: expecting {expected} but the actual state is {actual}";
    InstanceIsLocked { instance_uuid } => 409, "Instance {instance_uuid} is locked";
    /// An image's `img_config_drive` other than `optional`/`mandatory`.
    InvalidImageConfigDrive { config_drive } => 400, "Image's config drive option '{config_drive}' is invalid";
    /// changePassword failed on the compute host (the reason never holds the password).
    InstancePasswordSetFailed { instance, reason } => 409,
        "Failed to set admin password on {instance} because {reason}";
    /// changePassword on a guest whose image does not enable the QEMU guest
    /// agent (`hw_qemu_guest_agent`).
    QemuGuestAgentNotEnabled {} => 409, "QEMU guest agent is not enabled";
    /// A zone or host given to unshelve a server that is not offloaded.
    UnshelveInstanceInvalidState { instance_uuid, state } => 409,
        "Specifying an availability zone or a host when unshelving server \"{instance_uuid}\" with status \"{state}\" is not supported. The server status must be SHELVED_OFFLOADED.";
    UnshelveHostNotInAZ { host, availability_zone } => 409,
        "Host \"{host}\" is not in the availability zone \"{availability_zone}\".";
    AggregateNameExists { aggregate_name } => 409, "Aggregate {aggregate_name} already exists.";
    /// A compute service whose host still has instances is not deleted
    /// (Nova's os-services delete answers this 409 itself).
    ServiceHostingInstances {} => 409,
        "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.";
    AggregateHostExists { host, aggregate_id } => 409, "Aggregate {aggregate_id} already has host {host}.";
    FlavorAccessExists { flavor_id, project_id } => 409,
        "Flavor access already exists for flavor {flavor_id} and project {project_id} combination.";

    // --- bad requests (400) and refusals (403) ---
    InvalidInput { reason } => 400, "Invalid input received: {reason}";
    Invalid { reason } => 400, "Unacceptable parameters.";
    /// A listing asked to sort by what is no column of it.
    InvalidSortKey {} => 400, "Sort key supplied was not valid.";
    ImageNotActive { image_id } => 400, "Image {image_id} is not active.";
    /// rescue with a `rescue_image_ref` Glance does not have (Nova's `Invalid` subclass).
    UnsupportedRescueImage { image } => 400, "Requested rescue image '{image}' is not supported";
    /// The driver could not rescue the instance (compute's fault).
    InstanceNotRescuable { instance_id, reason } => 400, "Instance {instance_id} cannot be rescued: {reason}";
    ImageUnacceptable { image_id, reason } => 400, "Image {image_id} is unacceptable: {reason}";
    /// A request refused as a whole; Nova raises it with its own message.
    InvalidRequest { reason } => 400, "{reason}";
    // A server create's block device mapping (Nova's `InvalidBDM` family).
    InvalidBDMFormat { details } => 400, "Block Device Mapping is Invalid: {details}";
    InvalidBDMVolume { id } => 400, "Block Device Mapping is Invalid: failed to get volume {id}.";
    InvalidBDMSnapshot { id } => 400, "Block Device Mapping is Invalid: failed to get snapshot {id}.";
    InvalidBDMBootSequence {} => 400,
        "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.";
    InvalidBDMEphemeralSize {} => 400,
        "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block device mapping, flavor ephemeral size will be used.";
    InvalidBDMSwapSize {} => 400, "Swap drive requested is larger than instance type allows.";
    PreserveEphemeralNotSupported {} => 400, "The current driver does not support preserving ephemeral partitions.";
    AutoDiskConfigDisabledByImage { image } => 400, "Requested image {image} has automatic disk resize disabled.";
    // What a flavor and image ask of NUMA and CPU pinning (`numa_get_constraints`):
    // 400 on create, resize and rebuild, Forbidden ones included (Nova's API maps them so).
    ImageNUMATopologyIncomplete {} => 400, "CPU and memory allocation must be provided for all NUMA nodes";
    ImageNUMATopologyForbidden { name } => 400,
        "Image property '{name}' is not permitted to override NUMA configuration set against the flavor";
    ImageNUMATopologyAsymmetric {} => 400,
        "Instance CPUs and/or memory cannot be evenly distributed across instance NUMA nodes. Explicit assignment of CPUs and memory to nodes is required";
    ImageNUMATopologyCPUOutOfRange { cpunum, cpumax } => 400, "CPU number {cpunum} is larger than max {cpumax}";
    ImageNUMATopologyCPUDuplicates { cpunum } => 400, "CPU number {cpunum} is assigned to two nodes";
    ImageNUMATopologyCPUsUnassigned { cpuset } => 400, "CPU number {cpuset} is not assigned to any node";
    ImageNUMATopologyMemoryOutOfRange { memsize, memtotal } => 400,
        "{memsize} MB of memory assigned, but expected {memtotal} MB";
    InvalidNUMANodesNumber { nodes } => 400,
        "The property 'numa_nodes' cannot be '{nodes}'. It must be a number greater than 0";
    ImageNUMATopologyRebuildConflict {} => 400,
        "An instance's NUMA topology cannot be changed as part of a rebuild. The image provided is invalid for this instance.";
    ImageCPUPinningForbidden {} => 400,
        "Image property 'hw_cpu_policy' is not permitted to override CPU pinning policy set against the flavor";
    ImageCPUThreadPolicyForbidden {} => 400,
        "Image property 'hw_cpu_thread_policy' is not permitted to override CPU thread pinning policy set against the flavor";
    InvalidCPUAllocationPolicy { policy_source, requested, available } => 400,
        "CPU policy requested from '{policy_source}' is invalid, given: '{requested}', available: '{available}'.";
    InvalidCPUThreadAllocationPolicy { policy_source, requested, available } => 400,
        "CPU thread policy requested from '{policy_source}' is invalid, given: '{requested}', available: '{available}'.";
    CPUThreadPolicyConfigurationInvalid {} => 400,
        "Cannot set cpu thread pinning policy in a non dedicated cpu pinning policy";
    InvalidEmulatorThreadsPolicy { requested, available } => 400,
        "CPU emulator threads option requested is invalid, given: '{requested}', available: '{available}'.";
    BadRequirementEmulatorThreadsPolicy {} => 400,
        "An isolated CPU emulator threads option requires a dedicated CPU policy option.";
    MemoryPageSizeInvalid { pagesize } => 400, "Invalid memory page size '{pagesize}'";
    MemoryPageSizeForbidden { pagesize, against } => 400, "Page size {pagesize} forbidden against '{against}'";
    RequiredMixedInstancePolicy {} => 400,
        "Cannot specify 'hw:cpu_dedicated_mask' without the 'mixed' policy.";
    InvalidMixedInstanceDedicatedMask {} => 400,
        "Mixed instance must have at least 1 pinned vCPU and 1 unpinned vCPU. See 'hw:cpu_dedicated_mask'.";
    RequiredMixedOrRealtimeCPUMask {} => 400,
        "Dedicated CPU set can be specified from either 'hw:cpu_dedicated_mask' or 'hw:cpu_realtime_mask' when using 'mixed' CPU policy. 'hw:cpu_dedicated_mask' and 'hw:cpu_realtime_mask' can not be specified at the same time, or be specified with none of them.";
    /// A flavor extra spec refused by the 2.86 validation (Nova's `ValidationError`).
    ValidationError { detail } => 400, "{detail}";
    /// evacuate from a host whose nova-compute is still up.
    ComputeServiceInUse { host } => 400, "Compute service of {host} is still in use.";
    AmbiguousHostnameForMultipleInstances {} => 400,
        "Unable to allocate a single hostname to multiple instances";
    FlavorDiskTooSmall {} => 400, "Flavor's disk is too small for requested image.";
    CannotResizeToSameFlavor {} => 400, "When resizing, instances must change flavor!";
    CannotResizeDisk { reason } => 400, "Server disk was unable to be resized because: {reason}";
    FlavorMemoryTooSmall {} => 400, "Flavor's memory is too small for requested image.";
    /// The instance has no host yet (or is still building): nothing to ask it.
    InstanceNotReady { instance_id } => 400, "Instance {instance_id} is not ready";
    /// The hypervisor has the guest, but it does not run.
    InstanceNotRunning { instance_id } => 400, "Instance {instance_id} is not running.";
    /// The hypervisor cannot inject an NMI into its guests.
    TriggerCrashDumpNotSupported {} => 400, "Triggering crash dump is not supported";
    InvalidKeypair { reason } => 400, "Keypair data is invalid: {reason}";
    /// The host's nova-compute is not reporting (Nova's subclass of ServiceUnavailable, an Invalid).
    ComputeServiceUnavailable { host } => 400, "Compute service of {host} is unavailable at this time.";
    /// A console token that is unknown, expired or for another console.
    InvalidToken { token } => 400, "The token '{token}' is invalid or has expired";
    ConsoleTypeInvalid { console_type } => 400, "Invalid console type {console_type}";
    ConsoleTypeUnavailable { console_type } => 400, "Unavailable console type {console_type}.";
    /// The guest has no console server (no graphics device in its domain).
    ConsoleNotAvailable {} => 404, "Guest does not have a console available.";
    SecurityGroupExists { security_group_name, project_id } => 400,
        "Security group {security_group_name} already exists for project {project_id}.";
    SecurityGroupExistsForInstance { security_group_id, instance_id } => 400,
        "Security group {security_group_id} is already associated with the instance {instance_id}";
    SecurityGroupNotExistsForInstance { security_group_id, instance_id } => 400,
        "Security group {security_group_id} is not associated with the instance {instance_id}";
    SecurityGroupRuleExists { rule } => 400, "Rule already exists in group: {rule}";
    InvalidCidr { cidr } => 400, "{cidr} is not a valid IP network.";
    InvalidAddress { address } => 400, "{address} is not a valid IP address.";
    AddressOutOfRange { address, cidr } => 400, "{address} is not within {cidr}.";
    InvalidPortRange { from_port, to_port, msg } => 400, "Invalid port range {from_port}:{to_port}. {msg}";
    InvalidIpProtocol { protocol } => 400, "Invalid IP protocol {protocol}.";
    SecurityGroupLimitExceeded {} => 403, "Maximum number of security groups or rules exceeded";
    KeypairLimitExceeded {} => 403, "Maximum number of key pairs exceeded";
    ServerGroupLimitExceeded {} => 403, "Quota exceeded, too many server groups.";
    GroupMemberLimitExceeded {} => 403, "Quota exceeded, too many servers in group";
    PolicyNotAuthorized { action } => 403, "Policy doesn't allow {action} to be performed.";
    NotAuthorized { reason } => 403, "Not authorized.";
    QuotaExceeded { overs, req, used, allowed } => 403,
        "Quota exceeded for {overs}: Requested {req}, but already used {used} of {allowed} {overs}";
    InvalidAggregateActionDelete { aggregate_id, reason } => 400,
        "Cannot delete aggregate {aggregate_id}. Reason: {reason}.";
    InvalidAggregateActionAdd { aggregate_id, reason } => 400,
        "Cannot add host to aggregate {aggregate_id}. Reason: {reason}.";
    InvalidAggregateActionUpdate { aggregate_id, reason } => 400,
        "Cannot update aggregate {aggregate_id}. Reason: {reason}.";
    /// A `QuotaError` (413); the API answers 403 as Nova's handlers do.
    MetadataLimitExceeded { allowed } => 413, "Maximum number of metadata items exceeds {allowed}";
    /// Personality quotas (`QuotaError`s, 413; the API answers 403).
    OnsetFileLimitExceeded {} => 413, "Personality file limit exceeded";
    OnsetFilePathLimitExceeded { allowed } => 413, "Personality file path exceeds maximum {allowed}";
    OnsetFileContentLimitExceeded { allowed } => 413, "Personality file content exceeds maximum {allowed}";

    // --- failures of a service or a backend ---
    GlanceConnectionFailed { server, reason } => 503, "Connection to glance host {server} failed: {reason}";
    ServiceUnavailable { reason } => 503, "Service unavailable: {reason}";
    NoValidHost { reason } => 500, "No valid host was found. {reason}";
    /// A build failed on every host it was tried on (Nova's subclass of NoValidHost).
    MaxRetriesExceeded { reason } => 500, "Exceeded maximum number of retries. {reason}";
    NoMoreFixedIps { net } => 500, "Zero fixed IPs available.";
    VirtualInterfaceMacAddressException {} => 500,
        "Creation of virtual interface with unique mac address failed";
    BuildAbortException { instance_uuid, reason } => 500, "Build of instance {instance_uuid} aborted: {reason}";
    /// A build failed on its host and goes back to the conductor for another one.
    RescheduledException { instance_uuid, reason } => 500,
        "Build of instance {instance_uuid} was re-scheduled: {reason}";
    HypervisorError { reason } => 500, "Virtualization driver error: {reason}";
    UnshelveException { instance_id, reason } => 500, "Error during unshelve instance {instance_id}: {reason}";
    ResizeError { reason } => 500, "Resize error: {reason}";
    TaskAlreadyRunning { task_name, host } => 500, "Task {task_name} is already running on host {host}";
    TaskNotRunning { task_name, host } => 500, "Task {task_name} is not running on host {host}";
    /// An evacuation whose `onSharedStorage` does not match what the
    /// destination sees of the instance's files.
    InvalidSharedStorage { path, reason } => 500, "{path} is not on shared storage: {reason}";
    /// A live migration that needs local storage (a block migration)
    /// found the instance's files shared.
    InvalidLocalStorage { path, reason } => 500, "{path} is not on local storage: {reason}";
    /// A live migration's destination or checks refused it (the API answers 400).
    MigrationPreCheckError { reason } => 500, "Migration pre-check error: {reason}";
    MigrationError { reason } => 500, "Migration error: {reason}";
    /// A live migration to the host the instance is on.
    UnableToMigrateToSelf { instance_id, host } => 400,
        "Unable to migrate instance ({instance_id}) to current host ({host}).";
    /// A migration that is not the server's (server migrations API).
    MigrationNotFoundForInstance { migration_id, instance_id } => 404,
        "Migration {migration_id} not found for instance {instance_id}";
    /// force_complete or abort of a migration in a status that does not allow it.
    InvalidMigrationState { migration_id, instance_uuid, state, method } => 400,
        "Migration {migration_id} state of instance {instance_uuid} is {state}. Cannot {method} while the migration is in this state.";

    // --- nova-network: floating and fixed IPs, networks ---
    FloatingIpNotFound { id } => 404, "Floating IP not found for ID {id}.";
    FloatingIpNotFoundForAddress { address } => 404, "Floating IP not found for address {address}.";
    FloatingIpPoolNotFound {} => 404, "Floating IP pool not found.";
    /// No unallocated address is left in the pool (Nova's subclass of FloatingIpNotFound).
    NoMoreFloatingIps {} => 404, "Zero floating IPs available.";
    FloatingIpExists { address } => 409, "Floating IP {address} already exists.";
    FloatingIpAssociated { address } => 400, "Floating IP {address} is associated.";
    FloatingIpNotAssociated { address } => 400, "Floating IP {address} is not associated.";
    CannotDisassociateAutoAssignedFloatingIP {} => 403, "Cannot disassociate auto assigned floating IP";
    /// Over the `floating_ips` quota (a QuotaError: 413 in Nova, the API answers 403).
    FloatingIpLimitExceeded {} => 413, "Maximum number of floating IPs exceeded";
    NoFloatingIpInterface { interface } => 400, "Interface {interface} not found.";
    /// Nova's plain `Forbidden` (e.g. a floating IP of another project).
    Forbidden {} => 403, "Forbidden";
    InvalidID { id } => 400, "Invalid ID received {id}.";
    FixedIpNotFound { id } => 404, "No fixed IP associated with id {id}.";
    FixedIpNotFoundForAddress { address } => 404, "Fixed IP not found for address {address}.";
    FixedIpInvalid { address } => 400, "Fixed IP address {address} is invalid.";
    FixedIpNotFoundForNetwork { address, network_uuid } => 404,
        "Fixed IP address ({address}) does not exist in network ({network_uuid}).";
    FixedIpAlreadyInUse { address, instance_uuid } => 400,
        "Fixed IP address {address} is already in use on instance {instance_uuid}.";
    InvalidFixedIpAndMaxCountRequest { reason } => 400, "Failed to launch instances: {reason}";
    FixedIpNotFoundForSpecificInstance { instance_uuid, ip } => 404,
        "Instance {instance_uuid} doesn't have fixed IP '{ip}'.";
    NetworkInUse { network_id } => 400, "Network {network_id} is still in use.";
    NetworkHasProject { project_id } => 400,
        "Network must be disassociated from project {project_id} before it can be deleted.";
    NetworkNotFoundForCidr { cidr } => 404, "Network could not be found with cidr {cidr}.";
    CidrConflict { cidr, other } => 409, "Requested cidr ({cidr}) conflicts with existing cidr ({other})";

    // --- the database (oslo.db) ---
    /// The database could not be reached, or the connection was lost
    /// mid-way: transient, an idempotent request may be retried.
    DBConnectionError in "oslo_db.exception" { reason } => 503, "Database connection failed: {reason}";
    DBError in "oslo_db.exception" { reason } => 500, "Database error: {reason}";

    // --- RPC (oslo.messaging) ---
    MessagingTimeout in "oslo_messaging.exceptions" { msg_id } => 500,
        "Timed out waiting for a reply to message ID {msg_id}";
    /// No endpoint of the message's namespace has the method.
    UnsupportedRpcMethod as "NoSuchMethod" in "oslo_messaging.rpc.dispatcher" { method } => 500,
        "Endpoint does not support RPC method {method}";
    /// The endpoint's RPC API version cannot serve the message's version.
    UnsupportedVersion in "oslo_messaging.rpc.dispatcher" { version, method } => 500,
        "Endpoint does not support RPC version {version}. Attempted method: {method}";
}

impl NovaError {
    /// An unexpected failure: `NovaException` with the given message.
    pub fn internal(message: impl Into<String>) -> Self {
        NovaError::Remote {
            class: "NovaException".into(),
            module: NOVA_MODULE.into(),
            message: message.into(),
            kwargs: json!({"code": 500}),
        }
    }

    pub fn invalid_input(reason: impl Into<String>) -> Self {
        NovaError::InvalidInput {
            reason: reason.into(),
        }
    }

    /// Transient: the same idempotent request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NovaError::DBConnectionError { .. })
    }

    /// The `failure` object of an RPC reply.
    pub fn to_failure(&self) -> Value {
        json!({
            "class": self.class(),
            "module": self.module(),
            "message": self.to_string(),
            "tb": [],
            "args": [],
            "kwargs": self.kwargs(),
        })
    }
}

impl From<serde_json::Error> for NovaError {
    fn from(e: serde_json::Error) -> Self {
        NovaError::internal(format!("Malformed message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    /// Every class of the table on the wire, compared to `golden/errors.json`.
    /// `UPDATE_GOLDEN=1` rewrites it.
    #[test]
    fn golden_failures() {
        let mut all = Map::new();
        for e in NovaError::golden_samples() {
            all.insert(e.class().to_string(), e.to_failure());
        }
        let got = serde_json::to_string_pretty(&Value::Object(all)).unwrap_or_default() + "\n";
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/errors.json");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap_or(&path)).ok();
            std::fs::write(&path, &got).ok();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got, want,
            "error wire format changed; rerun with UPDATE_GOLDEN=1 if intended"
        );
    }

    #[test]
    fn every_class_round_trips_through_the_wire() {
        let samples = NovaError::golden_samples();
        assert_eq!(samples.len(), NovaError::CLASSES.len());
        let classes: BTreeSet<&str> = NovaError::CLASSES.iter().copied().collect();
        assert_eq!(
            classes.len(),
            NovaError::CLASSES.len(),
            "a class is declared twice"
        );
        for e in samples.into_iter().chain([NovaError::internal("boom")]) {
            // As the reply carries it: a JSON string inside the reply object.
            let text = e.to_failure().to_string();
            let f: Value = serde_json::from_str(&text).expect("json");
            let back = NovaError::from_failure(&f);
            assert_eq!(back, e, "{text}");
            assert_eq!(back.to_string(), f["message"], "{text}");
            assert_eq!(back.http_code(), e.http_code());
            assert!(
                !matches!(back, NovaError::Remote { .. }) || e.class() == "NovaException",
                "{} came back untyped",
                e.class()
            );
        }
    }

    #[test]
    fn unknown_classes_stay_verbatim_with_their_code() {
        let f = json!({"class": "FixedIpNotFoundForInstance", "module": "nova.exception",
                       "message": "Instance 10.0.0.9 has zero fixed IPs.",
                       "kwargs": {"instance_uuid": "10.0.0.9", "code": 404}});
        let e = NovaError::from_failure(&f);
        assert_eq!(e.class(), "FixedIpNotFoundForInstance");
        assert_eq!(e.http_code(), 404);
        assert_eq!(e.to_string(), "Instance 10.0.0.9 has zero fixed IPs.");
        assert_eq!(e.to_failure()["kwargs"], f["kwargs"]);
    }

    #[test]
    fn python_numbers_in_kwargs_keep_their_text() {
        let f = json!({"class": "QuotaExceeded", "module": "nova.exception", "message": "",
                       "kwargs": {"overs": "instances", "req": 2, "used": 9, "allowed": 10}});
        assert_eq!(
            NovaError::from_failure(&f).to_string(),
            "Quota exceeded for instances: Requested 2, but already used 9 of 10 instances"
        );
    }

    /// A class of the table arrives as its variant, never as `Remote`: code
    /// that compares the `class` of a `Remote` with such a name would silently stop matching.
    #[test]
    fn no_code_matches_a_declared_class_by_its_name() {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = entry.path();
                let name = entry.file_name();
                if p.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
                    walk(&p, out);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    out.push(p);
                }
            }
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut offenders = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for class in NovaError::CLASSES {
                for pattern in [
                    format!("class == \"{class}\""),
                    format!("class: \"{class}\""),
                ] {
                    if text.contains(&pattern) {
                        offenders.push(format!("{}: {pattern}", f.display()));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "match the variant instead: {offenders:#?}"
        );
    }

    #[test]
    fn golden_failure() {
        let f = NovaError::InstanceNotFound {
            instance_id: "abc".into(),
        }
        .to_failure();
        assert_eq!(
            f,
            json!({"class": "InstanceNotFound", "module": "nova.exception",
                   "message": "Instance abc could not be found.", "tb": [], "args": [],
                   "kwargs": {"instance_id": "abc", "code": 404}})
        );
    }
}
