//! The sans-IO link layer for adapters on an Ethernet (TAP) device: Ethernet II framing
//! (RFC 894, RFC 2464), address resolution with ARP (RFC 826) for IPv4 and Neighbor Discovery
//! (RFC 4861) for IPv6, and next-hop selection (on-link prefixes or a default gateway).
//!
//! An [`Interface`] sits between the device and a [`Stack`] it does not own; like the stack it
//! does no I/O and reads no clock. The adapter's loop:
//!
//! 1. every frame read from the device goes to [`Interface::handle_frame`];
//! 2. then [`Interface::poll_frame`] is called until it returns `None`, writing each frame to
//!    the device (the buffer must hold [`Interface::frame_buffer_len`] bytes);
//! 3. the adapter sleeps until [`Interface::poll_timeout`] (or the next frame) and then calls
//!    [`Interface::handle_timeout`], which also runs the stack's timers; back to step 2.
//!
//! Application calls on the stack (`connect`, `send`, ...) are made on the `Stack` directly;
//! the packets they produce come out of `poll_frame`.
//!
//! ```
//! use sanstcp::link::{Interface, LinkConfig};
//! use sanstcp::wire::EthernetAddress;
//! use sanstcp::{Instant, Stack, StackConfig};
//!
//! let mut stack = Stack::new(StackConfig::new(vec!["10.0.0.1".parse().unwrap()], [7; 16], 1)).unwrap();
//! let mut iface = Interface::new(LinkConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1])));
//! let mut buf = vec![0u8; iface.frame_buffer_len(&stack)];
//! // A frame from the device (here: garbage, dropped and counted).
//! iface.handle_frame(Instant::ZERO, &mut stack, &[0xff; 10]);
//! while let Some(len) = iface.poll_frame(Instant::ZERO, &mut stack, &mut buf) {
//!     let _frame = &buf[..len]; // write it to the device
//! }
//! assert_eq!(iface.stats().frames_in, 1);
//! ```
//!
//! What the neighbor cache does, in short: an entry is created when a packet needs a next hop
//! that is not known (the packet is parked and a request goes out, RFC 1122 §2.3.2.2), when
//! an ARP packet names one of our addresses as its target (RFC 826), or when a Neighbor
//! Solicitation for one of our addresses carries the sender's link-layer address (RFC 4861
//! §7.2.3). Other ARP packets (gratuitous ones included) and Neighbor Advertisements only
//! update entries that already exist (RFC 826 "merge flag", RFC 4861 §7.2.5). Entries expire
//! after [`LinkConfig::neighbor_ttl`]; the next packet then re-resolves, first with a unicast
//! request to the old address (RFC 1122 §2.3.2.1 "unicast poll", RFC 4861 §7.3.3 PROBE).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::{ethertype, EthernetAddress, EthernetRepr};
use crate::wire::icmpv6::Icmpv6Repr;
use crate::wire::ndp::{self, neighbor_flags, NdpRepr};
use crate::wire::{ip_protocol, multicast_ethernet, solicited_node_multicast, Ipv6Repr};
use crate::{Input, Instant, Stack};

/// Length of the Ethernet II header in front of every IP packet.
pub const ETHERNET_HEADER_LEN: usize = EthernetRepr::HEADER_LEN;

/// The Hop Limit every NDP message is sent with and must arrive with (RFC 4861 §6.1.1, §7.1).
const NDP_HOP_LIMIT: u8 = 255;

/// The IPv6 link-scope all-nodes multicast address `ff02::1` (RFC 4291 §2.7.1).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Packets addressed to the stack itself that one `poll_frame` call loops back at most; more
/// are dropped ([`LinkDropReason::LoopbackLimit`]) so that a call always returns.
const LOOPBACK_BUDGET: u32 = 256;

/// Configuration of an [`Interface`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// The interface's own MAC address (unicast).
    pub hardware_addr: EthernetAddress,
    /// IPv4 default gateway: the next hop for IPv4 destinations outside [`Self::prefixes`].
    /// `None`: every IPv4 destination is treated as on-link.
    pub gateway_v4: Option<Ipv4Addr>,
    /// IPv6 default router: the next hop for IPv6 destinations outside [`Self::prefixes`]
    /// (link-local `fe80::/10` is always on-link, RFC 4861 §5.2). `None`: every IPv6
    /// destination is treated as on-link.
    pub gateway_v6: Option<Ipv6Addr>,
    /// On-link networks as (network address, prefix length). Destinations inside them are
    /// resolved directly; others go to the gateway of their family. The IPv4 directed
    /// broadcast address of a prefix (all host bits set, prefix length 30 or less) is sent to
    /// the Ethernet broadcast address.
    pub prefixes: Vec<(IpAddr, u8)>,
    /// How long a resolved neighbor is used before it is resolved again (default 60 s).
    pub neighbor_ttl: Duration,
    /// Time to wait for an answer to each ARP request or Neighbor Solicitation (default 1 s,
    /// RFC 4861 §10 RETRANS_TIMER).
    pub resolve_timeout: Duration,
    /// Requests sent in total for one resolution before giving up and dropping the parked
    /// packets (default 3, RFC 4861 §10 MAX_MULTICAST_SOLICIT; 0 counts as 1).
    pub resolve_attempts: u32,
    /// Packets parked per unresolved neighbor (default 16). When full, the oldest is dropped so
    /// that the latest is kept (RFC 1122 §2.3.2.2). 0 parks nothing (the packet that triggered
    /// the resolution is dropped; TCP retransmits it).
    pub pending_limit: usize,
    /// Neighbor cache entries (default 1024). When full, expired entries are dropped, then the
    /// entry closest to expiry; entries still resolving are never evicted.
    pub cache_limit: usize,
    /// ARP/NDP frames (replies, requests) that may wait for `poll_frame` (default 64).
    pub control_limit: usize,
}

impl LinkConfig {
    /// Defaults for an interface with MAC address `hardware_addr`: no gateways, no prefixes
    /// (everything on-link), 60 s neighbor lifetime, three 1 s resolution attempts, 16 parked
    /// packets per neighbor.
    pub fn new(hardware_addr: EthernetAddress) -> LinkConfig {
        LinkConfig {
            hardware_addr,
            gateway_v4: None,
            gateway_v6: None,
            prefixes: Vec::new(),
            neighbor_ttl: Duration::from_secs(60),
            resolve_timeout: Duration::from_secs(1),
            resolve_attempts: 3,
            pending_limit: 16,
            cache_limit: 1024,
            control_limit: 64,
        }
    }
}

/// Why the link layer dropped a frame or a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkDropReason {
    /// Incoming: a frame for another MAC address or a multicast group we are not in, or a
    /// Neighbor Solicitation for an address that is not ours.
    NotForUs,
    /// Incoming: a truncated Ethernet header, a multicast source MAC, or an ARP/NDP message that
    /// failed to parse or validate (checksum, Hop Limit 255, RFC 4861 §7.1 rules).
    BadFrame,
    /// Incoming: an EtherType other than IPv4, ARP and IPv6.
    UnknownEtherType,
    /// Outgoing: a parked packet whose next hop never answered.
    Unresolved,
    /// Outgoing: a parked packet pushed out by a newer one ([`LinkConfig::pending_limit`]).
    PendingFull,
    /// Outgoing: a packet that needed a new cache entry while every entry was still resolving
    /// ([`LinkConfig::cache_limit`]).
    CacheFull,
    /// Outgoing: an ARP/NDP frame not queued because [`LinkConfig::control_limit`] frames were
    /// already waiting.
    QueueFull,
    /// Outgoing: a queued frame larger than the buffer given to `poll_frame`.
    BufferTooSmall,
    /// Outgoing: a packet to one of the stack's own addresses beyond the per-call loopback
    /// budget.
    LoopbackLimit,
}

impl LinkDropReason {
    /// Number of reasons.
    pub const COUNT: usize = 9;
    /// Every reason, in counter order.
    pub const ALL: [LinkDropReason; LinkDropReason::COUNT] = [
        LinkDropReason::NotForUs,
        LinkDropReason::BadFrame,
        LinkDropReason::UnknownEtherType,
        LinkDropReason::Unresolved,
        LinkDropReason::PendingFull,
        LinkDropReason::CacheFull,
        LinkDropReason::QueueFull,
        LinkDropReason::BufferTooSmall,
        LinkDropReason::LoopbackLimit,
    ];

    /// A short snake_case name, for logs and bindings.
    pub fn name(self) -> &'static str {
        match self {
            LinkDropReason::NotForUs => "not_for_us",
            LinkDropReason::BadFrame => "bad_frame",
            LinkDropReason::UnknownEtherType => "unknown_ethertype",
            LinkDropReason::Unresolved => "unresolved",
            LinkDropReason::PendingFull => "pending_full",
            LinkDropReason::CacheFull => "cache_full",
            LinkDropReason::QueueFull => "queue_full",
            LinkDropReason::BufferTooSmall => "buffer_too_small",
            LinkDropReason::LoopbackLimit => "loopback_limit",
        }
    }

    fn index(self) -> usize {
        LinkDropReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(0)
    }
}

/// Link-layer counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Frames given to `handle_frame`.
    pub frames_in: u64,
    /// Frames returned by `poll_frame`.
    pub frames_out: u64,
    /// IP packets handed to the stack.
    pub ip_in: u64,
    /// IP packets sent in a frame (including ones that were parked first).
    pub ip_out: u64,
    /// ARP requests received.
    pub arp_requests_in: u64,
    /// ARP replies received.
    pub arp_replies_in: u64,
    /// ARP requests queued for sending (gratuitous announcements included).
    pub arp_requests_out: u64,
    /// ARP replies queued for sending.
    pub arp_replies_out: u64,
    /// Neighbor Solicitations received.
    pub neighbor_solicits_in: u64,
    /// Neighbor Advertisements received.
    pub neighbor_adverts_in: u64,
    /// Neighbor Solicitations queued for sending.
    pub neighbor_solicits_out: u64,
    /// Neighbor Advertisements queued for sending (unsolicited ones included).
    pub neighbor_adverts_out: u64,
    /// Other NDP messages received and ignored (Router Solicitation/Advertisement, Redirect).
    pub ndp_ignored: u64,
    /// Outgoing packets parked while their next hop was being resolved.
    pub parked: u64,
    /// Resolutions that gave up after [`LinkConfig::resolve_attempts`] requests.
    pub resolve_failures: u64,
    /// Packets to the stack's own addresses handed straight back to it.
    pub looped_back: u64,
    drops: [u64; LinkDropReason::COUNT],
}

