//! The instance state machine of every action, in one table.
//!
//! Upstream spreads it over `nova/compute/api.py` (the `check_instance_state`
//! decorators and the `task_state` each method saves with
//! `expected_task_state`) and `nova/compute/manager.py` (the task_states each
//! method expects, the vm_state it ends in). Here nova-api checks and sets
//! states from a [`Transition`] and nova-compute checks and finishes from the
//! same one, so the two halves cannot drift apart.

use crate::states::{power_state, TaskState, VmState};

/// One instance action, as both halves of it see the instance.
#[derive(Debug)]
pub struct Transition {
    /// The instance action the API records (`nova.compute.instance_actions`).
    pub action: &'static str,
    /// vm_states the API accepts; `None` accepts any (the decorator's `vm_state=None`).
    pub allowed_vm_states: Option<&'static [VmState]>,
    /// task_states the API accepts; `None` accepts any. Nova's default is `[None]`.
    pub allowed_task_states: Option<&'static [Option<TaskState>]>,
    /// The task_state the API sets, compare-and-set against the allowed
    /// states, before it casts to the compute host.
    pub task_state: TaskState,
    /// The task_states the compute host acts under. Finding any other means
    /// the message was handled already (or superseded), so it does nothing.
    pub expected_task_states: &'static [TaskState],
    /// The event compute records in the instance action (`compute_<method>`).
    pub event: &'static str,
    /// The vm_state the instance ends in, task_state cleared; `None` keeps it.
    pub final_vm_state: Option<VmState>,
    /// The power state the guest ends in, as the hypervisor reports it
    /// (libvirt's managed save leaves a suspended guest shut off); `None`
    /// leaves it as it was. Compute records what the hypervisor says and
    /// warns when that differs.
    pub final_power_state: Option<i32>,
}

impl Transition {
    /// Whether the API may start this action on an instance in these states.
    pub fn allows(&self, vm_state: VmState, task_state: Option<TaskState>) -> bool {
        self.allowed_vm_states.is_none_or(|a| a.contains(&vm_state))
            && self
                .allowed_task_states
                .is_none_or(|a| a.contains(&task_state))
    }

    /// Whether compute should act on an instance found in this task_state.
    pub fn expects(&self, task_state: Option<TaskState>) -> bool {
        task_state.is_some_and(|t| self.expected_task_states.contains(&t))
    }

    /// `expected_task_state` of compute's final compare-and-set.
    pub fn expected(&self) -> Vec<Option<TaskState>> {
        self.expected_task_states.iter().map(|t| Some(*t)).collect()
    }
}

const IDLE: &[Option<TaskState>] = &[None];

