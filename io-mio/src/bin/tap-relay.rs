//! `tap-relay`: an impaired Ethernet link between two TAP devices, for the interop tests.
//!
//! It opens (creating them if needed, non-persistent) the TAP devices `--a` and `--b` in its
//! own network namespace and forwards every frame read from one to the other, through the
//! same seeded fault injection as `sanstcp tap` ([`sanstcp_mio::fault`]): loss, reordering
//! (frames held back `--delay` ms while later ones pass), duplication and bit corruption.
//! A-to-B frames use the injector's `Inbound` stream, B-to-A frames its `Outbound` one, so
//! the two directions decide independently.
//!
//! The relay knows nothing of TCP or of the stack: the tests bridge each TAP device with the
//! interface of an endpoint (a Linux socket, or the stack's own TAP device) and check it with
//! two Linux endpoints before they put the stack behind it. It prints `relaying A <-> B` on
//! standard error when both devices are open, and its counters when SIGINT or SIGTERM stops
//! it. A frame the receiving device will not take right now is dropped and counted (a lossy
//! link does that too).
//!
//! Usage: `tap-relay --a TAP1 --b TAP2 [--loss P] [--reorder P] [--delay MS]
//! [--duplicate P] [--corrupt P] [--seed N]`. Needs `CAP_NET_ADMIN`.

#![deny(unsafe_op_in_unsafe_fn)]

use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};
use sanstcp_mio::device::{TapDevice, TapOptions};
use sanstcp_mio::fault::{Direction, FaultConfig, Faults};

/// Frames read from one device per turn before the other gets its turn.
const BURST: usize = 256;
/// The longest sleep without a held frame due (to notice a signal).
const TICK: Duration = Duration::from_millis(250);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: all-zero bytes are a valid `sigaction` (empty mask, no flags); the handler
        // is set right after.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: `action` is initialized and outlives the call; the handler only stores to
        // an atomic (async-signal-safe); the old action is not wanted.
        if unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The parsed command line.
struct Args {
    a: String,
    b: String,
    faults: FaultConfig,
}

fn usage() -> String {
    "usage: tap-relay --a TAP1 --b TAP2 [--loss P] [--reorder P] [--delay MS] \
     [--duplicate P] [--corrupt P] [--seed N]"
        .to_string()
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut a, mut b) = (None, None);
    let mut faults = FaultConfig {
        delay: Duration::from_millis(10),
        seed: 1,
        ..FaultConfig::default()
    };
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let prob = |v: &str| -> Result<f64, String> {
            match v.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                _ => Err(format!("{flag}: `{v}` is not a probability in [0, 1]")),
            }
        };
        match flag.as_str() {
            "--a" => a = Some(value),
            "--b" => b = Some(value),
            "--loss" => faults.loss = prob(&value)?,
            "--reorder" => faults.reorder = prob(&value)?,
            "--duplicate" => faults.duplicate = prob(&value)?,
            "--corrupt" => faults.corrupt = prob(&value)?,
            "--delay" => match value.parse::<f64>() {
                Ok(ms) if ms.is_finite() && ms >= 0.0 => {
                    faults.delay = Duration::from_secs_f64(ms / 1e3)
                }
                _ => {
                    return Err(format!(
                        "--delay: `{value}` is not a number of milliseconds"
                    ))
                }
            },
            "--seed" => {
                faults.seed = value
                    .parse()
                    .map_err(|_| format!("--seed: `{value}` is not an integer"))?
            }
            _ => return Err(format!("unknown option {flag}\n{}", usage())),
        }
    }
    match (a, b) {
        (Some(a), Some(b)) if a != b => Ok(Args { a, b, faults }),
        (Some(_), Some(_)) => Err("--a and --b must be different devices".to_string()),
        _ => Err(format!("--a and --b are required\n{}", usage())),
    }
}

/// Counters of one direction.
#[derive(Default)]
struct Counters {
    frames: u64,
    bytes: u64,
    written: u64,
    dropped: u64,
}

struct Relay {
    devices: [TapDevice; 2],
    faults: Faults,
    counters: [Counters; 2],
    epoch: std::time::Instant,
}

