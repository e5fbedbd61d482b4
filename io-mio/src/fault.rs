//! Seeded fault injection on the frames between the device and the stack, in both
//! directions: loss, bit corruption, duplication, and reordering by holding frames back in a
//! timer queue while later ones pass.
//!
//! Linux's `netem` qdisc does this in the kernel; where it is missing, the driver does it in
//! user space. Decisions come from [`sanstcp::sim::Rng`] seeded with
//! [`FaultConfig::seed`] (one independent stream per direction), so the same seed makes
//! the same decisions for the same sequence of frames; which frames arrive when still depends
//! on the real network.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use sanstcp::sim::Rng;
use sanstcp::Instant;

/// Bytes of Ethernet header that corruption leaves alone when the frame is longer, so that
/// the flipped bit lands where a checksum can catch it (IP, TCP, ARP, NDP).
const ETHERNET_HEADER_LEN: usize = 14;

/// What to do to frames. Probabilities are fractions in `[0, 1]`; all zero (the default)
/// passes every frame untouched.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultConfig {
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Probability that a frame is held back for [`FaultConfig::delay`] while the frames
    /// after it pass (reordering). Each copy of a duplicated frame decides on its own.
    pub reorder: f64,
    /// How long a held-back frame waits.
    pub delay: Duration,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a frame is flipped (beyond the Ethernet header
    /// when the frame is longer than one).
    pub corrupt: f64,
    /// Seed of the decisions.
    pub seed: u64,
}

impl FaultConfig {
    /// Whether any fault is configured.
    pub fn is_active(&self) -> bool {
        self.loss > 0.0 || self.reorder > 0.0 || self.duplicate > 0.0 || self.corrupt > 0.0
    }
}

/// Which way a frame travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the device to the stack.
    Inbound,
    /// From the stack to the device.
    Outbound,
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultStats {
    /// Frames offered.
    pub frames: u64,
    /// Frames lost.
    pub lost: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies held back.
    pub delayed: u64,
}

/// A frame in the timer queue.
#[derive(Debug)]
struct Held {
    due: Instant,
    /// Arrival order, to release frames due at the same instant first in, first out.
    order: u64,
    direction: Direction,
    frame: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    /// Reversed, so that [`BinaryHeap`] (a max-heap) pops the earliest first.
    fn cmp(&self, other: &Held) -> Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

/// The fault injector: decides the fate of each frame and holds delayed ones until due.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    inbound: Rng,
    outbound: Rng,
    held: BinaryHeap<Held>,
    order: u64,
    stats_in: FaultStats,
    stats_out: FaultStats,
}

