//! The projects nova-api knows to have no instances, so that listing such
//! a project's servers (`servers`, `servers/detail`: what clients and
//! dashboards of a project poll, and every new project's first sight)
//! answers without asking the conductor.
//!
//! Kept exact, as the flavors are (`flavor_cache`): a project is known
//! empty only from a listing of all its live instances that found none
//! ([`InstanceFilters::whole_project`]), and it is forgotten
//! - by this process when it asks for instances of the project to be
//!   created, before answering the client;
//! - by every nova-api when the conductor's `instances_created` fanout cast
//!   arrives (sent after the instances are written, before the writer's
//!   answer), so another nova-api forgets it within the broker's delivery
//!   time;
//! - all at once when the broker connection was made again since the
//!   project was found empty (a cast may have been missed meanwhile).
//!
//! Only a creation gives a project a live instance: a delete, a restore or
//! any other change never moves an instance into a project, and a
//! soft-deleted instance is still listed. A listing that began before a
//! creation does not mark the project empty: each mark carries the
//! generation the listing began under and is kept only if nothing was
//! forgotten since.
//!
//! [`InstanceFilters::whole_project`]: nova_objects::InstanceFilters::whole_project

use foldhash::HashSet;
use std::sync::Mutex;

/// How many empty projects are remembered; past it they are all
/// forgotten (and found again by their next listings).
pub const MAX_PROJECTS: usize = 10_000;

#[derive(Default)]
struct State {
    /// Bumped by every forgetting.
    generation: u64,
    /// The broker connection epoch the projects were found empty under.
    epoch: u64,
    empty: HashSet<String>,
}

#[derive(Default)]
pub struct EmptyProjects {
    state: Mutex<State>,
}

impl EmptyProjects {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Ok` when `project` is known to have no instances under connection
    /// `epoch`; otherwise the generation a listing of it begins under.
    pub fn check(&self, project: &str, epoch: u64) -> Result<(), u64> {
        let mut s = self.lock();
        if s.epoch != epoch {
            s.empty.clear();
            s.epoch = epoch;
            s.generation += 1;
        }
        if s.empty.contains(project) {
            Ok(())
        } else {
            Err(s.generation)
        }
    }

    /// A listing of all of `project`'s instances, begun under `generation`
    /// and connection `epoch`, found none: remember it unless something
    /// was forgotten since.
    pub fn found_empty(&self, project: &str, generation: u64, epoch: u64) {
        let mut s = self.lock();
        if s.generation != generation || s.epoch != epoch {
            return;
        }
        if s.empty.len() >= MAX_PROJECTS {
            s.empty.clear();
        }
        s.empty.insert(project.to_string());
    }

    /// Instances of `project` were (or may have been) created.
    pub fn forget(&self, project: &str) {
        let mut s = self.lock();
        s.empty.remove(project);
        s.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_empty_from_its_listing_until_a_creation() {
        let e = EmptyProjects::default();
        let g = e.check("p", 1).expect_err("nothing known yet");
        e.found_empty("p", g, 1);
        assert_eq!(e.check("p", 1), Ok(()));
        assert!(e.check("q", 1).is_err(), "only the project listed");
        e.forget("p");
        assert!(e.check("p", 1).is_err(), "kept past a creation");
    }

    #[test]
    fn a_listing_that_began_before_a_creation_marks_nothing() {
        let e = EmptyProjects::default();
        // A reader starts, a creation is announced, the older answer arrives.
        let g = e.check("p", 1).expect_err("unknown");
        e.forget("p");
        e.found_empty("p", g, 1);
        assert!(e.check("p", 1).is_err(), "a stale listing was kept");
        // So does a creation in another project (one generation for all).
        let g = e.check("p", 1).expect_err("unknown");
        e.forget("q");
        e.found_empty("p", g, 1);
        assert!(e.check("p", 1).is_err());
    }

    #[test]
    fn a_new_broker_connection_forgets_every_project() {
        let e = EmptyProjects::default();
        let g = e.check("p", 1).expect_err("unknown");
        e.found_empty("p", g, 1);
        assert!(e.check("p", 2).is_err(), "kept across a reconnect");
        // A listing begun under the old connection cannot mark it again.
        e.found_empty("p", g, 1);
        assert!(e.check("p", 2).is_err());
        let g = e.check("p", 2).expect_err("unknown");
        e.found_empty("p", g, 2);
        assert_eq!(e.check("p", 2), Ok(()));
    }

    #[test]
    fn bounded() {
        let e = EmptyProjects::default();
        for i in 0..MAX_PROJECTS + 1 {
            let p = i.to_string();
            let g = e.check(&p, 1).expect_err("unknown");
            e.found_empty(&p, g, 1);
        }
        assert!(e.lock().empty.len() <= MAX_PROJECTS);
        assert_eq!(e.check(&MAX_PROJECTS.to_string(), 1), Ok(()));
    }
}
