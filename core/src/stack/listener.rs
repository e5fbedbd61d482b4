//! Listeners: a SYN queue (half-open count) and an accept queue per listening address.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use crate::{ConnId, ListenError, ListenOptions, ListenerId};

#[derive(Debug)]
struct Listener {
    local: SocketAddr,
    opts: ListenOptions,
    /// When this listener last answered with a SYN cookie.
    cookie_sent: Option<crate::Instant>,
    half_open: usize,
    accept_queue: VecDeque<ConnId>,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    listener: Option<Listener>,
}

/// Every listener of a stack.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    slots: Vec<Slot>,
}

impl Listeners {
    fn get(&self, id: ListenerId) -> Option<&Listener> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.listener.as_ref()
    }

    fn get_mut(&mut self, id: ListenerId) -> Option<&mut Listener> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.listener.as_mut()
    }

    fn ids(&self) -> impl Iterator<Item = (ListenerId, &Listener)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.listener.as_ref().map(|l| {
                (
                    ListenerId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    l,
                )
            })
        })
    }

    pub fn add(
        &mut self,
        local: SocketAddr,
        opts: ListenOptions,
    ) -> Result<ListenerId, ListenError> {
        if self.ids().any(|(_, l)| l.local == local) {
            return Err(ListenError::AddressInUse);
        }
        let listener = Listener {
            local,
            opts,
            cookie_sent: None,
            half_open: 0,
            accept_queue: VecDeque::new(),
        };
        let index = match self.slots.iter().position(|s| s.listener.is_none()) {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.listener = Some(listener);
        Ok(ListenerId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Removes a listener, returning the connections still queued on it.
    pub fn remove(&mut self, id: ListenerId) -> Option<Vec<ConnId>> {
        self.get(id)?;
        let slot = &mut self.slots[id.index as usize];
        let l = slot.listener.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        Some(l.accept_queue.into_iter().collect())
    }

    /// The listener for a local address: an exact match first, then the unspecified address
    /// of the same family.
    pub fn find(&self, local: SocketAddr) -> Option<ListenerId> {
        let wildcard = match local.ip() {
            IpAddr::V4(_) => IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(core::net::Ipv6Addr::UNSPECIFIED),
        };
        let exact = self.ids().find(|(_, l)| l.local == local).map(|(id, _)| id);
        exact.or_else(|| {
            self.ids()
                .find(|(_, l)| l.local == SocketAddr::new(wildcard, local.port()))
                .map(|(id, _)| id)
        })
    }

    /// Whether a listener already uses this local port (so an active open should not).
    pub fn uses_port(&self, ip: IpAddr, port: u16) -> bool {
        self.ids().any(|(_, l)| {
            l.local.port() == port && (l.local.ip() == ip || l.local.ip().is_unspecified())
        })
    }

    /// Remembers that a SYN cookie went out now.
    pub fn cookie_sent(&mut self, id: ListenerId, now: crate::Instant) {
        if let Some(l) = self.get_mut(id) {
            l.cookie_sent = Some(now);
        }
    }

    /// When the listener last sent a SYN cookie.
    pub fn last_cookie(&self, id: ListenerId) -> Option<crate::Instant> {
        self.get(id)?.cookie_sent
    }

    pub fn has_syn_room(&self, id: ListenerId) -> bool {
        self.get(id)
            .is_some_and(|l| l.half_open < l.opts.syn_backlog)
    }

    pub fn accept_queue_full(&self, id: ListenerId) -> bool {
        self.get(id)
            .is_none_or(|l| l.accept_queue.len() >= l.opts.backlog)
    }

    pub fn half_open_added(&mut self, id: ListenerId) {
        if let Some(l) = self.get_mut(id) {
            l.half_open += 1;
        }
    }

    pub fn half_open_gone(&mut self, id: ListenerId) {
        if let Some(l) = self.get_mut(id) {
            l.half_open = l.half_open.saturating_sub(1);
        }
    }

    /// A half-open connection completed its handshake: move it to the accept queue. False if
    /// the listener no longer exists.
    pub fn established(&mut self, id: ListenerId, conn: ConnId) -> bool {
        match self.get_mut(id) {
            Some(l) => {
                l.half_open = l.half_open.saturating_sub(1);
                l.accept_queue.push_back(conn);
                true
            }
            None => false,
        }
    }

    /// A queued connection ended before it was accepted.
    pub fn forget(&mut self, id: ListenerId, conn: ConnId) {
        if let Some(l) = self.get_mut(id) {
            l.accept_queue.retain(|c| *c != conn);
        }
    }

    pub fn pop_accepted(&mut self, id: ListenerId) -> Option<ConnId> {
        self.get_mut(id)?.accept_queue.pop_front()
    }
}