impl LinkStats {
    /// How many frames or packets were dropped for `reason`.
    pub fn dropped(&self, reason: LinkDropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// All drops, any reason.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Every reason with its count.
    pub fn drops(&self) -> impl Iterator<Item = (LinkDropReason, u64)> + '_ {
        LinkDropReason::ALL
            .iter()
            .map(|r| (*r, self.drops[r.index()]))
    }

    fn count_drop(&mut self, reason: LinkDropReason, n: u64) {
        self.drops[reason.index()] += n;
    }
}

/// What [`Interface::handle_frame`] did with a frame. Every frame gets exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkInput {
    /// An IPv4 or IPv6 packet went to [`Stack::handle_packet`]; this is what it returned.
    Ip(Input),
    /// An ARP packet was processed: the cache may have been updated and a reply queued.
    Arp,
    /// An NDP message was processed (cache update, advertisement queued) or, for router
    /// messages and redirects, ignored as a host may (RFC 4861 §6.2.6, §8.1).
    Ndp,
    /// The frame was dropped and counted.
    Dropped(LinkDropReason),
}

/// A neighbor cache entry.
#[derive(Debug)]
enum Neighbor {
    /// The link-layer address is known; used until `expires_at`.
    Reachable {
        mac: EthernetAddress,
        expires_at: Instant,
    },
    /// Requests are out; packets wait.
    Resolving(Resolution),
}

/// An address resolution in progress.
#[derive(Debug)]
struct Resolution {
    /// The address the entry had before it expired: the first request goes there (unicast).
    hint: Option<EthernetAddress>,
    /// Our address that asks (the source of the first parked packet, RFC 4861 §7.2.2).
    src: IpAddr,
    /// Requests sent so far.
    sent: u32,
    /// When to send the next request, or give up.
    next_try: Instant,
    /// Parked packets, each already framed with room for the Ethernet header.
    pending: VecDeque<Vec<u8>>,
}

/// Where an outgoing packet goes.
enum NextHop {
    /// A fixed MAC address (broadcast, multicast).
    Mac(EthernetAddress),
    /// One of the stack's own addresses.
    Local,
    /// A neighbor to resolve: the destination itself or a gateway.
    Neighbor(IpAddr),
}

/// The sans-IO Ethernet interface: neighbor cache, parked packets and queued ARP/NDP frames.
/// It does not own the [`Stack`]; every call that needs it takes it as an argument.
#[derive(Debug)]
pub struct Interface {
    config: LinkConfig,
    neighbors: BTreeMap<IpAddr, Neighbor>,
    /// ARP/NDP frames to send, ahead of everything else.
    control: VecDeque<Vec<u8>>,
    /// Parked packets whose neighbor was resolved, framed, in arrival order.
    released: VecDeque<Vec<u8>>,
    stats: LinkStats,
}