impl Faults {
    /// An injector with `config`.
    pub fn new(config: FaultConfig) -> Faults {
        let mut root = Rng::new(config.seed);
        let inbound = root.fork();
        let outbound = root.fork();
        Faults {
            config,
            inbound,
            outbound,
            held: BinaryHeap::new(),
            order: 0,
            stats_in: FaultStats::default(),
            stats_out: FaultStats::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Counters of one direction.
    pub fn stats(&self, direction: Direction) -> &FaultStats {
        match direction {
            Direction::Inbound => &self.stats_in,
            Direction::Outbound => &self.stats_out,
        }
    }

    /// Decides the fate of `frame`, arriving at `now`: returns how many copies of it (0, 1
    /// or 2) to deliver right away. The frame may have been corrupted in place; copies held
    /// back are kept here until [`Faults::pop_due`] returns them.
    pub fn apply(&mut self, direction: Direction, now: Instant, frame: &mut [u8]) -> usize {
        let cfg = self.config;
        let (rng, stats) = match direction {
            Direction::Inbound => (&mut self.inbound, &mut self.stats_in),
            Direction::Outbound => (&mut self.outbound, &mut self.stats_out),
        };
        stats.frames += 1;
        if rng.gen_bool(cfg.loss) {
            stats.lost += 1;
            return 0;
        }
        if rng.gen_bool(cfg.corrupt) && !frame.is_empty() {
            let start = if frame.len() > ETHERNET_HEADER_LEN {
                ETHERNET_HEADER_LEN
            } else {
                0
            };
            let span = (frame.len() - start) as u64;
            let at = start + rng.gen_range(span) as usize;
            frame[at] ^= 1 << rng.gen_range(8);
            stats.corrupted += 1;
        }
        let copies = if rng.gen_bool(cfg.duplicate) {
            stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut now_copies = 0;
        for _ in 0..copies {
            if rng.gen_bool(cfg.reorder) {
                stats.delayed += 1;
                self.order += 1;
                self.held.push(Held {
                    due: now + cfg.delay,
                    order: self.order,
                    direction,
                    frame: frame.to_vec(),
                });
            } else {
                now_copies += 1;
            }
        }
        now_copies
    }

    /// When the next held frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|h| h.due)
    }

    /// Held frames waiting.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Takes the next held frame due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Direction, Vec<u8>)> {
        if self.held.peek()?.due > now {
            return None;
        }
        self.held.pop().map(|h| (h.direction, h.frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: FaultConfig, n: usize) -> (Vec<(u64, usize)>, Faults) {
        let mut f = Faults::new(config);
        let mut log = Vec::new();
        for i in 0..n {
            let mut frame = vec![0u8; 100];
            frame[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let now = Instant::from_millis(i as u64);
            let k = f.apply(Direction::Outbound, now, &mut frame);
            let sum: u64 = frame.iter().map(|&b| u64::from(b)).sum();
            log.push((sum, k));
        }
        (log, f)
    }

    #[test]
    fn no_faults_pass_everything_untouched() {
        let (log, f) = run(FaultConfig::default(), 1000);
        assert!(log.iter().all(|&(_, k)| k == 1));
        assert_eq!(f.held_len(), 0);
        assert!(!FaultConfig::default().is_active());
    }

    #[test]
    fn rates_are_close_to_the_configured_ones_and_seeded() {
        let cfg = FaultConfig {
            loss: 0.02,
            reorder: 0.25,
            delay: Duration::from_millis(10),
            duplicate: 0.01,
            corrupt: 0.001,
            seed: 42,
        };
        let n = 100_000;
        let (a, fa) = run(cfg, n);
        let (b, _) = run(cfg, n);
        assert_eq!(a, b, "the same seed makes the same decisions");
        let (c, _) = run(FaultConfig { seed: 43, ..cfg }, n);
        assert_ne!(a, c);
        let s = fa.stats(Direction::Outbound);
        let near = |count: u64, p: f64, base: usize| {
            let expect = p * base as f64;
            (count as f64 - expect).abs() < 5.0 * expect.sqrt() + 5.0
        };
        assert_eq!(s.frames, n as u64);
        assert!(near(s.lost, 0.02, n), "{s:?}");
        let kept = n - s.lost as usize;
        assert!(near(s.duplicated, 0.01, kept), "{s:?}");
        assert!(near(s.corrupted, 0.001, kept), "{s:?}");
        assert!(near(s.delayed, 0.25, kept + s.duplicated as usize), "{s:?}");
        assert_eq!(fa.held_len() as u64, s.delayed);
        assert_eq!(*fa.stats(Direction::Inbound), FaultStats::default());
    }

    #[test]
    fn corruption_flips_exactly_one_bit_past_the_ethernet_header() {
        let cfg = FaultConfig {
            corrupt: 1.0,
            seed: 7,
            ..FaultConfig::default()
        };
        let mut f = Faults::new(cfg);
        for _ in 0..1000 {
            let mut frame = vec![0u8; 60];
            assert_eq!(f.apply(Direction::Inbound, Instant::ZERO, &mut frame), 1);
            let ones: u32 = frame.iter().map(|b| b.count_ones()).sum();
            assert_eq!(ones, 1);
            assert!(frame[..ETHERNET_HEADER_LEN].iter().all(|&b| b == 0));
        }
        let mut tiny = [0u8; 3];
        f.apply(Direction::Inbound, Instant::ZERO, &mut tiny);
        assert_eq!(tiny.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
    }

    #[test]
    fn held_frames_come_back_in_due_order() {
        let cfg = FaultConfig {
            reorder: 1.0,
            delay: Duration::from_millis(10),
            seed: 1,
            ..FaultConfig::default()
        };
        let mut f = Faults::new(cfg);
        for i in 0..5u8 {
            let now = Instant::from_millis(u64::from(i / 2));
            let dir = if i % 2 == 0 {
                Direction::Inbound
            } else {
                Direction::Outbound
            };
            assert_eq!(f.apply(dir, now, &mut [i]), 0);
        }
        assert_eq!(f.next_due(), Some(Instant::from_millis(10)));
        assert!(f.pop_due(Instant::from_millis(9)).is_none());
        let got: Vec<(Direction, Vec<u8>)> =
            std::iter::from_fn(|| f.pop_due(Instant::from_millis(11))).collect();
        assert_eq!(
            got,
            vec![
                (Direction::Inbound, vec![0]),
                (Direction::Outbound, vec![1]),
                (Direction::Inbound, vec![2]),
                (Direction::Outbound, vec![3]),
            ]
        );
        assert_eq!(f.next_due(), Some(Instant::from_millis(12)));
        assert!(f.pop_due(Instant::from_millis(12)).is_some());
        assert_eq!(f.next_due(), None);
    }
}
