//! The server bodies `servers/detail` wrote, kept to be written again.
//!
//! A body is a function of the instance copy it was written from and of
//! the caller's kind (the base URL of its links, admin or not, the
//! microversion, whether the embedded flavor shows its extra specs; the
//! instance-name template is the process's). `host_status`, which depends
//! on the host's service at the time of the request, is left out and put
//! in on every write ([`RenderedServer::write`]).
//!
//! Instance copies come from nova-api's copy of the listed servers
//! (`compute/api/instance_cache.rs`): as long as an instance is unchanged,
//! a listing gets the same `Arc<Instance>`; any change (a new generation)
//! comes as a new one. So a body is kept with a weak reference to the copy
//! it was written from, and is good for exactly that copy (the same
//! allocation: the weak reference keeps it from being reused for another).
//! Bounded: at most `capacity` bodies (what the last page wrote survives a
//! trim).

use super::views::servers::RenderedServer;
use crate::openstack::api_version_request::ApiVersion;
use foldhash::HashMap;
use nova_objects::Instance;
use std::sync::{Arc, Mutex, Weak};
use uuid::Uuid;

/// The caller's kind: what a body depends on besides the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    pub base: crate::openstack::common::BaseUrl,
    pub admin: bool,
    pub v: ApiVersion,
    pub flavor_extra_specs: bool,
}

struct Entry {
    kind: Kind,
    copy: Weak<Instance>,
    body: Arc<RenderedServer>,
}

#[derive(Default)]
struct State {
    /// Per instance, one body per kind of caller.
    bodies: HashMap<Uuid, Vec<Entry>>,
    count: usize,
}

pub struct RenderedServers {
    capacity: usize,
    state: Mutex<State>,
}

