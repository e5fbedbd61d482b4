//! Link configuration and per-direction statistics.

use core::time::Duration;

/// Identifies a duplex link of a [`Sim`](super::Sim), in the order links were connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

/// The Gilbert-Elliott two-state burst loss model.
///
/// The link is either *good* or *bad*. Before each packet's loss decision the state may
/// flip: good to bad with probability `p_good_to_bad`, bad to good with probability
/// `p_bad_to_good`. In the bad state a packet is lost with probability `loss_in_bad`. (The
/// link's uniform [`LinkConfig::loss`] applies in both states, on top.)
///
/// The long-run fraction of time spent bad is `p_good_to_bad / (p_good_to_bad +
/// p_bad_to_good)`, and a bad period lasts `1 / p_bad_to_good` packets on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstLoss {
    /// Per-packet probability of moving from the good to the bad state.
    pub p_good_to_bad: f64,
    /// Per-packet probability of moving from the bad to the good state.
    pub p_bad_to_good: f64,
    /// Probability that a packet is lost while the link is in the bad state.
    pub loss_in_bad: f64,
}

impl BurstLoss {
    /// A burst loss model with these three probabilities.
    pub const fn new(p_good_to_bad: f64, p_bad_to_good: f64, loss_in_bad: f64) -> BurstLoss {
        BurstLoss {
            p_good_to_bad,
            p_bad_to_good,
            loss_in_bad,
        }
    }
}

/// The behaviour of one direction of a link.
///
/// Probabilities outside `[0, 1]` are clamped (NaN counts as 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Serialization rate in bits per second; `0` means unlimited (no serialization delay).
    pub bandwidth_bps: u64,
    /// One-way propagation delay, added after serialization.
    pub delay: Duration,
    /// Drop-tail limit, in bytes, of the sender's interface queue: the bytes of packets whose
    /// serialization has not finished yet (the one on the wire included). A packet that would
    /// push the queue past this is dropped. `0` means unlimited. Only meaningful with a
    /// bandwidth limit: with unlimited bandwidth nothing ever queues.
    pub queue_bytes: usize,
    /// Probability that a packet is lost (uniform and independent per packet).
    pub loss: f64,
    /// Optional burst (Gilbert-Elliott) loss, applied in addition to `loss`.
    pub burst_loss: Option<BurstLoss>,
    /// Probability that a packet is held back by an extra `reorder_delay`, so that packets
    /// sent after it can overtake it.
    pub reorder: f64,
    /// The extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a delivered packet is flipped.
    pub corrupt: f64,
    /// Largest packet, in bytes, the link carries; larger ones are dropped and counted.
    /// `0` means unlimited.
    pub mtu: usize,
}

impl LinkConfig {
    /// A perfect link: unlimited bandwidth, no delay, MTU 1500, no impairment.
    pub const fn ideal() -> LinkConfig {
        LinkConfig {
            bandwidth_bps: 0,
            delay: Duration::ZERO,
            queue_bytes: 0,
            loss: 0.0,
            burst_loss: None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
            corrupt: 0.0,
            mtu: 1500,
        }
    }

    /// This configuration with a one-way propagation delay of `delay`.
    #[must_use]
    pub const fn with_delay(mut self, delay: Duration) -> LinkConfig {
        self.delay = delay;
        self
    }

    /// This configuration with a bandwidth of `bps` bits per second (`0`: unlimited).
    #[must_use]
    pub const fn with_bandwidth(mut self, bps: u64) -> LinkConfig {
        self.bandwidth_bps = bps;
        self
    }

    /// This configuration with a drop-tail queue of `bytes` (`0`: unlimited).
    #[must_use]
    pub const fn with_queue(mut self, bytes: usize) -> LinkConfig {
        self.queue_bytes = bytes;
        self
    }

    /// This configuration with uniform loss probability `p`.
    #[must_use]
    pub const fn with_loss(mut self, p: f64) -> LinkConfig {
        self.loss = p;
        self
    }

    /// This configuration with Gilbert-Elliott burst loss.
    #[must_use]
    pub const fn with_burst_loss(mut self, burst: BurstLoss) -> LinkConfig {
        self.burst_loss = Some(burst);
        self
    }

    /// This configuration where a packet is held back by `delay` with probability `p`.
    #[must_use]
    pub const fn with_reorder(mut self, p: f64, delay: Duration) -> LinkConfig {
        self.reorder = p;
        self.reorder_delay = delay;
        self
    }

    /// This configuration with duplication probability `p`.
    #[must_use]
    pub const fn with_duplicate(mut self, p: f64) -> LinkConfig {
        self.duplicate = p;
        self
    }

    /// This configuration with single-bit corruption probability `p`.
    #[must_use]
    pub const fn with_corrupt(mut self, p: f64) -> LinkConfig {
        self.corrupt = p;
        self
    }

    /// This configuration with an MTU of `mtu` bytes (`0`: unlimited).
    #[must_use]
    pub const fn with_mtu(mut self, mtu: usize) -> LinkConfig {
        self.mtu = mtu;
        self
    }
}

impl Default for LinkConfig {
    /// [`LinkConfig::ideal`].
    fn default() -> LinkConfig {
        LinkConfig::ideal()
    }
}

/// Counters of one direction of a link.
///
/// Every packet offered is counted in `sent`; each then ends up in exactly one of
/// `delivered`, `dropped_mtu`, `dropped_queue`, `dropped_loss` or is still in flight, and
/// each duplicate adds one to both `duplicated` and (once it arrives) `delivered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets the sender put onto this direction.
    pub sent: u64,
    /// Packets handed to the receiver (duplicates included).
    pub delivered: u64,
    /// Packets lost to random (uniform or burst) loss.
    pub dropped_loss: u64,
    /// Packets dropped because the sender's queue was full.
    pub dropped_queue: u64,
    /// Packets dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Extra copies created by duplication.
    pub duplicated: u64,
    /// Packets given the extra reordering delay.
    pub reordered: u64,
    /// Copies with a flipped bit (a duplicate counts separately from its original).
    pub corrupted: u64,
    /// Bytes handed to the receiver.
    pub bytes_delivered: u64,
}

/// What happened to a packet reported to a capture observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureKind {
    /// The sender put the packet onto the link (reported with the sent bytes, at send time).
    Sent,
    /// The link handed the packet to the receiver (with the bytes as delivered, possibly
    /// corrupted, at arrival time).
    Delivered,
    /// The link dropped the packet (MTU, full queue or loss; at the time of the decision).
    Dropped,
}
