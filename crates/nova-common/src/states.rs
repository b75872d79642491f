//! Instance state machine values, verbatim from `nova/compute/vm_states.py`,
//! `task_states.py`, `power_state.py`, and the API status mapping of
//! `nova/api/openstack/common.py`.

/// A closed set of Nova's string values as a Rust enum: serde, `Display`
/// and `FromStr` with the verbatim strings, and `ALL`.
#[macro_export]
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name { $( #[serde(rename = $s)] $var ),* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),*];
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $s),* } }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s { $($s => Ok($name::$var),)* other => Err(format!("unknown {} {:?}", stringify!($name), other)) }
            }
        }
    };
}

string_enum!(
    /// `nova.compute.vm_states`
    VmState {
        Active => "active",
        Building => "building",
        Paused => "paused",
        Suspended => "suspended",
        Stopped => "stopped",
        Rescued => "rescued",
        Resized => "resized",
        SoftDeleted => "soft-delete",
        Deleted => "deleted",
        Error => "error",
        Shelved => "shelved",
        ShelvedOffloaded => "shelved_offloaded",
    }
);

string_enum!(
    /// `nova.compute.task_states`
    TaskState {
        Scheduling => "scheduling",
        BlockDeviceMapping => "block_device_mapping",
        Networking => "networking",
        Spawning => "spawning",
        ImageSnapshot => "image_snapshot",
        ImageSnapshotPending => "image_snapshot_pending",
        ImagePendingUpload => "image_pending_upload",
        ImageUploading => "image_uploading",
        Rebooting => "rebooting",
        RebootPending => "reboot_pending",
        RebootStarted => "reboot_started",
        RebootingHard => "rebooting_hard",
        RebootPendingHard => "reboot_pending_hard",
        RebootStartedHard => "reboot_started_hard",
        Pausing => "pausing",
        Unpausing => "unpausing",
        Suspending => "suspending",
        Resuming => "resuming",
        PoweringOff => "powering-off",
        PoweringOn => "powering-on",
        Rebuilding => "rebuilding",
        RebuildBlockDeviceMapping => "rebuild_block_device_mapping",
        RebuildSpawning => "rebuild_spawning",
        Rescuing => "rescuing",
        Unrescuing => "unrescuing",
        UpdatingPassword => "updating_password",
        Deleting => "deleting",
        SoftDeleting => "soft-deleting",
        Restoring => "restoring",
        ImageBackup => "image_backup",
        Shelving => "shelving",
        ShelvingImagePendingUpload => "shelving_image_pending_upload",
        ShelvingImageUploading => "shelving_image_uploading",
        ShelvingOffloading => "shelving_offloading",
        Unshelving => "unshelving",
        ResizePrep => "resize_prep",
        ResizeMigrating => "resize_migrating",
        ResizeMigrated => "resize_migrated",
        ResizeFinish => "resize_finish",
        ResizeReverting => "resize_reverting",
        ResizeConfirming => "resize_confirming",
        Migrating => "migrating",
    }
);

/// `nova.compute.power_state`: integers on the wire and in the database.
pub mod power_state {
    pub const NOSTATE: i32 = 0;
    pub const RUNNING: i32 = 1;
    pub const PAUSED: i32 = 3;
    pub const SHUTDOWN: i32 = 4;
    pub const CRASHED: i32 = 6;
    pub const SUSPENDED: i32 = 7;

    pub fn name(state: i32) -> &'static str {
        match state {
            RUNNING => "running",
            PAUSED => "paused",
            SHUTDOWN => "shutdown",
            CRASHED => "crashed",
            SUSPENDED => "suspended",
            _ => "pending",
        }
    }
}

/// The API `status` of a server, from its vm_state and task_state.
pub fn status_from_state(vm_state: VmState, task_state: Option<TaskState>) -> &'static str {
    use TaskState as T;
    use VmState as V;
    match (vm_state, task_state) {
        (V::Active, Some(T::Rebooting | T::RebootPending | T::RebootStarted)) => "REBOOT",
        (V::Active, Some(T::RebootingHard | T::RebootPendingHard | T::RebootStartedHard)) => {
            "HARD_REBOOT"
        }
        (V::Active | V::Stopped, Some(T::Rebuilding)) => "REBUILD",
        (
            V::Active | V::Stopped,
            Some(T::ResizePrep | T::ResizeMigrating | T::ResizeMigrated | T::ResizeFinish),
        ) => "RESIZE",
        (V::Resized, Some(T::ResizeReverting)) => "REVERT_RESIZE",
        (V::Active | V::Paused, Some(T::Migrating)) => "MIGRATING",
        (
            V::Active | V::Stopped | V::Error,
            Some(T::Rebuilding | T::RebuildBlockDeviceMapping | T::RebuildSpawning),
        ) => "REBUILD",
        (V::Active, _) => "ACTIVE",
        (V::Building, _) => "BUILD",
        (V::Stopped, _) => "SHUTOFF",
        (V::Resized, _) => "VERIFY_RESIZE",
        (V::Paused, _) => "PAUSED",
        (V::Suspended, _) => "SUSPENDED",
        (V::Rescued, _) => "RESCUE",
        (V::Error, _) => "ERROR",
        (V::Deleted, _) => "DELETED",
        (V::SoftDeleted, _) => "SOFT_DELETED",
        (V::Shelved, _) => "SHELVED",
        (V::ShelvedOffloaded, _) => "SHELVED_OFFLOADED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for v in VmState::ALL {
            assert_eq!(v.as_str().parse::<VmState>().as_ref(), Ok(v));
            assert_eq!(
                serde_json::to_value(v).ok(),
                Some(serde_json::json!(v.as_str()))
            );
        }
        for t in TaskState::ALL {
            assert_eq!(t.as_str().parse::<TaskState>().as_ref(), Ok(t));
        }
    }

    #[test]
    fn status_mapping() {
        assert_eq!(
            status_from_state(VmState::Building, Some(TaskState::Scheduling)),
            "BUILD"
        );
        assert_eq!(status_from_state(VmState::Active, None), "ACTIVE");
        assert_eq!(
            status_from_state(VmState::Active, Some(TaskState::Deleting)),
            "ACTIVE"
        );
        assert_eq!(
            status_from_state(VmState::Active, Some(TaskState::RebootingHard)),
            "HARD_REBOOT"
        );
        assert_eq!(status_from_state(VmState::Error, None), "ERROR");
        assert_eq!(status_from_state(VmState::Stopped, None), "SHUTOFF");
    }
}