impl Interface {
    /// An interface with `config` and an empty neighbor cache.
    pub fn new(config: LinkConfig) -> Interface {
        Interface {
            config,
            neighbors: BTreeMap::new(),
            control: VecDeque::new(),
            released: VecDeque::new(),
            stats: LinkStats::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Counters, including drops by reason.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// The buffer size [`Interface::poll_frame`] needs: the stack's MTU plus the Ethernet
    /// header.
    pub fn frame_buffer_len(&self, stack: &Stack) -> usize {
        stack.config().mtu.saturating_add(ETHERNET_HEADER_LEN)
    }

    /// The cached, unexpired link-layer address of neighbor `addr`, if any.
    pub fn neighbor(&self, now: Instant, addr: IpAddr) -> Option<EthernetAddress> {
        match self.neighbors.get(&addr)? {
            Neighbor::Reachable { mac, expires_at } if now < *expires_at => Some(*mac),
            _ => None,
        }
    }

    /// Packets currently parked, waiting for their next hop to be resolved.
    pub fn parked_len(&self) -> usize {
        self.neighbors
            .values()
            .map(|n| match n {
                Neighbor::Resolving(r) => r.pending.len(),
                Neighbor::Reachable { .. } => 0,
            })
            .sum()
    }

    /// Queues announcements of the stack's addresses, for when the interface comes up: a
    /// gratuitous ARP request for each IPv4 address (RFC 5227 §2.3, ARP Announcement) and an
    /// unsolicited Neighbor Advertisement to all-nodes for each IPv6 address (RFC 4861
    /// §7.2.6). Duplicate Address Detection (RFC 4862 §5.4) is not performed.
    pub fn announce(&mut self, stack: &Stack) {
        let addrs: Vec<IpAddr> = stack.config().addresses.clone();
        for addr in addrs {
            match addr {
                IpAddr::V4(a) => {
                    let arp = ArpRepr {
                        operation: ArpOperation::Request,
                        source_hardware_addr: self.config.hardware_addr,
                        source_protocol_addr: a,
                        target_hardware_addr: EthernetAddress([0; 6]),
                        target_protocol_addr: a,
                    };
                    if self.queue_arp(EthernetAddress::BROADCAST, &arp) {
                        self.stats.arp_requests_out += 1;
                    }
                }
                IpAddr::V6(a) => {
                    let na = NdpRepr::NeighborAdvert {
                        flags: neighbor_flags::OVERRIDE,
                        target_addr: a,
                        lladdr: Some(self.config.hardware_addr),
                    };
                    if self.queue_ndp(multicast_ethernet(&ALL_NODES), a, ALL_NODES, na) {
                        self.stats.neighbor_adverts_out += 1;
                    }
                }
            }
        }
    }

    // ---- input ------------------------------------------------------------------------------

    /// Processes one Ethernet frame from the device (without the FCS). Never panics, never
    /// fails: a bad frame is dropped and counted.
    ///
    /// * ARP (RFC 826): requests for one of the stack's IPv4 addresses are answered with our
    ///   MAC; the sender is added to the cache when we are the target, and updated when it is
    ///   already cached (gratuitous ARP included).
    /// * NDP (RFC 4861): Neighbor Solicitations for one of the stack's IPv6 addresses (also when
    ///   sent to its solicited-node multicast address) are answered with a Neighbor
    ///   Advertisement; advertisements update the cache. Router messages are ignored.
    /// * Other IPv4 and IPv6 packets addressed to our MAC, broadcast, all-nodes or one of our
    ///   solicited-node groups go to [`Stack::handle_packet`].
    ///
    /// Call [`Interface::poll_frame`] afterwards: replies may be queued, and packets parked for
    /// a neighbor this frame resolved are ready.
    pub fn handle_frame(&mut self, now: Instant, stack: &mut Stack, frame: &[u8]) -> LinkInput {
        self.stats.frames_in += 1;
        let result = self.input(now, stack, frame);
        if let LinkInput::Dropped(reason) = result {
            self.stats.count_drop(reason, 1);
        }
        result
    }

    fn input(&mut self, now: Instant, stack: &mut Stack, frame: &[u8]) -> LinkInput {
        let Ok((eth, payload)) = EthernetRepr::parse(frame) else {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        };
        // IEEE 802: a source address is always an individual address.
        if eth.src_addr.is_multicast() {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        }
        if !self.accepts(stack, eth.dst_addr) {
            return LinkInput::Dropped(LinkDropReason::NotForUs);
        }
        match eth.ethertype {
            ethertype::ARP => self.input_arp(now, stack, payload),
            ethertype::IPV4 => {
                self.stats.ip_in += 1;
                LinkInput::Ip(stack.handle_packet(now, payload))
            }
            ethertype::IPV6 => self.input_ipv6(now, stack, &eth, payload),
            _ => LinkInput::Dropped(LinkDropReason::UnknownEtherType),
        }
    }

    /// Whether a frame to `dst` is for this host: our MAC, broadcast, or the Ethernet mapping
    /// (RFC 2464 §7) of all-nodes or of the solicited-node group of one of our IPv6 addresses
    /// (the groups RFC 4291 §2.8 has a host join).
    fn accepts(&self, stack: &Stack, dst: EthernetAddress) -> bool {
        if dst == self.config.hardware_addr || dst.is_broadcast() {
            return true;
        }
        if !dst.is_multicast() {
            return false;
        }
        dst == multicast_ethernet(&ALL_NODES)
            || stack.config().addresses.iter().any(|a| match a {
                IpAddr::V6(a) => dst == multicast_ethernet(&solicited_node_multicast(a)),
                IpAddr::V4(_) => false,
            })
    }

    /// RFC 826 "Packet Reception".
    fn input_arp(&mut self, now: Instant, stack: &Stack, payload: &[u8]) -> LinkInput {
        // Parsing checks ar$hrd = Ethernet and ar$pro = IPv4 with their lengths (RFC 826:
        // "?Do I have the hardware type in ar$hrd? ... ?Do I speak the protocol in ar$pro?").
        let Ok(arp) = ArpRepr::parse(payload) else {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        };
        match arp.operation {
            ArpOperation::Request => self.stats.arp_requests_in += 1,
            ArpOperation::Reply => self.stats.arp_replies_in += 1,
            ArpOperation::Unknown(_) => return LinkInput::Dropped(LinkDropReason::BadFrame),
        }
        let sha = arp.source_hardware_addr;
        if sha.is_multicast() {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        }
        let spa = IpAddr::V4(arp.source_protocol_addr);
        // An ARP probe (sender 0.0.0.0, RFC 5227 §2.1.1) or a sender claiming a non-unicast
        // address or one of ours teaches nothing; a request in it is still answered.
        let learnable = is_unicast(spa) && !stack.is_local(spa);
        // "If the pair <protocol type, sender protocol address> is already in my translation
        // table, update the sender hardware address field of the entry with the new
        // information in the packet and set Merge_flag to true."
        let merged = learnable && self.neighbors.contains_key(&spa);
        if merged {
            self.learn(now, spa, sha);
        }
        // "?Am I the target protocol address?"
        if !stack.is_local(IpAddr::V4(arp.target_protocol_addr)) {
            return LinkInput::Arp;
        }
        // "If Merge_flag is false, add the triplet <protocol type, sender protocol address,
        // sender hardware address> to the translation table."
        if learnable && !merged && self.make_room(now) {
            self.learn(now, spa, sha);
        }
        // "?Is the opcode ares_op$REQUEST? Yes: Swap hardware and protocol fields, putting the
        // local hardware and protocol addresses in the sender fields. Set the ar$op field to
        // ares_op$REPLY. Send the packet to the (new) target hardware address."
        if arp.operation == ArpOperation::Request {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: self.config.hardware_addr,
                source_protocol_addr: arp.target_protocol_addr,
                target_hardware_addr: sha,
                target_protocol_addr: arp.source_protocol_addr,
            };
            if self.queue_arp(sha, &reply) {
                self.stats.arp_replies_out += 1;
            }
        }
        LinkInput::Arp
    }

    /// An IPv6 packet: NDP is handled here (the stack only takes packets for its unicast
    /// addresses, and solicitations come to a multicast group); the rest goes to the stack.
    fn input_ipv6(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        eth: &EthernetRepr,
        payload: &[u8],
    ) -> LinkInput {
        let ndp = match Ipv6Repr::parse(payload) {
            Ok((ip, body))
                if ip.next_header == ip_protocol::ICMPV6
                    && matches!(body.first(), Some(t) if is_ndp_type(*t)) =>
            {
                Some((ip, body))
            }
            _ => None,
        };
        let Some((ip, body)) = ndp else {
            self.stats.ip_in += 1;
            return LinkInput::Ip(stack.handle_packet(now, payload));
        };
        // RFC 4861 §6.1 and §7.1: NDP messages must arrive with Hop Limit 255, which proves
        // they were not forwarded by a router.
        if ip.hop_limit != NDP_HOP_LIMIT || ip.src_addr.is_multicast() {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        }
        let repr = if stack.config().verify_checksums {
            match Icmpv6Repr::parse(body, &ip.src_addr, &ip.dst_addr) {
                Ok(Icmpv6Repr::Ndp(repr)) => Ok(repr),
                Ok(_) => {
                    // Redirect (RFC 4861 §8): a host that ignores it loses nothing but a
                    // shorter path.
                    self.stats.ndp_ignored += 1;
                    return LinkInput::Ndp;
                }
                Err(e) => Err(e),
            }
        } else if body.first() == Some(&ndp::msg_type::REDIRECT) {
            self.stats.ndp_ignored += 1;
            return LinkInput::Ndp;
        } else {
            NdpRepr::parse(body)
        };
        let Ok(repr) = repr else {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        };
        match repr {
            NdpRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => self.input_solicit(now, stack, eth, &ip, target_addr, lladdr),
            NdpRepr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => {
                self.stats.neighbor_adverts_in += 1;
                // RFC 4861 §7.1.2: "If the IP Destination Address is a multicast address the
                // Solicited flag is zero."
                if ip.dst_addr.is_multicast() && flags & neighbor_flags::SOLICITED != 0 {
                    return LinkInput::Dropped(LinkDropReason::BadFrame);
                }
                self.input_advert(now, IpAddr::V6(target_addr), flags, lladdr);
                LinkInput::Ndp
            }
            // RFC 4861 §6.2.6: hosts silently discard Router Solicitations. Router
            // Advertisements are not used: routes come from the configuration.
            NdpRepr::RouterSolicit { .. } | NdpRepr::RouterAdvert { .. } => {
                self.stats.ndp_ignored += 1;
                LinkInput::Ndp
            }
        }
    }

    /// RFC 4861 §7.1.1 validation, §7.2.3 receipt of a Neighbor Solicitation and §7.2.4 the
    /// answering advertisement.
    fn input_solicit(
        &mut self,
        now: Instant,
        stack: &Stack,
        eth: &EthernetRepr,
        ip: &Ipv6Repr,
        target: Ipv6Addr,
        lladdr: Option<EthernetAddress>,
    ) -> LinkInput {
        self.stats.neighbor_solicits_in += 1;
        let from_dad = ip.src_addr.is_unspecified();
        // §7.1.1: "If the IP source address is the unspecified address, the IP destination
        // address is a solicited-node multicast address" and "there is no source link-layer
        // address option in the message."
        if from_dad && (ip.dst_addr != solicited_node_multicast(&target) || lladdr.is_some()) {
            return LinkInput::Dropped(LinkDropReason::BadFrame);
        }
        let dst_ok = ip.dst_addr.is_multicast() || stack.is_local(IpAddr::V6(ip.dst_addr));
        if !dst_ok || !stack.is_local(IpAddr::V6(target)) {
            // §7.2.3: "... the Target Address is not an address assigned to the receiving
            // interface ... silently discard".
            return LinkInput::Dropped(LinkDropReason::NotForUs);
        }
        if stack.is_local(IpAddr::V6(ip.src_addr)) {
            // Our own solicitation reflected back: nothing to learn or answer.
            return LinkInput::Ndp;
        }
        let na = NdpRepr::NeighborAdvert {
            // §7.2.4: Router flag clear (a host), Override set (not an anycast address),
            // Solicited set unless the solicitation came from Duplicate Address Detection.
            flags: if from_dad {
                neighbor_flags::OVERRIDE
            } else {
                neighbor_flags::SOLICITED | neighbor_flags::OVERRIDE
            },
            target_addr: target,
            // §7.2.4: the Target Link-Layer Address option MUST be included when answering a
            // multicast solicitation; it is always included here.
            lladdr: Some(self.config.hardware_addr),
        };
        if from_dad {
            // §7.2.4: "If the source of the solicitation is the unspecified address, the node
            // MUST set the Solicited flag to zero and multicast the advertisement to the
            // all-nodes address."
            if self.queue_ndp(multicast_ethernet(&ALL_NODES), target, ALL_NODES, na) {
                self.stats.neighbor_adverts_out += 1;
            }
            return LinkInput::Ndp;
        }
        // §7.2.3: a Source Link-Layer Address option creates or updates the sender's entry.
        let src = IpAddr::V6(ip.src_addr);
        if let Some(mac) = lladdr.filter(|m| m.is_unicast()) {
            if self.neighbors.contains_key(&src) || self.make_room(now) {
                self.learn(now, src, mac);
            }
        }
        // §7.2.4: unicast to the solicitation's source, at its link-layer address (the
        // option, or else the frame's source address rather than a resolution of our own).
        let eth_dst = lladdr.filter(|m| m.is_unicast()).unwrap_or(eth.src_addr);
        if self.queue_ndp(eth_dst, target, ip.src_addr, na) {
            self.stats.neighbor_adverts_out += 1;
        }
        LinkInput::Ndp
    }

    /// RFC 4861 §7.2.5: receipt of a Neighbor Advertisement.
    fn input_advert(
        &mut self,
        now: Instant,
        target: IpAddr,
        flags: u8,
        lladdr: Option<EthernetAddress>,
    ) {
        let lladdr = lladdr.filter(|m| m.is_unicast());
        let solicited = flags & neighbor_flags::SOLICITED != 0;
        let overrides = flags & neighbor_flags::OVERRIDE != 0;
        match self.neighbors.get_mut(&target) {
            // "If no entry exists, the advertisement SHOULD be silently discarded."
            None => {}
            // "If the target's Neighbor Cache entry is in the INCOMPLETE state ... If the
            // link layer has addresses and no Target Link-Layer Address option is included,
            // the receiving node SHOULD silently discard the received advertisement.
            // Otherwise, the receiving node records the link-layer address ... sends any
            // packets queued for the neighbor".
            Some(Neighbor::Resolving(_)) => {
                if let Some(mac) = lladdr {
                    self.learn(now, target, mac);
                }
            }
            Some(Neighbor::Reachable { mac, expires_at }) => {
                let old = *mac;
                // "If the Override flag is clear and the supplied link-layer address differs
                // from that in the cache ... [do not] update the entry".
                if !overrides && lladdr.is_some_and(|m| m != old) {
                    return;
                }
                let new = lladdr.unwrap_or(old);
                // A solicited advertisement confirms reachability; a new address replaces
                // the old one.
                if solicited || new != old {
                    *mac = new;
                    *expires_at = now + self.config.neighbor_ttl;
                }
            }
        }
    }

    /// Records `mac` for `ip` (fresh for `neighbor_ttl`); if a resolution was in progress, its
    /// parked packets are framed and released in order.
    fn learn(&mut self, now: Instant, ip: IpAddr, mac: EthernetAddress) {
        let entry = Neighbor::Reachable {
            mac,
            expires_at: now + self.config.neighbor_ttl,
        };
        if let Some(Neighbor::Resolving(r)) = self.neighbors.insert(ip, entry) {
            let header = EthernetRepr {
                src_addr: self.config.hardware_addr,
                dst_addr: mac,
                ethertype: ip_ethertype(ip),
            };
            for mut frame in r.pending {
                header.emit(&mut frame);
                self.released.push_back(frame);
            }
        }
    }

    /// Makes room for one more cache entry: expired entries go first, then the one closest to
    /// expiry. Entries still resolving stay; false if only those are left.
    fn make_room(&mut self, now: Instant) -> bool {
        let limit = self.config.cache_limit;
        if self.neighbors.len() < limit {
            return true;
        }
        self.neighbors.retain(
            |_, n| !matches!(n, Neighbor::Reachable { expires_at, .. } if *expires_at <= now),
        );
        if self.neighbors.len() < limit {
            return true;
        }
        let victim = self
            .neighbors
            .iter()
            .filter_map(|(ip, n)| match n {
                Neighbor::Reachable { expires_at, .. } => Some((*expires_at, *ip)),
                Neighbor::Resolving(_) => None,
            })
            .min();
        match victim {
            Some((_, ip)) => {
                self.neighbors.remove(&ip);
                self.neighbors.len() < limit
            }
            None => false,
        }
    }

    // ---- output -----------------------------------------------------------------------------

    /// Writes the next frame for the device into `buf` and returns its length, or `None` when
    /// nothing is waiting. Call until `None` after every other call.
    ///
    /// Queued ARP/NDP frames come first, then parked packets whose next hop has been
    /// resolved, then packets from [`Stack::poll_transmit`] framed for their next hop: the
    /// broadcast address for IPv4 broadcast, the RFC 1112 §6.4 / RFC 2464 §7 mapping for
    /// multicast, otherwise the cached MAC of the destination (on-link) or of the gateway.
    /// A packet whose next hop is not cached is parked (at most
    /// [`LinkConfig::pending_limit`] per neighbor) and an ARP request, or a Neighbor
    /// Solicitation to the solicited-node multicast address, is sent in its place. Packets to
    /// the stack's own addresses are handed back to it.
    ///
    /// `buf` must hold [`Interface::frame_buffer_len`] bytes; with less, the stack is not
    /// polled.
    pub fn poll_frame(&mut self, now: Instant, stack: &mut Stack, buf: &mut [u8]) -> Option<usize> {
        let mut loopback = LOOPBACK_BUDGET;
        loop {
            if let Some(len) = self.pop_queued(buf) {
                return Some(len);
            }
            let payload = buf.get_mut(ETHERNET_HEADER_LEN..)?;
            let t = stack.poll_transmit(now, payload)?;
            let end = ETHERNET_HEADER_LEN.saturating_add(t.len);
            let Some(packet) = buf.get(ETHERNET_HEADER_LEN..end) else {
                // The stack never reports more than it wrote; nothing sensible to send.
                continue;
            };
            match self.next_hop(stack, t.dst) {
                NextHop::Local => {
                    if loopback == 0 {
                        self.stats.count_drop(LinkDropReason::LoopbackLimit, 1);
                        continue;
                    }
                    loopback -= 1;
                    self.stats.looped_back += 1;
                    let packet = packet.to_vec();
                    stack.handle_packet(now, &packet);
                }
                NextHop::Mac(mac) => return Some(self.frame_in_place(buf, mac, t.dst, end)),
                NextHop::Neighbor(hop) => match self.neighbor(now, hop) {
                    Some(mac) => return Some(self.frame_in_place(buf, mac, t.dst, end)),
                    None => self.park(now, hop, t.src, packet),
                },
            }
        }
    }

    /// Writes the Ethernet header in front of the IP packet already in `buf`.
    fn frame_in_place(
        &mut self,
        buf: &mut [u8],
        mac: EthernetAddress,
        dst: IpAddr,
        end: usize,
    ) -> usize {
        EthernetRepr {
            src_addr: self.config.hardware_addr,
            dst_addr: mac,
            ethertype: ip_ethertype(dst),
        }
        .emit(buf);
        self.stats.frames_out += 1;
        self.stats.ip_out += 1;
        end
    }

    /// Copies the next queued frame (control first, then released packets) into `buf`.
    fn pop_queued(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let (frame, is_ip) = match self.control.pop_front() {
                Some(f) => (f, false),
                None => (self.released.pop_front()?, true),
            };
            match buf.get_mut(..frame.len()) {
                Some(dst) => {
                    dst.copy_from_slice(&frame);
                    self.stats.frames_out += 1;
                    if is_ip {
                        self.stats.ip_out += 1;
                    }
                    return Some(frame.len());
                }
                None => self.stats.count_drop(LinkDropReason::BufferTooSmall, 1),
            }
        }
    }