impl RenderedServers {
    pub fn new(capacity: usize) -> Self {
        RenderedServers {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bodies of `page` for `kind`, in its order: those kept for these
    /// very copies, the others written by `render` (outside the lock) and
    /// kept.
    pub fn page<E>(
        &self,
        kind: &Kind,
        page: &[Arc<Instance>],
        render: impl Fn(&Instance) -> Result<RenderedServer, E>,
    ) -> Result<Vec<Arc<RenderedServer>>, E> {
        let kept: Vec<Option<Arc<RenderedServer>>> = {
            let state = self.lock();
            page.iter()
                .map(|i| {
                    state.bodies.get(&i.uuid).and_then(|entries| {
                        entries
                            .iter()
                            .find(|e| {
                                e.kind == *kind && std::ptr::eq(e.copy.as_ptr(), Arc::as_ptr(i))
                            })
                            .map(|e| Arc::clone(&e.body))
                    })
                })
                .collect()
        };
        let mut out = Vec::with_capacity(page.len());
        let mut written = Vec::new();
        for (i, k) in page.iter().zip(kept) {
            match k {
                Some(b) => out.push(b),
                None => {
                    let b = Arc::new(render(i)?);
                    written.push((Arc::clone(i), Arc::clone(&b)));
                    out.push(b);
                }
            }
        }
        if !written.is_empty() {
            self.keep(kind, page, written);
        }
        Ok(out)
    }

    fn keep(
        &self,
        kind: &Kind,
        page: &[Arc<Instance>],
        written: Vec<(Arc<Instance>, Arc<RenderedServer>)>,
    ) {
        let mut state = self.lock();
        for (inst, body) in written {
            let entries = state.bodies.entry(inst.uuid).or_default();
            let entry = Entry {
                kind: kind.clone(),
                copy: Arc::downgrade(&inst),
                body,
            };
            match entries.iter_mut().find(|e| e.kind == *kind) {
                Some(e) => *e = entry,
                None => {
                    entries.push(entry);
                    state.count += 1;
                }
            }
        }
        if state.count > self.capacity {
            // Over the bound: keep only this page's.
            let uuids: std::collections::HashSet<Uuid> = page.iter().map(|i| i.uuid).collect();
            state.bodies.retain(|u, _| uuids.contains(u));
            state.count = state.bodies.values().map(Vec::len).sum();
        }
    }

    /// How many bodies are kept.
    pub fn kept(&self) -> usize {
        self.lock().count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openstack::api_version_request::MIN_VERSION;
    use crate::openstack::compute::views::servers::{DetailOptions, ServerDetail};
    use nova_common::RequestContext;
    use std::cell::Cell;

    fn kind(admin: bool) -> Kind {
        Kind {
            base: crate::openstack::common::BaseUrl::new("http://api", None),
            admin,
            v: MIN_VERSION,
            flavor_extra_specs: false,
        }
    }

    fn inst(n: u128, name: &str) -> Arc<Instance> {
        Arc::new(Instance {
            uuid: Uuid::from_u128(n),
            display_name: name.into(),
            project_id: "p".into(),
            ..Default::default()
        })
    }

    fn text(b: &RenderedServer) -> String {
        let mut out = Vec::new();
        b.write(&mut out, None);
        String::from_utf8(out).unwrap()
    }

    /// Renders as `servers/detail` does, counting the renders.
    fn renderer<'a>(
        k: &'a Kind,
        count: &'a Cell<usize>,
    ) -> impl Fn(&Instance) -> Result<RenderedServer, serde_json::Error> + 'a {
        move |i| {
            count.set(count.get() + 1);
            let mut ctx = RequestContext::admin();
            ctx.is_admin = k.admin;
            RenderedServer::new(&ServerDetail {
                base: &k.base,
                inst: i,
                ctx: &ctx,
                v: k.v,
                opts: DetailOptions::default(),
            })
        }
    }

    #[test]
    fn a_body_is_written_again_only_for_another_copy_or_another_kind_of_caller() {
        let c = RenderedServers::new(100);
        let (a, b) = (inst(1, "a"), inst(2, "b"));
        let (admin, user) = (kind(true), kind(false));
        let n = Cell::new(0);
        let first = c
            .page(&admin, &[a.clone(), b.clone()], renderer(&admin, &n))
            .unwrap();
        assert_eq!(n.get(), 2);
        assert!(text(&first[0]).contains("\"name\":\"a\""));
        assert!(text(&first[0]).contains("OS-EXT-SRV-ATTR:host"));
        // The same copies: nothing written.
        let again = c
            .page(&admin, &[b.clone(), a.clone()], renderer(&admin, &n))
            .unwrap();
        assert_eq!(n.get(), 2);
        assert!(Arc::ptr_eq(&again[1], &first[0]));
        // Another kind of caller: its own bodies.
        let theirs = c
            .page(&user, std::slice::from_ref(&a), renderer(&user, &n))
            .unwrap();
        assert_eq!(n.get(), 3);
        assert!(!text(&theirs[0]).contains("OS-EXT-SRV-ATTR:host"));
        // A new copy of `a` (it changed): written again, and shows the change.
        let a2 = inst(1, "a renamed");
        let changed = c
            .page(&admin, &[a2.clone(), b.clone()], renderer(&admin, &n))
            .unwrap();
        assert_eq!(n.get(), 4);
        assert!(text(&changed[0]).contains("\"name\":\"a renamed\""));
        assert_eq!(c.kept(), 3);
        // Even once the old copy is gone, a new one is never taken for it.
        drop((a, first, again, theirs));
        let a3 = inst(1, "a again");
        let p = c.page(&admin, &[a3], renderer(&admin, &n)).unwrap();
        assert!(text(&p[0]).contains("\"name\":\"a again\""));
    }

    #[test]
    fn bounded_keeping_the_last_page() {
        let c = RenderedServers::new(3);
        let k = kind(true);
        let n = Cell::new(0);
        let old: Vec<_> = (1..=3).map(|i| inst(i, "old")).collect();
        c.page(&k, &old, renderer(&k, &n)).unwrap();
        let new: Vec<_> = (4..=5).map(|i| inst(i, "new")).collect();
        c.page(&k, &new, renderer(&k, &n)).unwrap();
        assert_eq!(c.kept(), 2);
        c.page(&k, &new, renderer(&k, &n)).unwrap();
        assert_eq!(n.get(), 5, "the last page's bodies were kept");
    }
}