impl Relay {
    fn now(&self) -> sanstcp::Instant {
        let ns = self.epoch.elapsed().as_nanos();
        sanstcp::Instant::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// The fault stream of frames read from device `from` (0: A, 1: B).
    fn direction(from: usize) -> Direction {
        if from == 0 {
            Direction::Inbound
        } else {
            Direction::Outbound
        }
    }

    /// Writes `frame` to the device opposite of `from`.
    fn deliver(&mut self, from: usize, frame: &[u8]) {
        let c = &mut self.counters[from];
        match self.devices[1 - from].send(frame) {
            Ok(()) => c.written += 1,
            // WouldBlock, or a device going away: the link drops it.
            Err(_) => c.dropped += 1,
        }
    }

    /// Reads up to [`BURST`] frames from device `from` and passes them on. Returns whether
    /// the device may have more.
    fn pump(&mut self, from: usize, buf: &mut [u8]) -> io::Result<bool> {
        for _ in 0..BURST {
            let n = match self.devices[from].recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.counters[from].frames += 1;
            self.counters[from].bytes += n as u64;
            let now = self.now();
            let frame = &mut buf[..n];
            let copies = self.faults.apply(Self::direction(from), now, frame);
            for _ in 0..copies {
                self.deliver(from, &buf[..n]);
            }
        }
        Ok(true)
    }

    /// Delivers the held frames that are due.
    fn release(&mut self) {
        let now = self.now();
        while let Some((dir, frame)) = self.faults.pop_due(now) {
            let from = if dir == Direction::Inbound { 0 } else { 1 };
            self.deliver(from, &frame);
        }
    }

    fn report(&self, names: [&str; 2]) {
        for from in 0..2 {
            let c = &self.counters[from];
            let f = self.faults.stats(Self::direction(from));
            eprintln!(
                "tap-relay {} -> {}: {} frames ({} bytes) read, {} written, {} not taken; \
                 faults: {} lost, {} corrupted, {} duplicated, {} delayed",
                names[from],
                names[1 - from],
                c.frames,
                c.bytes,
                c.written,
                c.dropped,
                f.lost,
                f.corrupted,
                f.duplicated,
                f.delayed
            );
        }
    }
}

fn run(args: Args) -> io::Result<()> {
    install_signal_handlers()?;
    let open = |name: &str| {
        TapDevice::open(name, TapOptions::default())
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))
    };
    let mut devices = [open(&args.a)?, open(&args.b)?];
    let mut poll = Poll::new()?;
    for (i, dev) in devices.iter_mut().enumerate() {
        poll.registry()
            .register(dev, Token(i), Interest::READABLE)?;
    }
    let names = [args.a.clone(), args.b.clone()];
    let mut relay = Relay {
        devices,
        faults: Faults::new(args.faults),
        counters: Default::default(),
        epoch: std::time::Instant::now(),
    };
    let f = args.faults;
    eprintln!(
        "tap-relay: relaying {} <-> {} (loss {} reorder {} delay {:?} duplicate {} corrupt {} seed {})",
        names[0], names[1], f.loss, f.reorder, f.delay, f.duplicate, f.corrupt, f.seed
    );
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 65_536];
    // Which devices may have frames waiting (edge-triggered readiness: read until WouldBlock).
    let mut ready = [true, true];
    while !STOP.load(Ordering::SeqCst) {
        let timeout = if ready.iter().any(|&r| r) {
            Some(Duration::ZERO)
        } else {
            let now = relay.now();
            Some(match relay.faults.next_due() {
                Some(due) => due.saturating_duration_since(now).min(TICK),
                None => TICK,
            })
        };
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            ready[ev.token().0] = true;
        }
        for (from, r) in ready.iter_mut().enumerate() {
            if *r {
                *r = relay.pump(from, &mut buf)?;
            }
        }
        relay.release();
    }
    relay.report([&names[0], &names[1]]);
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("tap-relay: {msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tap-relay: error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&[
            "--a",
            "t1",
            "--b",
            "t2",
            "--loss",
            "0.02",
            "--reorder",
            "0.25",
            "--delay",
            "10",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!((a.a.as_str(), a.b.as_str()), ("t1", "t2"));
        assert_eq!(a.faults.loss, 0.02);
        assert_eq!(a.faults.delay, Duration::from_millis(10));
        assert_eq!(a.faults.seed, 7);
        assert!(parse(&["--a", "t1"]).is_err());
        assert!(parse(&["--a", "t1", "--b", "t1"]).is_err());
        assert!(parse(&["--a", "t1", "--b", "t2", "--loss", "2"]).is_err());
        assert!(parse(&["--a", "t1", "--b", "t2", "--bogus", "1"]).is_err());
    }
}