    /// Chooses the next hop for a packet to `dst`.
    fn next_hop(&self, stack: &Stack, dst: IpAddr) -> NextHop {
        match dst {
            IpAddr::V4(a) if a.is_broadcast() || self.is_directed_broadcast(a) => {
                return NextHop::Mac(EthernetAddress::BROADCAST)
            }
            IpAddr::V4(a) if a.is_multicast() => return NextHop::Mac(ipv4_multicast_ethernet(a)),
            IpAddr::V6(a) if a.is_multicast() => return NextHop::Mac(multicast_ethernet(&a)),
            _ => {}
        }
        if stack.is_local(dst) {
            return NextHop::Local;
        }
        let on_link = is_link_local(dst)
            || self
                .config
                .prefixes
                .iter()
                .any(|&(net, len)| prefix_contains(net, len, dst));
        if on_link {
            return NextHop::Neighbor(dst);
        }
        let gateway = match dst {
            IpAddr::V4(_) => self.config.gateway_v4.map(IpAddr::V4),
            IpAddr::V6(_) => self.config.gateway_v6.map(IpAddr::V6),
        };
        NextHop::Neighbor(gateway.unwrap_or(dst))
    }

    /// Whether `a` is the broadcast address of one of the on-link IPv4 prefixes
    /// (RFC 919 §7, RFC 1122 §3.3.6 directed broadcast).
    fn is_directed_broadcast(&self, a: Ipv4Addr) -> bool {
        self.config.prefixes.iter().any(|&(net, len)| match net {
            IpAddr::V4(net) if len <= 30 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(a) == (u32::from(net) & mask) | !mask
            }
            _ => false,
        })
    }

    /// Parks `packet` for `hop`, starting a resolution (and queueing its first request) if
    /// none is in progress.
    fn park(&mut self, now: Instant, hop: IpAddr, src: IpAddr, packet: &[u8]) {
        let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + packet.len());
        frame.resize(ETHERNET_HEADER_LEN, 0);
        frame.extend_from_slice(packet);
        let limit = self.config.pending_limit;
        let hint = match self.neighbors.get_mut(&hop) {
            Some(Neighbor::Resolving(r)) => {
                self.stats.parked += 1;
                push_bounded(&mut r.pending, frame, limit, &mut self.stats);
                return;
            }
            // Expired: resolve again, asking the old address first.
            Some(Neighbor::Reachable { mac, .. }) => Some(*mac),
            None => {
                if !self.make_room(now) {
                    self.stats.count_drop(LinkDropReason::CacheFull, 1);
                    return;
                }
                None
            }
        };
        let mut pending = VecDeque::new();
        self.stats.parked += 1;
        push_bounded(&mut pending, frame, limit, &mut self.stats);
        let r = Resolution {
            hint,
            src,
            sent: 0,
            next_try: now,
            pending,
        };
        self.neighbors.insert(hop, Neighbor::Resolving(r));
        self.solicit(now, hop);
    }

    /// Sends the next request for a resolution in progress: an ARP request (RFC 826), or a
    /// Neighbor Solicitation (RFC 4861 §7.2.2) to the target's solicited-node multicast
    /// address. The first request of a re-resolution is unicast to the old address.
    fn solicit(&mut self, now: Instant, target: IpAddr) {
        let Some(Neighbor::Resolving(r)) = self.neighbors.get_mut(&target) else {
            return;
        };
        let unicast = if r.sent == 0 { r.hint } else { None };
        r.sent = r.sent.saturating_add(1);
        r.next_try = now + self.config.resolve_timeout;
        let src = r.src;
        let mac = self.config.hardware_addr;
        match target {
            IpAddr::V4(tpa) => {
                let spa = match src {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
                };
                let arp = ArpRepr {
                    operation: ArpOperation::Request,
                    source_hardware_addr: mac,
                    source_protocol_addr: spa,
                    target_hardware_addr: EthernetAddress([0; 6]),
                    target_protocol_addr: tpa,
                };
                if self.queue_arp(unicast.unwrap_or(EthernetAddress::BROADCAST), &arp) {
                    self.stats.arp_requests_out += 1;
                }
            }
            IpAddr::V6(target) => {
                let src = match src {
                    IpAddr::V6(a) => a,
                    IpAddr::V4(a) => a.to_ipv6_mapped(),
                };
                let (eth_dst, ip_dst) = match unicast {
                    Some(m) => (m, target),
                    None => {
                        let group = solicited_node_multicast(&target);
                        (multicast_ethernet(&group), group)
                    }
                };
                // §7.2.2: the Source Link-Layer Address option SHOULD be included.
                let ns = NdpRepr::NeighborSolicit {
                    target_addr: target,
                    lladdr: Some(mac),
                };
                if self.queue_ndp(eth_dst, src, ip_dst, ns) {
                    self.stats.neighbor_solicits_out += 1;
                }
            }
        }
    }

    /// Queues an ARP packet in an Ethernet frame to `eth_dst`.
    fn queue_arp(&mut self, eth_dst: EthernetAddress, arp: &ArpRepr) -> bool {
        let mut frame = vec![0u8; ETHERNET_HEADER_LEN + ArpRepr::LEN];
        EthernetRepr {
            src_addr: self.config.hardware_addr,
            dst_addr: eth_dst,
            ethertype: ethertype::ARP,
        }
        .emit(&mut frame);
        if let Some(body) = frame.get_mut(ETHERNET_HEADER_LEN..) {
            arp.emit(body);
        }
        self.queue_control(frame)
    }

    /// Queues an NDP message from `src` to `dst` (Hop Limit 255, checksum filled) in an
    /// Ethernet frame to `eth_dst`.
    fn queue_ndp(
        &mut self,
        eth_dst: EthernetAddress,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ndp: NdpRepr,
    ) -> bool {
        let icmp = Icmpv6Repr::Ndp(ndp);
        let body_len = icmp.buffer_len();
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: ip_protocol::ICMPV6,
            payload_len: body_len,
            hop_limit: NDP_HOP_LIMIT,
            ecn: 0,
            dscp: 0,
            flow_label: 0,
        };
        let ip_start = ETHERNET_HEADER_LEN;
        let body_start = ip_start + Ipv6Repr::HEADER_LEN;
        let mut frame = vec![0u8; body_start + body_len];
        EthernetRepr {
            src_addr: self.config.hardware_addr,
            dst_addr: eth_dst,
            ethertype: ethertype::IPV6,
        }
        .emit(&mut frame);
        if let Some(h) = frame.get_mut(ip_start..body_start) {
            ip.emit(h);
        }
        if let Some(b) = frame.get_mut(body_start..) {
            icmp.emit(b, &src, &dst);
        }
        self.queue_control(frame)
    }

    fn queue_control(&mut self, frame: Vec<u8>) -> bool {
        if self.control.len() >= self.config.control_limit {
            self.stats.count_drop(LinkDropReason::QueueFull, 1);
            return false;
        }
        self.control.push_back(frame);
        true
    }

    // ---- timers -----------------------------------------------------------------------------

    /// The earliest deadline of the stack and of the interface (the next resolution retry or
    /// give-up), if any.
    pub fn poll_timeout(&self, stack: &Stack) -> Option<Instant> {
        let ours = self
            .neighbors
            .values()
            .filter_map(|n| match n {
                Neighbor::Resolving(r) => Some(r.next_try),
                Neighbor::Reachable { .. } => None,
            })
            .min();
        match (stack.poll_timeout(), ours) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the stack's timers ([`Stack::handle_timeout`]) and the interface's: resolutions
    /// whose request went unanswered for [`LinkConfig::resolve_timeout`] send another one, or
    /// after [`LinkConfig::resolve_attempts`] give up, dropping their parked packets
    /// ([`LinkDropReason::Unresolved`]). Call [`Interface::poll_frame`] afterwards.
    pub fn handle_timeout(&mut self, now: Instant, stack: &mut Stack) {
        stack.handle_timeout(now);
        let attempts = self.config.resolve_attempts.max(1);
        let due: Vec<(IpAddr, bool)> = self
            .neighbors
            .iter()
            .filter_map(|(ip, n)| match n {
                Neighbor::Resolving(r) if r.next_try <= now => Some((*ip, r.sent >= attempts)),
                _ => None,
            })
            .collect();
        for (ip, give_up) in due {
            if give_up {
                // RFC 4861 §7.3.3: "If no Neighbor Advertisement is received after
                // MAX_MULTICAST_SOLICIT solicitations, address resolution has failed" and
                // the queued packets are discarded (RFC 1122 §2.3.2.1 likewise for ARP).
                if let Some(Neighbor::Resolving(r)) = self.neighbors.remove(&ip) {
                    self.stats.resolve_failures += 1;
                    self.stats
                        .count_drop(LinkDropReason::Unresolved, r.pending.len() as u64);
                }
            } else {
                self.solicit(now, ip);
            }
        }
    }
}