pub const SOFT_REBOOT: Transition = Transition {
    action: "reboot",
    allowed_vm_states: Some(&[VmState::Active]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Rebooting,
    expected_task_states: &[
        TaskState::Rebooting,
        TaskState::RebootPending,
        TaskState::RebootStarted,
    ],
    event: "compute_reboot_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

/// A hard reboot may replace a soft one that has not finished.
pub const HARD_REBOOT: Transition = Transition {
    action: "reboot",
    allowed_vm_states: Some(&[
        VmState::Active,
        VmState::Stopped,
        VmState::Paused,
        VmState::Suspended,
        VmState::Error,
    ]),
    allowed_task_states: Some(&[
        None,
        Some(TaskState::Rebooting),
        Some(TaskState::RebootPending),
        Some(TaskState::RebootStarted),
    ]),
    task_state: TaskState::RebootingHard,
    expected_task_states: &[
        TaskState::RebootingHard,
        TaskState::RebootPendingHard,
        TaskState::RebootStartedHard,
    ],
    event: "compute_reboot_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

pub const STOP: Transition = Transition {
    action: "stop",
    allowed_vm_states: Some(&[VmState::Active, VmState::Error]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::PoweringOff,
    expected_task_states: &[TaskState::PoweringOff],
    event: "compute_stop_instance",
    final_vm_state: Some(VmState::Stopped),
    final_power_state: Some(power_state::SHUTDOWN),
};

pub const START: Transition = Transition {
    action: "start",
    allowed_vm_states: Some(&[VmState::Stopped]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::PoweringOn,
    expected_task_states: &[TaskState::PoweringOn],
    event: "compute_start_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

pub const PAUSE: Transition = Transition {
    action: "pause",
    allowed_vm_states: Some(&[VmState::Active]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Pausing,
    expected_task_states: &[TaskState::Pausing],
    event: "compute_pause_instance",
    final_vm_state: Some(VmState::Paused),
    final_power_state: Some(power_state::PAUSED),
};

pub const UNPAUSE: Transition = Transition {
    action: "unpause",
    allowed_vm_states: Some(&[VmState::Paused]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Unpausing,
    expected_task_states: &[TaskState::Unpausing],
    event: "compute_unpause_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

pub const SUSPEND: Transition = Transition {
    action: "suspend",
    allowed_vm_states: Some(&[VmState::Active]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Suspending,
    expected_task_states: &[TaskState::Suspending],
    event: "compute_suspend_instance",
    final_vm_state: Some(VmState::Suspended),
    final_power_state: Some(power_state::SHUTDOWN),
};

pub const RESUME: Transition = Transition {
    action: "resume",
    allowed_vm_states: Some(&[VmState::Suspended]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Resuming,
    expected_task_states: &[TaskState::Resuming],
    event: "compute_resume_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

/// createImage: the vm_state stays; compute steps the task_state through
/// image_snapshot → image_pending_upload → image_uploading → None.
pub const SNAPSHOT: Transition = Transition {
    action: "createImage",
    allowed_vm_states: Some(&[
        VmState::Active,
        VmState::Stopped,
        VmState::Paused,
        VmState::Suspended,
    ]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::ImageSnapshotPending,
    expected_task_states: &[TaskState::ImageSnapshotPending],
    event: "compute_snapshot_instance",
    final_vm_state: None,
    final_power_state: None,
};

/// createBackup: a snapshot with rotation; compute steps the task_state
/// through image_pending_upload → image_uploading → None, then deletes the
/// oldest backups of the same type beyond the rotation. Not lock-checked
/// (Nova: a lock guards against change, a backup changes nothing).
pub const BACKUP: Transition = Transition {
    action: "createBackup",
    allowed_vm_states: Some(&[
        VmState::Active,
        VmState::Stopped,
        VmState::Paused,
        VmState::Suspended,
    ]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::ImageBackup,
    expected_task_states: &[TaskState::ImageBackup],
    event: "compute_backup_instance",
    final_vm_state: None,
    final_power_state: None,
};

/// shelve: the guest is powered off and snapshotted to Glance
/// (`<name>-shelved`); task_state shelving → shelving_image_pending_upload →
/// shelving_image_uploading → None (or shelving_offloading when
/// `[DEFAULT] shelved_offload_time = 0`). Compute resumes a shelve from any
/// of its steps (a redelivered message after a restart starts it again).
pub const SHELVE: Transition = Transition {
    action: "shelve",
    allowed_vm_states: Some(&[
        VmState::Active,
        VmState::Stopped,
        VmState::Paused,
        VmState::Suspended,
    ]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Shelving,
    expected_task_states: &[
        TaskState::Shelving,
        TaskState::ShelvingImagePendingUpload,
        TaskState::ShelvingImageUploading,
    ],
    event: "compute_shelve_instance",
    final_vm_state: Some(VmState::Shelved),
    final_power_state: Some(power_state::SHUTDOWN),
};

/// shelveOffload (admin, or the periodic `_poll_shelved_instances`): the
/// guest is destroyed and the instance leaves its host (host and node
/// cleared, the host's resources freed); its addresses stay allocated.
pub const SHELVE_OFFLOAD: Transition = Transition {
    action: "shelveOffload",
    allowed_vm_states: Some(&[VmState::Shelved]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::ShelvingOffloading,
    expected_task_states: &[TaskState::ShelvingOffloading],
    event: "compute_shelve_offload_instance",
    final_vm_state: Some(VmState::ShelvedOffloaded),
    final_power_state: Some(power_state::SHUTDOWN),
};

/// unshelve: a SHELVED instance is powered on again where it is (the
/// conductor sets powering-on and casts `start_instance`); a
/// SHELVED_OFFLOADED one is scheduled by the conductor and spawned by the
/// chosen host from the shelved image (task_state unshelving → spawning →
/// None), which then deletes that image. A failed spawn leaves it offloaded.
pub const UNSHELVE: Transition = Transition {
    action: "unshelve",
    allowed_vm_states: Some(&[VmState::Shelved, VmState::ShelvedOffloaded]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Unshelving,
    expected_task_states: &[TaskState::Unshelving, TaskState::Spawning],
    event: "compute_unshelve_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

/// Soft delete (DELETE with `[DEFAULT] reclaim_instance_interval` > 0, on
/// an instance that was launched): the guest is powered off and the
/// instance stays, SOFT_DELETED, until restored, force-deleted or reclaimed
/// by its host's `_reclaim_queued_deletes`.
pub const SOFT_DELETE: Transition = Transition {
    action: "delete",
    allowed_vm_states: None,
    allowed_task_states: None,
    task_state: TaskState::SoftDeleting,
    expected_task_states: &[TaskState::SoftDeleting],
    event: "compute_soft_delete_instance",
    final_vm_state: Some(VmState::SoftDeleted),
    final_power_state: Some(power_state::SHUTDOWN),
};

/// restore: a SOFT_DELETED instance powered on again.
pub const RESTORE: Transition = Transition {
    action: "restore",
    allowed_vm_states: Some(&[VmState::SoftDeleted]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Restoring,
    expected_task_states: &[TaskState::Restoring],
    event: "compute_restore_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

/// rebuild: the guest is destroyed and spawned again from the new image
/// (image_ref already updated by the API); task_state rebuilding →
/// rebuild_block_device_mapping → rebuild_spawning → None. The vm_state it
/// ends in depends on where it started (a STOPPED instance is powered off
/// again, anything else ends ACTIVE), so the table leaves it open.
pub const REBUILD: Transition = Transition {
    action: "rebuild",
    allowed_vm_states: Some(&[VmState::Active, VmState::Stopped, VmState::Error]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Rebuilding,
    expected_task_states: &[
        TaskState::Rebuilding,
        TaskState::RebuildBlockDeviceMapping,
        TaskState::RebuildSpawning,
    ],
    event: "compute_rebuild_instance",
    final_vm_state: None,
    final_power_state: None,
};

/// evacuate (admin): the instance's compute host is down; the conductor
/// chooses (or checks the forced) destination, claims it and records a
/// migration of type `evacuation`; the destination spawns the instance
/// again from its image (`rebuild_instance` with `recreate`), under the same
/// task_states as a rebuild. A STOPPED instance (or any, at 2.95) ends
/// STOPPED, anything else ACTIVE. The source destroys its guest when it
/// comes back (`init_host`).
pub const EVACUATE: Transition = Transition {
    action: "evacuate",
    ..REBUILD
};

/// rescue: the guest is powered off and booted from a rescue disk (the
/// requested image, else the instance's own) with its own disk attached as
/// the second one; RESCUED (status RESCUE). Nova's manager powers the guest
/// off first, so an instance rescued from STOPPED or ERROR runs too.
pub const RESCUE: Transition = Transition {
    action: "rescue",
    allowed_vm_states: Some(&[VmState::Active, VmState::Stopped, VmState::Error]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Rescuing,
    expected_task_states: &[TaskState::Rescuing],
    event: "compute_rescue_instance",
    final_vm_state: Some(VmState::Rescued),
    final_power_state: Some(power_state::RUNNING),
};

/// unrescue: the rescue guest is replaced by the original one, booted from
/// its own disk again; ACTIVE.
pub const UNRESCUE: Transition = Transition {
    action: "unrescue",
    allowed_vm_states: Some(&[VmState::Rescued]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Unrescuing,
    expected_task_states: &[TaskState::Unrescuing],
    event: "compute_unrescue_instance",
    final_vm_state: Some(VmState::Active),
    final_power_state: Some(power_state::RUNNING),
};

/// Delete is accepted in any state and overrides whatever task is running;
/// compute finishes it whatever it finds (and `init_host` finishes the
/// deletes a restart interrupted).
pub const DELETE: Transition = Transition {
    action: "delete",
    allowed_vm_states: None,
    allowed_task_states: None,
    task_state: TaskState::Deleting,
    expected_task_states: &[TaskState::Deleting],
    event: "compute_terminate_instance",
    final_vm_state: Some(VmState::Deleted),
    final_power_state: Some(power_state::NOSTATE),
};

/// Resize to another flavor (and cold migrate, [`MIGRATE`]): the API sets
/// resize_prep; the conductor schedules and claims the destination; the
/// destination's `prep_resize` (under resize_prep) hands over to the
/// source's `resize_instance` (resize_migrating → resize_migrated), then the
/// destination's `finish_resize` (resize_finish) ends in RESIZED
/// (VERIFY_RESIZE) with the guest running again unless it was stopped: the
/// final power state depends on the starting vm_state, so it is not fixed here.
pub const RESIZE: Transition = Transition {
    action: "resize",
    allowed_vm_states: Some(&[VmState::Active, VmState::Stopped]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::ResizePrep,
    expected_task_states: &[
        TaskState::ResizePrep,
        TaskState::ResizeMigrating,
        TaskState::ResizeMigrated,
        TaskState::ResizeFinish,
    ],
    event: "compute_prep_resize",
    final_vm_state: None,
    final_power_state: None,
};

/// Cold migration: a resize to the same flavor on another host (admin).
pub const MIGRATE: Transition = Transition {
    action: "migrate",
    ..RESIZE
};

/// confirmResize: the source host forgets the old guest; the instance goes
/// back to ACTIVE or SHUTOFF (as its power state says), migration `confirmed`.
/// Nova sets no task_state here (only the migration's `confirming`); nova-rs
/// also sets resize_confirming, so a second confirm is a 409 and the
/// compute host can tell a handled message from a new one.
pub const CONFIRM_RESIZE: Transition = Transition {
    action: "confirmResize",
    allowed_vm_states: Some(&[VmState::Resized]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::ResizeConfirming,
    expected_task_states: &[TaskState::ResizeConfirming],
    event: "compute_confirm_resize",
    final_vm_state: None,
    final_power_state: None,
};

/// revertResize: the destination destroys its guest, the source restarts
/// the old one with the old flavor (`finish_revert_resize`); migration `reverted`.
pub const REVERT_RESIZE: Transition = Transition {
    action: "revertResize",
    allowed_vm_states: Some(&[VmState::Resized]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::ResizeReverting,
    expected_task_states: &[TaskState::ResizeReverting],
    event: "compute_revert_resize",
    final_vm_state: None,
    final_power_state: None,
};

/// changePassword: the compute host sets the guest's admin password (through
/// the QEMU guest agent) while the API waits for the answer; the task state
/// is cleared whatever the outcome, the vm_state kept.
pub const CHANGE_PASSWORD: Transition = Transition {
    action: "changePassword",
    allowed_vm_states: Some(&[VmState::Active]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::UpdatingPassword,
    expected_task_states: &[TaskState::UpdatingPassword],
    event: "compute_set_admin_password",
    final_vm_state: None,
    final_power_state: None,
};

/// os-migrateLive: the API sets migrating; the conductor claims the
/// destination and has both hosts check it, the destination prepares, the
/// source sends the running guest; the destination takes the instance over
/// (task cleared, vm_state kept: ACTIVE or PAUSED, as the guest was). A
/// failure leaves the instance where it was, task cleared.
pub const LIVE_MIGRATE: Transition = Transition {
    action: "live-migration",
    allowed_vm_states: Some(&[VmState::Active, VmState::Paused]),
    allowed_task_states: Some(IDLE),
    task_state: TaskState::Migrating,
    expected_task_states: &[TaskState::Migrating],
    event: "compute_live_migration",
    final_vm_state: None,
    final_power_state: None,
};

/// An action that sets no task_state and leaves every state as it was:
/// only where the API may start it (`@check_instance_state`) and the event
/// compute records.
#[derive(Debug)]
pub struct StateCheck {
    /// The instance action the API records.
    pub action: &'static str,
    pub allowed_vm_states: &'static [VmState],
    pub allowed_task_states: &'static [Option<TaskState>],
    /// The event compute records in the instance action.
    pub event: &'static str,
}

/// Nova's `trigger_crash_dump` (`ALLOW_TRIGGER_CRASH_DUMP`).
pub const TRIGGER_CRASH_DUMP: StateCheck = StateCheck {
    action: "trigger_crash_dump",
    allowed_vm_states: &[
        VmState::Active,
        VmState::Paused,
        VmState::Rescued,
        VmState::Resized,
        VmState::Error,
    ],
    allowed_task_states: IDLE,
    event: "compute_trigger_crash_dump",
};

/// Every transition, for tests and documentation.
pub const ALL: &[&Transition] = &[
    &SOFT_REBOOT,
    &HARD_REBOOT,
    &STOP,
    &START,
    &PAUSE,
    &UNPAUSE,
    &SUSPEND,
    &RESUME,
    &SNAPSHOT,
    &BACKUP,
    &SHELVE,
    &SHELVE_OFFLOAD,
    &UNSHELVE,
    &SOFT_DELETE,
    &RESTORE,
    &REBUILD,
    &EVACUATE,
    &RESCUE,
    &UNRESCUE,
    &DELETE,
    &RESIZE,
    &MIGRATE,
    &CONFIRM_RESIZE,
    &REVERT_RESIZE,
    &CHANGE_PASSWORD,
    &LIVE_MIGRATE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::states::status_from_state;

    #[test]
    fn compute_expects_the_task_state_the_api_sets() {
        for t in ALL {
            assert!(
                t.expects(Some(t.task_state)),
                "{}: compute would ignore {}",
                t.action,
                t.task_state
            );
            assert!(!t.expects(None), "{}", t.action);
        }
    }

    #[test]
    fn a_started_action_is_not_allowed_again() {
        // Setting the task_state is what makes a second request a conflict,
        // except where Nova lets a hard reboot take over a soft one.
        for t in ALL.iter().filter(|t| t.allowed_task_states.is_some()) {
            for vm in VmState::ALL {
                assert!(!t.allows(*vm, Some(t.task_state)), "{}", t.action);
            }
        }
        for ts in SOFT_REBOOT.expected_task_states {
            assert!(HARD_REBOOT.allows(VmState::Active, Some(*ts)));
        }
        assert!(!SOFT_REBOOT.allows(VmState::Active, Some(TaskState::RebootingHard)));
        assert!(DELETE.allows(VmState::Building, Some(TaskState::Scheduling)));
    }

    #[test]
    fn outcomes_are_consistent() {
        for t in ALL {
            // Expected states are disjoint across different compute events
            // except for the two reboots, which compute tells apart by type.
            for o in ALL.iter().filter(|o| o.event != t.event) {
                for ts in t.expected_task_states {
                    assert!(
                        !o.expected_task_states.contains(ts),
                        "{} / {}",
                        t.action,
                        o.action
                    );
                }
            }
            if let Some(vm) = t.final_vm_state {
                let ps = t
                    .final_power_state
                    .expect("a final vm_state has a power state");
                match vm {
                    VmState::Active => assert_eq!(ps, power_state::RUNNING, "{}", t.action),
                    VmState::Paused => assert_eq!(ps, power_state::PAUSED),
                    VmState::Stopped | VmState::Suspended => {
                        assert_eq!(ps, power_state::SHUTDOWN, "{}", t.action)
                    }
                    _ => {}
                }
            } else {
                assert!(t.final_power_state.is_none(), "{}", t.action);
            }
        }
        assert_eq!(
            status_from_state(VmState::Active, Some(SOFT_REBOOT.task_state)),
            "REBOOT"
        );
        assert_eq!(
            status_from_state(VmState::Active, Some(HARD_REBOOT.task_state)),
            "HARD_REBOOT"
        );
    }
}
