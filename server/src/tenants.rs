//! The hubs of one server, one per tenant: an event, a reply or a held request never leaves its tenant's hub.
//!
//! A tenant is an install with its paired devices, or one operator key
//! ([`semantest_protocol::identity::Identity::tenant`]). A local server (no identities) has the
//! one tenant [`LOCAL_TENANT`]. A hub is made when its tenant's first socket authenticates and
//! dropped by the periodic sweep once it has settled (no socket, nothing held, no answer a
//! repeat could still need).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::hub::Hub;

/// The tenant of every socket of a server that needs no identity (local mode).
pub(crate) const LOCAL_TENANT: &str = "local";

/// Every tenant's hub.
#[derive(Debug)]
pub(crate) struct Hubs {
    hubs: Mutex<HashMap<String, Arc<Hub>>>,
    hold_max: usize,
    hold_for: Duration,
}

impl Hubs {
    pub(crate) fn new(hold_max: usize, hold_for: Duration) -> Self {
        Hubs {
            hubs: Mutex::new(HashMap::new()),
            hold_max,
            hold_for,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Hub>>> {
        self.hubs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The hub of `tenant`, made if it has none yet.
    pub(crate) fn of(&self, tenant: &str) -> Arc<Hub> {
        let mut hubs = self.lock();
        Arc::clone(
            hubs.entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(Hub::new(self.hold_max, self.hold_for))),
        )
    }

    /// The hub of `tenant`, if it has one.
    pub(crate) fn get(&self, tenant: &str) -> Option<Arc<Hub>> {
        self.lock().get(tenant).cloned()
    }

    /// Expires held events in every hub and drops the hubs that have settled.
    pub(crate) fn sweep(&self, now: Instant) {
        let hubs: Vec<(String, Arc<Hub>)> = self
            .lock()
            .iter()
            .map(|(t, h)| (t.clone(), Arc::clone(h)))
            .collect();
        for (tenant, hub) in hubs {
            hub.expire(now);
            if hub.settled(now) {
                let mut all = self.lock();
                // Only if no socket took it meanwhile (it would hold a second reference).
                if all.get(&tenant).is_some_and(|h| Arc::strong_count(h) == 2) && hub.settled(now) {
                    all.remove(&tenant);
                }
            }
        }
    }

    /// How many events wait for an extension, over all tenants.
    pub(crate) fn held(&self) -> usize {
        let hubs: Vec<Arc<Hub>> = self.lock().values().cloned().collect();
        hubs.iter().map(|h| h.held()).sum()
    }

    /// How many tenants have a hub now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_get_their_own_hub_and_settled_hubs_are_dropped() {
        let hubs = Hubs::new(4, Duration::from_secs(1));
        let a = hubs.of("install:a");
        assert!(Arc::ptr_eq(&a, &hubs.of("install:a")));
        assert!(!Arc::ptr_eq(&a, &hubs.of("install:b")));
        let inbox = crate::inbox::Inbox::new();
        a.join("c1", None, inbox.postbox());
        hubs.sweep(Instant::now());
        assert_eq!(
            hubs.len(),
            1,
            "a's socket keeps its hub; b's empty hub goes"
        );
        a.leave("c1");
        drop(a);
        hubs.sweep(Instant::now());
        assert_eq!(hubs.len(), 0);
    }
}