/// Appends `frame`, dropping the oldest parked packet when `limit` are already waiting
/// (RFC 1122 §2.3.2.2: keep at least the latest packet).
fn push_bounded(
    queue: &mut VecDeque<Vec<u8>>,
    frame: Vec<u8>,
    limit: usize,
    stats: &mut LinkStats,
) {
    if limit == 0 {
        stats.count_drop(LinkDropReason::PendingFull, 1);
        return;
    }
    while queue.len() >= limit {
        queue.pop_front();
        stats.count_drop(LinkDropReason::PendingFull, 1);
    }
    queue.push_back(frame);
}

/// Neighbor Solicitation, Advertisement, Router Solicitation, Advertisement and Redirect
/// (RFC 4861 §4).
fn is_ndp_type(t: u8) -> bool {
    (ndp::msg_type::ROUTER_SOLICIT..=ndp::msg_type::REDIRECT).contains(&t)
}

fn ip_ethertype(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => ethertype::IPV4,
        IpAddr::V6(_) => ethertype::IPV6,
    }
}

fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// Link-local destinations are on-link by definition: `fe80::/10` (RFC 4861 §5.2, RFC 4291
/// §2.5.6) and `169.254/16` (RFC 3927 §2.6.2).
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// Whether `addr` lies in `net/len` (same family; a length beyond the address is clamped).
fn prefix_contains(net: IpAddr, len: u8, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let len = u32::from(len.min(32));
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            (u32::from(n) ^ u32::from(a)) & mask == 0
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let len = u32::from(len.min(128));
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            (u128::from(n) ^ u128::from(a)) & mask == 0
        }
        _ => false,
    }
}

