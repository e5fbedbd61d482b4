//! Lets a [`Stack`] sit on the simulator's links.

use alloc::vec::Vec;
use core::any::Any;
use core::net::IpAddr;

use super::Stack;
use crate::sim::Node;
use crate::Instant;

impl Node for Stack {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        Stack::handle_packet(self, now, packet);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Stack::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Stack::poll_transmit(self, now, buf).map(|t| t.len)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Stack::poll_timeout(self)
    }
    fn addresses(&self) -> Vec<IpAddr> {
        self.shared.cfg.addresses.clone()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