/// The Ethernet address of an IPv4 multicast group: `01:00:5e` and the low 23 bits of the
/// group (RFC 1112 §6.4).
fn ipv4_multicast_ethernet(group: Ipv4Addr) -> EthernetAddress {
    let o = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{IpRepr, TcpFlags, TcpRepr};
    use crate::{ConnId, ConnectOptions, ListenOptions, StackConfig};
    use core::net::SocketAddr;

    const MAC_A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
    const MAC_B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
    const MAC_C: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0c]);
    const MAC_GW: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn sock(addr: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip(addr), port)
    }

    /// A stack and its interface.
    struct Host {
        stack: Stack,
        iface: Interface,
    }

    impl Host {
        fn new(addrs: &[&str], mac: EthernetAddress, seed: u64) -> Host {
            Host::with_config(addrs, LinkConfig::new(mac), seed)
        }

        fn with_config(addrs: &[&str], config: LinkConfig, seed: u64) -> Host {
            let cfg = StackConfig::new(
                addrs.iter().map(|a| ip(a)).collect(),
                [seed as u8; 16],
                seed,
            );
            Host {
                stack: Stack::new(cfg).unwrap(),
                iface: Interface::new(config),
            }
        }

        /// Every frame `poll_frame` has now.
        fn drain(&mut self, now: Instant) -> Vec<Vec<u8>> {
            let mut buf = vec![0u8; self.iface.frame_buffer_len(&self.stack)];
            let mut out = Vec::new();
            while let Some(n) = self.iface.poll_frame(now, &mut self.stack, &mut buf) {
                out.push(buf[..n].to_vec());
                assert!(out.len() < 10_000, "poll_frame does not run dry");
            }
            out
        }

        fn input(&mut self, now: Instant, frame: &[u8]) -> LinkInput {
            self.iface.handle_frame(now, &mut self.stack, frame)
        }

        fn connect(&mut self, now: Instant, remote: SocketAddr) -> ConnId {
            self.stack
                .connect(now, remote, ConnectOptions::default())
                .unwrap()
        }
    }

    fn eth(frame: &[u8]) -> EthernetRepr {
        EthernetRepr::parse(frame).unwrap().0
    }

    fn arp_frame(eth_dst: EthernetAddress, arp: ArpRepr) -> Vec<u8> {
        let mut frame = vec![0u8; ETHERNET_HEADER_LEN + ArpRepr::LEN];
        EthernetRepr {
            src_addr: arp.source_hardware_addr,
            dst_addr: eth_dst,
            ethertype: ethertype::ARP,
        }
        .emit(&mut frame);
        arp.emit(&mut frame[ETHERNET_HEADER_LEN..]);
        frame
    }

    fn arp_request(sha: EthernetAddress, spa: &str, tpa: &str) -> Vec<u8> {
        arp_frame(
            EthernetAddress::BROADCAST,
            ArpRepr {
                operation: ArpOperation::Request,
                source_hardware_addr: sha,
                source_protocol_addr: v4(spa),
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: v4(tpa),
            },
        )
    }

    fn arp_reply(sha: EthernetAddress, spa: &str, tha: EthernetAddress, tpa: &str) -> Vec<u8> {
        arp_frame(
            tha,
            ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: sha,
                source_protocol_addr: v4(spa),
                target_hardware_addr: tha,
                target_protocol_addr: v4(tpa),
            },
        )
    }

    fn parse_arp(frame: &[u8]) -> ArpRepr {
        let (e, payload) = EthernetRepr::parse(frame).unwrap();
        assert_eq!(e.ethertype, ethertype::ARP);
        ArpRepr::parse(payload).unwrap()
    }

    fn ndp_frame(
        eth_src: EthernetAddress,
        eth_dst: EthernetAddress,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        ndp: NdpRepr,
    ) -> Vec<u8> {
        let icmp = Icmpv6Repr::Ndp(ndp);
        let len = icmp.buffer_len();
        let mut frame = vec![0u8; 54 + len];
        EthernetRepr {
            src_addr: eth_src,
            dst_addr: eth_dst,
            ethertype: ethertype::IPV6,
        }
        .emit(&mut frame);
        Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: ip_protocol::ICMPV6,
            payload_len: len,
            hop_limit,
            ecn: 0,
            dscp: 0,
            flow_label: 0,
        }
        .emit(&mut frame[14..54]);
        icmp.emit(&mut frame[54..], &src, &dst);
        frame
    }

    /// Parses an NDP frame, checking the ICMPv6 checksum and the Hop Limit.
    fn parse_ndp(frame: &[u8]) -> (EthernetRepr, Ipv6Repr, NdpRepr) {
        let (e, payload) = EthernetRepr::parse(frame).unwrap();
        assert_eq!(e.ethertype, ethertype::IPV6);
        let (ip, body) = Ipv6Repr::parse(payload).unwrap();
        assert_eq!(ip.next_header, ip_protocol::ICMPV6);
        assert_eq!(ip.hop_limit, 255);
        match Icmpv6Repr::parse(body, &ip.src_addr, &ip.dst_addr).unwrap() {
            Icmpv6Repr::Ndp(ndp) => (e, ip, ndp),
            other => panic!("not NDP: {other:?}"),
        }
    }

    /// Parses a TCP frame: Ethernet header, IP header, TCP flags and ports.
    fn parse_tcp(frame: &[u8]) -> (EthernetRepr, IpRepr, TcpFlags, u16) {
        let (e, payload) = EthernetRepr::parse(frame).unwrap();
        let (ip, body) = IpRepr::parse(payload).unwrap();
        assert_eq!(e.ethertype, ip_ethertype(ip.dst_addr));
        let tcp = TcpRepr::parse(body, &ip.src_addr, &ip.dst_addr, true).unwrap();
        (e, ip, tcp.flags, tcp.dst_port)
    }

    // ---- ARP ----------------------------------------------------------------------------------

    #[test]
    fn arp_request_for_us_is_answered() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["10.0.0.1", "fd00::1"], MAC_A, 1);
        let r = a.input(now, &arp_request(MAC_B, "10.0.0.2", "10.0.0.1"));
        assert_eq!(r, LinkInput::Arp);
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        let e = eth(&frames[0]);
        assert_eq!((e.src_addr, e.dst_addr), (MAC_A, MAC_B));
        assert_eq!(
            parse_arp(&frames[0]),
            ArpRepr {
                operation: ArpOperation::Reply,
                source_hardware_addr: MAC_A,
                source_protocol_addr: v4("10.0.0.1"),
                target_hardware_addr: MAC_B,
                target_protocol_addr: v4("10.0.0.2"),
            }
        );
        // RFC 826: the target adds the sender to its table.
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.2")), Some(MAC_B));
        assert_eq!(a.iface.stats().arp_requests_in, 1);
        assert_eq!(a.iface.stats().arp_replies_out, 1);
        assert_eq!(a.iface.stats().frames_out, 1);

        // A request for someone else is not answered and teaches nothing new.
        let r = a.input(now, &arp_request(MAC_C, "10.0.0.3", "10.0.0.9"));
        assert_eq!(r, LinkInput::Arp);
        assert!(a.drain(now).is_empty());
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.3")), None);

        // An ARP probe (sender 0.0.0.0, RFC 5227) is answered but not cached.
        a.input(now, &arp_request(MAC_C, "0.0.0.0", "10.0.0.1"));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        assert_eq!(parse_arp(&frames[0]).target_hardware_addr, MAC_C);
        assert_eq!(a.iface.neighbor(now, ip("0.0.0.0")), None);
    }

    #[test]
    fn gratuitous_arp_only_updates_existing_entries() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["10.0.0.1"], MAC_A, 1);
        // Gratuitous ARP (sender = target = 10.0.0.3) from an unknown host: not added.
        a.input(now, &arp_request(MAC_C, "10.0.0.3", "10.0.0.3"));
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.3")), None);
        assert!(a.drain(now).is_empty());
        // Learn 10.0.0.2 (it asks for us), then it announces a new MAC: merged.
        a.input(now, &arp_request(MAC_B, "10.0.0.2", "10.0.0.1"));
        a.drain(now);
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.2")), Some(MAC_B));
        a.input(now, &arp_request(MAC_C, "10.0.0.2", "10.0.0.2"));
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.2")), Some(MAC_C));
        // A reply for someone else also merges.
        a.input(
            now,
            &arp_reply(MAC_B, "10.0.0.2", EthernetAddress::BROADCAST, "10.0.0.7"),
        );
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.2")), Some(MAC_B));
        // Nobody may claim our own address in our cache.
        a.input(now, &arp_request(MAC_C, "10.0.0.1", "10.0.0.1"));
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.1")), None);
    }

    #[test]
    fn connect_resolves_with_arp_then_sends_syn() {
        let now = Instant::from_millis(5);
        let mut a = Host::new(&["10.0.0.1"], MAC_A, 1);
        a.connect(now, sock("10.0.0.2", 80));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1, "only the ARP request; the SYN is parked");
        let e = eth(&frames[0]);
        assert_eq!(
            (e.src_addr, e.dst_addr),
            (MAC_A, EthernetAddress::BROADCAST)
        );
        let req = parse_arp(&frames[0]);
        assert_eq!(req.operation, ArpOperation::Request);
        assert_eq!(req.source_hardware_addr, MAC_A);
        assert_eq!(req.source_protocol_addr, v4("10.0.0.1"));
        assert_eq!(req.target_protocol_addr, v4("10.0.0.2"));
        assert_eq!(a.iface.parked_len(), 1);
        assert_eq!(a.iface.stats().parked, 1);
        assert!(a.iface.poll_timeout(&a.stack).is_some());

        let r = a.input(now, &arp_reply(MAC_B, "10.0.0.2", MAC_A, "10.0.0.1"));
        assert_eq!(r, LinkInput::Arp);
        assert_eq!(a.iface.parked_len(), 0);
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        let (e, ip_hdr, flags, port) = parse_tcp(&frames[0]);
        assert_eq!((e.src_addr, e.dst_addr), (MAC_A, MAC_B));
        assert_eq!(ip_hdr.dst_addr, ip("10.0.0.2"));
        assert_eq!(flags, TcpFlags::SYN);
        assert_eq!(port, 80);
        assert_eq!(a.iface.stats().ip_out, 1);
        assert_eq!(a.iface.stats().dropped_total(), 0);

        // Once resolved, further packets go straight out.
        a.connect(now, sock("10.0.0.2", 81));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        assert_eq!(parse_tcp(&frames[0]).3, 81);
    }

    #[test]
    fn expired_entry_is_resolved_again_with_a_unicast_poll() {
        let t0 = Instant::ZERO;
        let mut a = Host::new(&["10.0.0.1"], MAC_A, 1);
        a.input(t0, &arp_request(MAC_B, "10.0.0.2", "10.0.0.1"));
        a.drain(t0);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(a.iface.neighbor(later, ip("10.0.0.2")), None);
        a.connect(later, sock("10.0.0.2", 80));
        let frames = a.drain(later);
        assert_eq!(frames.len(), 1);
        // RFC 1122 §2.3.2.1: the first request goes to the old address.
        assert_eq!(eth(&frames[0]).dst_addr, MAC_B);
        assert_eq!(parse_arp(&frames[0]).operation, ArpOperation::Request);
        // No answer: the retry is broadcast.
        let retry = a.iface.poll_timeout(&a.stack).unwrap();
        assert_eq!(retry, later + Duration::from_secs(1));
        a.iface.handle_timeout(retry, &mut a.stack);
        let frames = a.drain(retry);
        let arp: Vec<_> = frames
            .iter()
            .filter(|f| eth(f).ethertype == ethertype::ARP)
            .collect();
        assert_eq!(arp.len(), 1);
        assert_eq!(eth(arp[0]).dst_addr, EthernetAddress::BROADCAST);
    }

    #[test]
    fn resolution_timeout_drops_parked_packets() {
        let t0 = Instant::ZERO;
        let mut a = Host::new(&["10.0.0.1"], MAC_A, 1);
        a.connect(t0, sock("10.0.0.2", 80));
        let mut requests = a.drain(t0).len();
        let mut now = t0;
        for _ in 0..100 {
            if a.iface.stats().resolve_failures > 0 {
                break;
            }
            now = a.iface.poll_timeout(&a.stack).unwrap();
            a.iface.handle_timeout(now, &mut a.stack);
            if a.iface.stats().resolve_failures > 0 {
                break;
            }
            requests += a.drain(now).len();
        }
        let s = a.iface.stats();
        assert_eq!(s.resolve_failures, 1);
        assert_eq!(requests, 3, "three attempts");
        assert_eq!(s.arp_requests_out, 3);
        assert_eq!(
            now,
            t0 + Duration::from_secs(3),
            "given up one timeout after the last"
        );
        // The SYN and its retransmission (RTO 1 s) were parked, and are now dropped.
        assert_eq!(s.parked, 2);
        assert_eq!(s.dropped(LinkDropReason::Unresolved), 2);
        assert_eq!(a.iface.parked_len(), 0);
        assert_eq!(s.frames_out, 3);
        assert_eq!(s.ip_out, 0);
    }

    #[test]
    fn pending_limit_keeps_the_latest_packets() {
        let now = Instant::ZERO;
        let mut cfg = LinkConfig::new(MAC_A);
        cfg.pending_limit = 2;
        let mut a = Host::with_config(&["10.0.0.1"], cfg, 1);
        for port in 80..85 {
            a.connect(now, sock("10.0.0.2", port));
        }
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1, "one ARP request for five packets");
        assert_eq!(a.iface.stats().parked, 5);
        assert_eq!(a.iface.parked_len(), 2);
        assert_eq!(a.iface.stats().dropped(LinkDropReason::PendingFull), 3);
        a.input(now, &arp_reply(MAC_B, "10.0.0.2", MAC_A, "10.0.0.1"));
        let ports: Vec<u16> = a.drain(now).iter().map(|f| parse_tcp(f).3).collect();
        assert_eq!(ports, [83, 84], "RFC 1122 §2.3.2.2: the latest are kept");

        // pending_limit 0: nothing is parked, resolution still happens.
        let mut cfg = LinkConfig::new(MAC_A);
        cfg.pending_limit = 0;
        let mut a = Host::with_config(&["10.0.0.1"], cfg, 1);
        a.connect(now, sock("10.0.0.2", 80));
        assert_eq!(a.drain(now).len(), 1);
        assert_eq!(a.iface.stats().dropped(LinkDropReason::PendingFull), 1);
        a.input(now, &arp_reply(MAC_B, "10.0.0.2", MAC_A, "10.0.0.1"));
        assert!(a.drain(now).is_empty());
        assert_eq!(a.iface.neighbor(now, ip("10.0.0.2")), Some(MAC_B));
    }

    #[test]
    fn frames_for_another_mac_are_dropped() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["10.0.0.1", "fd00::1"], MAC_A, 1);
        let mut b = Host::new(&["10.0.0.2"], MAC_B, 2);
        // A SYN from b to a, framed for MAC_C.
        b.input(now, &arp_reply(MAC_C, "10.0.0.1", MAC_B, "10.0.0.2"));
        b.connect(now, sock("10.0.0.1", 80));
        let frames = b.drain(now);
        assert_eq!(frames.len(), 1);
        assert_eq!(eth(&frames[0]).dst_addr, MAC_C);
        let r = a.input(now, &frames[0]);
        assert_eq!(r, LinkInput::Dropped(LinkDropReason::NotForUs));
        assert_eq!(a.iface.stats().dropped(LinkDropReason::NotForUs), 1);
        assert_eq!(a.stack.stats().packets_in, 0);
        // The same frame to our MAC reaches the stack (no listener: RST).
        let mut f = frames[0].clone();
        f[..6].copy_from_slice(&MAC_A.0);
        assert!(matches!(a.input(now, &f), LinkInput::Ip(_)));
        assert_eq!(a.stack.stats().packets_in, 1);
        // A multicast group we are not in, a multicast source, a runt, an unknown EtherType.
        f[..6].copy_from_slice(&[0x33, 0x33, 0xff, 0, 0, 9]);
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::NotForUs)
        );
        f[..6].copy_from_slice(&MAC_A.0);
        f[6] = 0x01;
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::BadFrame)
        );
        assert_eq!(
            a.input(now, &f[..13]),
            LinkInput::Dropped(LinkDropReason::BadFrame)
        );
        f[6] = 0x02;
        f[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::UnknownEtherType)
        );
        let s = a.iface.stats();
        assert_eq!(s.frames_in, 6);
        assert_eq!(s.dropped(LinkDropReason::NotForUs), 2);
        assert_eq!(s.dropped(LinkDropReason::BadFrame), 2);
        assert_eq!(s.dropped(LinkDropReason::UnknownEtherType), 1);
        assert_eq!(s.dropped_total(), 5);
        assert_eq!(s.drops().map(|(_, n)| n).sum::<u64>(), 5);
    }

    // ---- NDP ----------------------------------------------------------------------------------

    #[test]
    fn connect_resolves_with_ndp_then_sends_syn() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["fd00::1"], MAC_A, 1);
        a.connect(now, sock("fd00::2", 80));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        let (e, ip6, ns) = parse_ndp(&frames[0]);
        let group = v6("ff02::1:ff00:2");
        assert_eq!(e.src_addr, MAC_A);
        assert_eq!(e.dst_addr, EthernetAddress([0x33, 0x33, 0xff, 0, 0, 2]));
        assert_eq!((ip6.src_addr, ip6.dst_addr), (v6("fd00::1"), group));
        assert_eq!(
            ns,
            NdpRepr::NeighborSolicit {
                target_addr: v6("fd00::2"),
                lladdr: Some(MAC_A)
            }
        );
        assert_eq!(a.iface.stats().neighbor_solicits_out, 1);

        let na = ndp_frame(
            MAC_B,
            MAC_A,
            v6("fd00::2"),
            v6("fd00::1"),
            255,
            NdpRepr::NeighborAdvert {
                flags: neighbor_flags::SOLICITED | neighbor_flags::OVERRIDE,
                target_addr: v6("fd00::2"),
                lladdr: Some(MAC_B),
            },
        );
        assert_eq!(a.input(now, &na), LinkInput::Ndp);
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        let (e, ip_hdr, flags, _) = parse_tcp(&frames[0]);
        assert_eq!((e.src_addr, e.dst_addr), (MAC_A, MAC_B));
        assert_eq!(ip_hdr.dst_addr, ip("fd00::2"));
        assert_eq!(flags, TcpFlags::SYN);
        assert_eq!(a.iface.stats().dropped_total(), 0);
    }

    #[test]
    fn neighbor_solicitation_for_us_is_answered() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["fd00::1", "10.0.0.1"], MAC_A, 1);
        let group = v6("ff02::1:ff00:1");
        let ns = NdpRepr::NeighborSolicit {
            target_addr: v6("fd00::1"),
            lladdr: Some(MAC_B),
        };
        let frame = ndp_frame(
            MAC_B,
            multicast_ethernet(&group),
            v6("fd00::2"),
            group,
            255,
            ns,
        );
        assert_eq!(a.input(now, &frame), LinkInput::Ndp);
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        let (e, ip6, na) = parse_ndp(&frames[0]);
        assert_eq!((e.src_addr, e.dst_addr), (MAC_A, MAC_B));
        assert_eq!((ip6.src_addr, ip6.dst_addr), (v6("fd00::1"), v6("fd00::2")));
        assert_eq!(
            na,
            NdpRepr::NeighborAdvert {
                flags: neighbor_flags::SOLICITED | neighbor_flags::OVERRIDE,
                target_addr: v6("fd00::1"),
                lladdr: Some(MAC_A),
            }
        );
        // §7.2.3: the solicitation taught us the sender's address.
        assert_eq!(a.iface.neighbor(now, ip("fd00::2")), Some(MAC_B));
        assert_eq!(a.iface.stats().neighbor_solicits_in, 1);
        assert_eq!(a.iface.stats().neighbor_adverts_out, 1);
        assert_eq!(a.stack.stats().packets_in, 0, "NDP never reaches the stack");

        // Forwarded (Hop Limit 64): invalid. Another target: not for us.
        let bad = ndp_frame(
            MAC_B,
            multicast_ethernet(&group),
            v6("fd00::2"),
            group,
            64,
            ns,
        );
        assert_eq!(
            a.input(now, &bad),
            LinkInput::Dropped(LinkDropReason::BadFrame)
        );
        let other = NdpRepr::NeighborSolicit {
            target_addr: v6("fd00::7"),
            lladdr: Some(MAC_B),
        };
        let g7 = solicited_node_multicast(&v6("fd00::7"));
        let f = ndp_frame(
            MAC_B,
            multicast_ethernet(&g7),
            v6("fd00::2"),
            g7,
            255,
            other,
        );
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::NotForUs)
        );
        // A corrupted checksum.
        let mut f = frame.clone();
        let last = f.len() - 1;
        f[last] ^= 1;
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::BadFrame)
        );
        assert!(a.drain(now).is_empty());

        // Duplicate Address Detection probe for our address: answered to all-nodes, S clear.
        let dad = NdpRepr::NeighborSolicit {
            target_addr: v6("fd00::1"),
            lladdr: None,
        };
        let f = ndp_frame(
            MAC_C,
            multicast_ethernet(&group),
            Ipv6Addr::UNSPECIFIED,
            group,
            255,
            dad,
        );
        assert_eq!(a.input(now, &f), LinkInput::Ndp);
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        let (e, ip6, na) = parse_ndp(&frames[0]);
        assert_eq!(e.dst_addr, EthernetAddress([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!(ip6.dst_addr, ALL_NODES);
        assert!(matches!(
            na,
            NdpRepr::NeighborAdvert {
                flags: neighbor_flags::OVERRIDE,
                ..
            }
        ));
        // A DAD probe must not carry a source link-layer address (§7.1.1).
        let f = ndp_frame(
            MAC_C,
            multicast_ethernet(&group),
            Ipv6Addr::UNSPECIFIED,
            group,
            255,
            ns,
        );
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::BadFrame)
        );

        // ICMPv6 echo to our address goes to the stack, which answers it.
        let body = Icmpv6Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: b"hi",
        };
        let (src, dst) = (v6("fd00::2"), v6("fd00::1"));
        let mut f = vec![0u8; 54 + body.buffer_len()];
        EthernetRepr {
            src_addr: MAC_B,
            dst_addr: MAC_A,
            ethertype: ethertype::IPV6,
        }
        .emit(&mut f);
        Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: ip_protocol::ICMPV6,
            payload_len: body.buffer_len(),
            hop_limit: 64,
            ecn: 0,
            dscp: 0,
            flow_label: 0,
        }
        .emit(&mut f[14..54]);
        body.emit(&mut f[54..], &src, &dst);
        assert_eq!(a.input(now, &f), LinkInput::Ip(Input::Accepted));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1, "the echo reply, to the cached MAC");
        assert_eq!(eth(&frames[0]).dst_addr, MAC_B);
    }

    #[test]
    fn neighbor_advertisement_override_rules() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["fd00::1"], MAC_A, 1);
        let advert = |flags: u8, mac: EthernetAddress| {
            ndp_frame(
                mac,
                MAC_A,
                v6("fd00::2"),
                v6("fd00::1"),
                255,
                NdpRepr::NeighborAdvert {
                    flags,
                    target_addr: v6("fd00::2"),
                    lladdr: Some(mac),
                },
            )
        };
        // No entry: an unsolicited advertisement creates none (§7.2.5).
        assert_eq!(
            a.input(now, &advert(neighbor_flags::OVERRIDE, MAC_B)),
            LinkInput::Ndp
        );
        assert_eq!(a.iface.neighbor(now, ip("fd00::2")), None);
        // Resolve, then advertisements without Override do not replace the address.
        a.connect(now, sock("fd00::2", 80));
        a.drain(now);
        a.input(
            now,
            &advert(neighbor_flags::SOLICITED | neighbor_flags::OVERRIDE, MAC_B),
        );
        assert_eq!(a.iface.neighbor(now, ip("fd00::2")), Some(MAC_B));
        a.input(now, &advert(neighbor_flags::SOLICITED, MAC_C));
        assert_eq!(a.iface.neighbor(now, ip("fd00::2")), Some(MAC_B));
        a.input(now, &advert(neighbor_flags::OVERRIDE, MAC_C));
        assert_eq!(a.iface.neighbor(now, ip("fd00::2")), Some(MAC_C));
        // Solicited flag on a multicast advertisement: invalid (§7.1.2).
        let f = ndp_frame(
            MAC_B,
            multicast_ethernet(&ALL_NODES),
            v6("fd00::2"),
            ALL_NODES,
            255,
            NdpRepr::NeighborAdvert {
                flags: neighbor_flags::SOLICITED | neighbor_flags::OVERRIDE,
                target_addr: v6("fd00::2"),
                lladdr: Some(MAC_B),
            },
        );
        assert_eq!(
            a.input(now, &f),
            LinkInput::Dropped(LinkDropReason::BadFrame)
        );
        assert_eq!(a.iface.neighbor(now, ip("fd00::2")), Some(MAC_C));
    }

    #[test]
    fn announce_queues_gratuitous_arp_and_unsolicited_na() {
        let mut a = Host::new(&["10.0.0.1", "fd00::1"], MAC_A, 1);
        a.iface.announce(&a.stack);
        let frames = a.drain(Instant::ZERO);
        assert_eq!(frames.len(), 2);
        let arp = parse_arp(&frames[0]);
        assert_eq!(arp.source_protocol_addr, arp.target_protocol_addr);
        let (e, _, na) = parse_ndp(&frames[1]);
        assert_eq!(e.dst_addr, multicast_ethernet(&ALL_NODES));
        assert!(matches!(
            na,
            NdpRepr::NeighborAdvert {
                flags: neighbor_flags::OVERRIDE,
                ..
            }
        ));
        // The peer's interface learns nothing new from them (it had no entries)...
        let mut b = Host::new(&["10.0.0.2", "fd00::2"], MAC_B, 2);
        for f in &frames {
            b.input(Instant::ZERO, f);
        }
        assert_eq!(b.iface.neighbor(Instant::ZERO, ip("10.0.0.1")), None);
        assert_eq!(b.iface.neighbor(Instant::ZERO, ip("fd00::1")), None);
    }

    // ---- routing ------------------------------------------------------------------------------

    #[test]
    fn off_link_destinations_go_to_the_gateway() {
        let now = Instant::ZERO;
        let mut cfg = LinkConfig::new(MAC_A);
        cfg.prefixes = vec![(ip("10.0.0.0"), 24), (ip("fd00::"), 64)];
        cfg.gateway_v4 = Some(v4("10.0.0.254"));
        cfg.gateway_v6 = Some(v6("fe80::1"));
        let mut a = Host::with_config(&["10.0.0.1", "fd00::1"], cfg, 1);

        a.connect(now, sock("192.0.2.7", 80));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        assert_eq!(parse_arp(&frames[0]).target_protocol_addr, v4("10.0.0.254"));
        a.input(now, &arp_reply(MAC_GW, "10.0.0.254", MAC_A, "10.0.0.1"));
        let frames = a.drain(now);
        let (e, ip_hdr, _, _) = parse_tcp(&frames[0]);
        assert_eq!(e.dst_addr, MAC_GW);
        assert_eq!(ip_hdr.dst_addr, ip("192.0.2.7"));
        // Another off-link destination reuses the gateway's entry.
        a.connect(now, sock("198.51.100.1", 80));
        let frames = a.drain(now);
        assert_eq!(frames.len(), 1);
        assert_eq!(eth(&frames[0]).dst_addr, MAC_GW);
        // An on-link destination is resolved itself.
        a.connect(now, sock("10.0.0.5", 80));
        let frames = a.drain(now);
        assert_eq!(parse_arp(&frames[0]).target_protocol_addr, v4("10.0.0.5"));

        // IPv6: off-link goes to the router, resolved by NDP from our address.
        a.connect(now, sock("2001:db8::7", 80));
        let frames = a.drain(now);
        let (e, ip6, ns) = parse_ndp(&frames[0]);
        assert_eq!(e.dst_addr, EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1]));
        assert_eq!(ip6.dst_addr, v6("ff02::1:ff00:1"));
        assert!(
            matches!(ns, NdpRepr::NeighborSolicit { target_addr, .. } if target_addr == v6("fe80::1"))
        );
        a.input(
            now,
            &ndp_frame(
                MAC_GW,
                MAC_A,
                v6("fe80::1"),
                v6("fd00::1"),
                255,
                NdpRepr::NeighborAdvert {
                    flags: neighbor_flags::SOLICITED | neighbor_flags::ROUTER,
                    target_addr: v6("fe80::1"),
                    lladdr: Some(MAC_GW),
                },
            ),
        );
        let frames = a.drain(now);
        let (e, ip_hdr, _, _) = parse_tcp(&frames[0]);
        assert_eq!(e.dst_addr, MAC_GW);
        assert_eq!(ip_hdr.dst_addr, ip("2001:db8::7"));
    }

    #[test]
    fn next_hop_for_broadcast_multicast_and_local() {
        let mut cfg = LinkConfig::new(MAC_A);
        cfg.prefixes = vec![(ip("10.0.0.0"), 24)];
        cfg.gateway_v4 = Some(v4("10.0.0.254"));
        let a = Host::with_config(&["10.0.0.1"], cfg, 1);
        let hop = |s: &str| a.iface.next_hop(&a.stack, ip(s));
        assert!(matches!(hop("255.255.255.255"), NextHop::Mac(m) if m.is_broadcast()));
        assert!(matches!(hop("10.0.0.255"), NextHop::Mac(m) if m.is_broadcast()));
        assert!(
            matches!(hop("224.0.0.251"), NextHop::Mac(m) if m == EthernetAddress([1, 0, 0x5e, 0, 0, 0xfb]))
        );
        assert!(
            matches!(hop("ff02::1:ff00:2"), NextHop::Mac(m) if m == EthernetAddress([0x33, 0x33, 0xff, 0, 0, 2]))
        );
        assert!(matches!(hop("10.0.0.1"), NextHop::Local));
        assert!(matches!(hop("10.0.0.9"), NextHop::Neighbor(h) if h == ip("10.0.0.9")));
        assert!(matches!(hop("8.8.8.8"), NextHop::Neighbor(h) if h == ip("10.0.0.254")));
        assert!(matches!(hop("169.254.1.1"), NextHop::Neighbor(h) if h == ip("169.254.1.1")));
        // No IPv6 gateway: IPv6 is on-link.
        assert!(matches!(hop("2001:db8::1"), NextHop::Neighbor(h) if h == ip("2001:db8::1")));

        assert_eq!(
            ipv4_multicast_ethernet(v4("239.255.255.250")),
            EthernetAddress([1, 0, 0x5e, 0x7f, 0xff, 0xfa])
        );
        assert!(prefix_contains(ip("10.0.0.0"), 8, ip("10.200.0.1")));
        assert!(!prefix_contains(ip("10.0.0.0"), 8, ip("11.0.0.1")));
        assert!(prefix_contains(ip("0.0.0.0"), 0, ip("11.0.0.1")));
        assert!(prefix_contains(ip("10.0.0.1"), 99, ip("10.0.0.1")));
        assert!(prefix_contains(ip("fd00::"), 8, ip("fdff::1")));
        assert!(!prefix_contains(ip("fd00::"), 64, ip("fd00:0:0:1::1")));
        assert!(!prefix_contains(ip("fd00::"), 0, ip("10.0.0.1")));
        assert!(is_link_local(ip("fe80::1")) && !is_link_local(ip("fec0::1")));
    }

    #[test]
    fn packets_to_ourselves_are_looped_back() {
        let now = Instant::ZERO;
        let mut a = Host::new(&["10.0.0.1"], MAC_A, 1);
        a.stack
            .listen(sock("10.0.0.1", 80), ListenOptions::default())
            .unwrap();
        let c = a.connect(now, sock("10.0.0.1", 80));
        assert!(a.drain(now).is_empty());
        assert!(a.iface.stats().looped_back >= 3, "SYN, SYN-ACK, ACK");
        assert_eq!(a.stack.info(c).unwrap().state, crate::TcpState::Established);
    }

    // ---- two hosts back to back ---------------------------------------------------------------

    /// Passes frames between the two hosts until both are quiet; returns how many moved.
    fn exchange(a: &mut Host, b: &mut Host, now: Instant) -> usize {
        let mut buf = vec![0u8; 2048];
        let mut moved = 0;
        loop {
            let mut step = 0;
            while let Some(n) = a.iface.poll_frame(now, &mut a.stack, &mut buf) {
                b.iface.handle_frame(now, &mut b.stack, &buf[..n]);
                step += 1;
            }
            while let Some(n) = b.iface.poll_frame(now, &mut b.stack, &mut buf) {
                a.iface.handle_frame(now, &mut a.stack, &buf[..n]);
                step += 1;
            }
            if step == 0 {
                return moved;
            }
            moved += step;
            assert!(moved < 1_000_000, "runaway exchange");
        }
    }

    fn pattern(len: usize, salt: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 8) as u8)
            .collect()
    }

    fn back_to_back(a_addr: &str, b_addr: &str) {
        let mut a = Host::new(&[a_addr], MAC_A, 1);
        let mut b = Host::new(&[b_addr], MAC_B, 2);
        let l = b
            .stack
            .listen(sock(b_addr, 80), ListenOptions::default())
            .unwrap();
        let mut now = Instant::from_millis(1);
        let ca = a.connect(now, sock(b_addr, 80));
        let mut cb = None;
        let up = pattern(300_000, 7);
        let down = pattern(70_000, 99);
        let (mut sent_up, mut sent_down) = (0, 0);
        let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
        let mut buf = vec![0u8; 65536];
        for _ in 0..200_000 {
            let moved = exchange(&mut a, &mut b, now);
            while a.stack.poll_event().is_some() {}
            while b.stack.poll_event().is_some() {}
            let mut progress = false;
            if cb.is_none() {
                cb = b.stack.accept(l);
            }
            if sent_up < up.len() {
                if let Ok(n) = a.stack.send(ca, &up[sent_up..]) {
                    sent_up += n;
                    progress |= n > 0;
                }
            }
            if let Ok(n) = a.stack.recv(ca, &mut buf) {
                got_down.extend_from_slice(&buf[..n]);
                progress |= n > 0;
            }
            if let Some(cb) = cb {
                if sent_down < down.len() {
                    if let Ok(n) = b.stack.send(cb, &down[sent_down..]) {
                        sent_down += n;
                        progress |= n > 0;
                    }
                }
                if let Ok(n) = b.stack.recv(cb, &mut buf) {
                    got_up.extend_from_slice(&buf[..n]);
                    progress |= n > 0;
                }
            }
            if got_up.len() == up.len() && got_down.len() == down.len() {
                break;
            }
            if moved == 0 && !progress {
                let next = [
                    a.iface.poll_timeout(&a.stack),
                    b.iface.poll_timeout(&b.stack),
                ]
                .into_iter()
                .flatten()
                .min()
                .expect("stalled with no timer");
                now = now.max(next);
                a.iface.handle_timeout(now, &mut a.stack);
                b.iface.handle_timeout(now, &mut b.stack);
            }
        }
        assert!(
            got_up == up,
            "upload intact ({} of {} bytes)",
            got_up.len(),
            up.len()
        );
        assert!(
            got_down == down,
            "download intact ({} of {} bytes)",
            got_down.len(),
            down.len()
        );
        assert!(
            now < Instant::from_secs(5),
            "no timeouts needed (now {now})"
        );
        for h in [&a, &b] {
            let s = h.iface.stats();
            assert_eq!(s.dropped_total(), 0, "{s:?}");
            assert!(s.ip_out > 50 && s.ip_in > 50);
            assert_eq!(s.resolve_failures, 0);
        }
        // A resolved B; B learned A from A's request and needed no request of its own.
        let sa = a.iface.stats();
        let sb = b.iface.stats();
        assert_eq!(sa.arp_requests_out + sa.neighbor_solicits_out, 1);
        assert_eq!(sb.arp_requests_out + sb.neighbor_solicits_out, 0);
        assert_eq!(sb.arp_replies_out + sb.neighbor_adverts_out, 1);
        assert_eq!(a.iface.neighbor(now, ip(b_addr)), Some(MAC_B));
        assert_eq!(b.iface.neighbor(now, ip(a_addr)), Some(MAC_A));
    }

    #[test]
    fn back_to_back_ipv4() {
        back_to_back("10.0.0.1", "10.0.0.2");
    }

    #[test]
    fn back_to_back_ipv6() {
        back_to_back("fd00::1", "fd00::2");
    }

    #[test]
    fn back_to_back_ipv6_link_local() {
        back_to_back("fe80::a", "fe80::b");
    }

    // ---- robustness ---------------------------------------------------------------------------

    /// Valid frames of every kind this module parses, to mutate.
    #[cfg(any(feature = "sim", feature = "std"))]
    fn seeds() -> Vec<Vec<u8>> {
        let group = v6("ff02::1:ff00:1");
        let mut b = Host::new(&["10.0.0.2", "fd00::2"], MAC_B, 2);
        b.input(
            Instant::ZERO,
            &arp_reply(MAC_A, "10.0.0.1", MAC_B, "10.0.0.2"),
        );
        b.connect(Instant::ZERO, sock("10.0.0.1", 80));
        let syn = b.drain(Instant::ZERO).pop().unwrap();
        vec![
            arp_request(MAC_B, "10.0.0.2", "10.0.0.1"),
            arp_reply(MAC_B, "10.0.0.2", MAC_A, "10.0.0.1"),
            ndp_frame(
                MAC_B,
                multicast_ethernet(&group),
                v6("fd00::2"),
                group,
                255,
                NdpRepr::NeighborSolicit {
                    target_addr: v6("fd00::1"),
                    lladdr: Some(MAC_B),
                },
            ),
            ndp_frame(
                MAC_B,
                MAC_A,
                v6("fd00::2"),
                v6("fd00::1"),
                255,
                NdpRepr::NeighborAdvert {
                    flags: neighbor_flags::SOLICITED,
                    target_addr: v6("fd00::2"),
                    lladdr: Some(MAC_B),
                },
            ),
            syn,
        ]
    }

    #[cfg(any(feature = "sim", feature = "std"))]
    fn garbage_host() -> Host {
        let mut cfg = LinkConfig::new(MAC_A);
        cfg.cache_limit = 4;
        cfg.control_limit = 4;
        Host::with_config(&["10.0.0.1", "fd00::1"], cfg, 1)
    }

    #[cfg(feature = "sim")]
    #[test]
    fn random_and_mutated_frames_never_panic() {
        use crate::sim::Rng;
        let mut rng = Rng::new(0x11_4e);
        let seeds = seeds();
        let mut h = garbage_host();
        h.connect(Instant::ZERO, sock("10.0.0.7", 80));
        h.connect(Instant::ZERO, sock("fd00::7", 80));
        let mut now = Instant::ZERO;
        for i in 0..20_000u64 {
            let frame = if i % 3 == 0 {
                let mut f = vec![0u8; rng.gen_range(120) as usize];
                rng.fill_bytes(&mut f);
                f
            } else {
                let mut f = seeds[rng.gen_range(seeds.len() as u64) as usize].clone();
                for _ in 0..=rng.gen_range(4) {
                    let at = rng.gen_range(f.len() as u64) as usize;
                    f[at] = rng.next_u32() as u8;
                }
                f.truncate(rng.gen_range(f.len() as u64 + 8) as usize);
                f
            };
            h.input(now, &frame);
            h.drain(now);
            if i % 500 == 0 {
                now = now + Duration::from_millis(700);
                h.iface.handle_timeout(now, &mut h.stack);
                h.drain(now);
            }
        }
        assert_eq!(h.iface.stats().frames_in, 20_000);
        assert!(h.iface.neighbors.len() <= 4);
    }

    #[cfg(feature = "std")]
    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
                let mut h = garbage_host();
                let _ = h.input(Instant::ZERO, &frame);
                let _ = h.drain(Instant::ZERO);
            }

            #[test]
            fn mutated_frames_never_panic(
                which in 0usize..5,
                edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
                cut in any::<u16>(),
            ) {
                let mut f = seeds()[which].clone();
                for (at, v) in edits {
                    let at = usize::from(at) % f.len();
                    f[at] = v;
                }
                f.truncate(usize::from(cut) % (f.len() + 1));
                let mut h = garbage_host();
                let _ = h.input(Instant::ZERO, &f);
                let _ = h.drain(Instant::ZERO);
            }
        }
    }
}
