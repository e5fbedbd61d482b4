//! `sanstcp tap`: the stack on a real TAP device, serving one of a few classic services or
//! connecting out.
//!
//! The device's host side is configured beforehand (`ip tuntap add ...; ip addr add ...`,
//! see io-mio/README.md), or by the tool itself with `--create`, which makes a device that
//! lives as long as the tool runs. Servers run until SIGINT or SIGTERM; `connect` ends with
//! its connection. A summary of the counters goes to the log at the end.

mod http;
mod pattern;
mod progress;
mod services;
mod setup;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use sanstcp::link::LinkConfig;
use sanstcp::wire::EthernetAddress;
use sanstcp::{Stack, StackConfig};
use sanstcp_mio::driver::{Driver, DriverConfig};
use sanstcp_mio::fault::{Direction, FaultConfig};
use sanstcp_mio::pcap::PcapWriter;

use crate::demo::{parse_non_negative, parse_probability, parse_size};
use progress::Progress;

/// How often the loop wakes up at the latest (progress line, signal check).
const TICK: Duration = Duration::from_millis(250);

/// Options of `sanstcp tap`, then the service to run.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("address").required(true).multiple(true).args(["addr", "addr6"])))]
pub struct TapArgs {
    /// Name of the TAP device. It must exist (`ip tuntap add dev NAME mode tap`, see the
    /// README) unless --create is given.
    #[arg(long, value_name = "NAME")]
    pub ifname: String,

    /// The stack's IPv4 address and the on-link prefix, e.g. 10.0.0.2/24.
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub addr: Option<Cidr>,

    /// The stack's IPv6 address and the on-link prefix, e.g. fd00::2/64.
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub addr6: Option<Cidr>,

    /// Default gateway for destinations outside the prefixes: an IPv4 or an IPv6 address;
    /// give the option twice for both families. Without one, every destination is
    /// resolved on the link.
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<IpAddr>,

    /// The stack's MAC address (default: a random locally administered one).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    pub mac: Option<EthernetAddress>,

    /// Write every frame the stack receives and sends to FILE (pcap, Ethernet link type;
    /// `tcpdump -nn -r FILE`). With fault injection, the capture shows the stack's side:
    /// frames after inbound faults and before outbound ones.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Create the device and configure its host side (link up, --host-addr, --host-addr6,
    /// --mtu) with `ip`. The device is removed when the tool exits. Without --create the
    /// tool only attaches to an existing device.
    #[arg(long)]
    pub create: bool,

    /// With --create: the host side's IPv4 address and prefix (default: the --gateway of
    /// that family if it is in the prefix, else the first address of the prefix that is not
    /// the stack's).
    #[arg(long, value_name = "ADDR/PREFIX", requires = "create")]
    pub host_addr: Option<Cidr>,

    /// With --create: the host side's IPv6 address and prefix (default chosen like
    /// --host-addr's). It is added without duplicate address detection (`nodad`).
    #[arg(long, value_name = "ADDR/PREFIX", requires = "create")]
    pub host_addr6: Option<Cidr>,

    /// Link MTU of the stack (and of the device, with --create).
    #[arg(long, value_name = "BYTES", default_value_t = 1500)]
    pub mtu: usize,

    /// Send and receive buffer of each connection (K, M suffixes).
    #[arg(long, value_name = "N", default_value = "1M", value_parser = parse_size)]
    pub buffer: u64,

    /// Open the device with IFF_VNET_HDR: the kernel hands over TCP segmentation-offload
    /// super-frames (up to 64 KiB, passed to the stack whole) and frames with partial
    /// checksums, the stack's segments go out merged into super-frames, and checksums are
    /// verified by the driver, which takes the kernel's word for the frames it built or
    /// verified itself. (Fewer reads, writes and passes over the data.)
    #[arg(long)]
    pub offload: bool,

    /// Fault injection: probability that a frame is lost, in each direction.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub loss: f64,

    /// Fault injection: probability that a frame is held back for --delay while later frames
    /// pass it, in each direction.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub reorder: f64,

    /// Fault injection: how long a reordered frame is held back, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10.0, value_parser = parse_non_negative)]
    pub delay: f64,

    /// Fault injection: probability that a frame is delivered twice, in each direction.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,

    /// Fault injection: probability that one bit of a frame is flipped, in each direction
    /// (checksums then drop it).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub corrupt: f64,

    /// Seed of the fault injection decisions.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// What to run on the stack.
    #[command(subcommand)]
    pub service: ServiceArgs,
}

/// The services `sanstcp tap` can run.
#[derive(Debug, Subcommand)]
pub enum ServiceArgs {
    /// Echo server (RFC 862): sends back every byte; after the peer's FIN it finishes
    /// echoing, then closes. Serves any number of connections at once.
    Echo(EchoArgs),
    /// Discard server (RFC 863): reads and drops everything; at each close prints the byte
    /// count and SHA-256 of what the connection carried (with --check-pattern: whether it
    /// was the byte pattern 00 01 .. ff 00 01 .., instead).
    Discard(DiscardArgs),
    /// Character generator (RFC 864 pattern): sends --bytes bytes of 72-character lines to
    /// each connection, then half-closes; whatever the peer sends is discarded. Prints the
    /// count and SHA-256 (unless --no-digest) of what was sent at each close.
    Chargen(ChargenArgs),
    /// Minimal static HTTP/1.1 file server: GET and HEAD of files under --root, persistent
    /// connections, index.html for directories.
    Http(HttpArgs),
    /// Connects to HOST:PORT (IP literals), sends --send FILE (or nothing) and half-closes,
    /// writes what comes back to --recv FILE (or only counts it), and exits when both
    /// directions are done. Prints the byte counts and SHA-256 of both directions.
    Connect(ConnectArgs),
}

/// Options of `echo`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 7)]
    pub port: u16,
}

/// Options of `discard`.
#[derive(Debug, Args)]
pub struct DiscardArgs {
    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 9)]
    pub port: u16,
    /// Instead of hashing, check that every byte equals its offset in the stream mod 256
    /// (00 01 .. ff 00 01 .., as io-mio/tests/tap/peer.py `blast` sends). The line at each
    /// close says `N bytes pattern ok`, or `N bytes pattern MISMATCH at offset K (got 0xGG,
    /// expected 0xEE)` for the first wrong byte. Every byte is still checked, by memcmp
    /// against a precomputed copy of the pattern: several times cheaper than SHA-256, for
    /// benchmarks where the hash would cost more than the stack.
    #[arg(long)]
    pub check_pattern: bool,
}

/// Options of `chargen`.
#[derive(Debug, Args)]
pub struct ChargenArgs {
    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 19)]
    pub port: u16,
    /// Bytes to send to each connection (K, M, G suffixes).
    #[arg(long, value_name = "N", default_value = "1M", value_parser = parse_size)]
    pub bytes: u64,
    /// Do not hash what is sent: the line at each close gives the byte count only (`sent N
    /// bytes in ...`). For benchmarks, where SHA-256 of every byte would cost more than the
    /// stack; the receiver can check the RFC 864 pattern itself.
    #[arg(long)]
    pub no_digest: bool,
}

/// Options of `http`.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 80)]
    pub port: u16,
    /// Directory to serve.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
}

/// Options of `connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Where to connect: `IPV4:PORT` or `[IPV6]:PORT`.
    #[arg(value_name = "HOST:PORT")]
    pub target: SocketAddr,
    /// Send the contents of FILE, then half-close (default: send nothing).
    #[arg(long, value_name = "FILE")]
    pub send: Option<PathBuf>,
    /// Write what is received to FILE (default: count and hash it only).
    #[arg(long, value_name = "FILE")]
    pub recv: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_non_negative)]
    pub timeout: Option<f64>,
}

/// An address with a prefix length: `10.0.0.2/24`, `fd00::2/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected ADDR/PREFIX, e.g. 10.0.0.2/24"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IP address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("`{p}` is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix length {prefix} is longer than {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    /// Whether `ip` is inside the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && Cidr {
                addr: ip,
                prefix: self.prefix,
            }
            .network()
                == self.network()
    }
}

/// Parses `02:00:00:00:00:01` (or with dashes).
pub fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(format!(
            "`{s}`: expected six hex bytes, e.g. 02:00:00:00:00:01"
        ));
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("`{p}` is not a hex byte"))?;
    }
    let mac = EthernetAddress(mac);
    if !mac.is_unicast() {
        return Err("the MAC address must be unicast".to_string());
    }
    Ok(mac)
}

/// Set by SIGINT / SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT and SIGTERM set [`STOP`] (without `SA_RESTART`, so that the poll wakes up).
fn install_signal_handlers() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` is a plain C struct for which all-zero bytes are a valid value
        // (empty mask, no flags); the handler is set right after.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: `action` is initialized and outlives the call; the handler only stores to
        // an atomic, which is async-signal-safe; the old action is not wanted (null).
        let rc = unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
        if rc != 0 {
            bail!("sigaction: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `sanstcp tap`. `Ok(true)`: success (servers: stopped by a signal; connect: both
/// directions completed).
pub fn run(args: &TapArgs) -> Result<bool> {
    let plan = setup::Plan::new(args)?;
    install_signal_handlers()?;
    let device = setup::open_device(args, &plan)?;

    let mut addresses = Vec::new();
    addresses.extend(args.addr.map(|c| c.addr));
    addresses.extend(args.addr6.map(|c| c.addr));
    let mut secret = [0u8; 16];
    setup::random_bytes(&mut secret)?;
    let mut cfg = StackConfig::new(
        addresses,
        secret,
        u64::from_le_bytes(secret[..8].try_into()?),
    );
    cfg.mtu = args.mtu;
    cfg.send_buffer = usize::try_from(args.buffer)?;
    cfg.recv_buffer = usize::try_from(args.buffer)?;
    cfg.reassembly_limit = cfg.reassembly_limit.max(cfg.recv_buffer * 2);
    // With --offload the driver verifies checksums in the stack's place, and takes the
    // kernel's word for the frames it vouches for (DriverConfig::checksum_offload).
    cfg.verify_checksums = !args.offload;
    let stack = Stack::new(cfg).map_err(|e| anyhow::anyhow!("stack configuration: {e}"))?;

    let mut link = LinkConfig::new(plan.mac);
    link.prefixes = [args.addr, args.addr6]
        .into_iter()
        .flatten()
        .map(|c| (c.network(), c.prefix))
        .collect();
    for g in &args.gateway {
        match g {
            IpAddr::V4(a) => link.gateway_v4 = Some(*a),
            IpAddr::V6(a) => link.gateway_v6 = Some(*a),
        }
    }
    let faults = FaultConfig {
        loss: args.loss,
        reorder: args.reorder,
        delay: Duration::from_secs_f64(args.delay / 1e3),
        duplicate: args.duplicate,
        corrupt: args.corrupt,
        seed: args.seed,
    };
    let pcap = match &args.pcap {
        Some(path) => Some(
            // Room for a whole super-frame (14 + 65,535 bytes).
            PcapWriter::create(path, 65_549)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => None,
    };
    let config = DriverConfig {
        faults,
        pcap,
        checksum_offload: args.offload,
        ..DriverConfig::default()
    };
    let mut net =
        Driver::new(device, stack, link, config).context("cannot start the event loop")?;
    tracing::info!(
        "{} up: mac {}, {}{}{}",
        net.device().name(),
        setup::mac_string(plan.mac),
        [args.addr, args.addr6]
            .iter()
            .flatten()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        if args.offload { ", offload on" } else { "" },
        if faults.is_active() {
            format!(
                ", faults: loss {} reorder {} (delay {} ms) duplicate {} corrupt {} seed {}",
                faults.loss,
                faults.reorder,
                args.delay,
                faults.duplicate,
                faults.corrupt,
                faults.seed
            )
        } else {
            String::new()
        }
    );

    let mut service = services::build(args, &plan)?;
    service.start(&mut net)?;
    let mut progress = Progress::new();
    let mut events = Vec::new();
    let deadline = match &args.service {
        ServiceArgs::Connect(c) => c
            .timeout
            .map(|s| std::time::Instant::now() + Duration::from_secs_f64(s)),
        _ => None,
    };
    let mut last_pcap_flush = std::time::Instant::now();
    let outcome = loop {
        if STOP.load(Ordering::SeqCst) {
            tracing::info!("stopping on a signal");
            break service.finished(&mut net).unwrap_or(true);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            tracing::error!("timed out");
            break false;
        }
        net.poll(&mut events, Some(TICK))
            .with_context(|| format!("event loop on {}", args.ifname))?;
        for ev in events.drain(..) {
            service.on_event(&mut net, ev);
        }
        progress.update(service.totals());
        if last_pcap_flush.elapsed() >= Duration::from_secs(1) {
            net.flush_pcap().context("writing the pcap file")?;
            last_pcap_flush = std::time::Instant::now();
        }
        if let Some(ok) = service.finished(&mut net) {
            // Give the last ACKs and the FIN a moment to leave.
            let linger = std::time::Instant::now() + Duration::from_millis(50);
            while std::time::Instant::now() < linger {
                net.poll(&mut events, Some(Duration::from_millis(10)))?;
                for ev in events.drain(..) {
                    service.on_event(&mut net, ev);
                }
            }
            break ok;
        }
    };
    progress.finish(service.totals());
    net.flush_pcap().context("writing the pcap file")?;
    summary(&net);
    Ok(outcome)
}

/// Logs the counters of the run.
fn summary(net: &Driver) {
    let d = net.stats();
    tracing::info!(
        "device: {} frames ({} bytes) read, {} frames ({} bytes) written, {} writes blocked, {} write errors, {} bad checksums",
        d.frames_read,
        d.bytes_read,
        d.frames_written,
        d.bytes_written,
        d.writes_blocked,
        d.write_errors,
        d.bad_checksums
    );
    let s = net.stack_stats();
    tracing::info!(
        "stack: {} segments in, {} out, {} retransmitted ({} fast, {} timeouts), {} resets in, {} out, {} dropped",
        s.segments_in,
        s.segments_out,
        s.retransmitted_segments,
        s.fast_retransmits,
        s.rto_expirations,
        s.resets_in,
        s.resets_out,
        s.dropped_total()
    );
    for (reason, n) in s.drops().filter(|(_, n)| *n > 0) {
        tracing::info!("  stack dropped {n}: {}", reason.name());
    }
    let l = net.link_stats();
    tracing::info!(
        "link: {} frames in, {} out; ARP {} requests / {} replies in, NDP {} solicitations / {} advertisements in; {} dropped",
        l.frames_in,
        l.frames_out,
        l.arp_requests_in,
        l.arp_replies_in,
        l.neighbor_solicits_in,
        l.neighbor_adverts_in,
        l.dropped_total()
    );
    for (reason, n) in l.drops().filter(|(_, n)| *n > 0) {
        tracing::info!("  link dropped {n}: {}", reason.name());
    }
    for dir in [Direction::Inbound, Direction::Outbound] {
        if let Some(f) = net.fault_stats(dir) {
            tracing::info!(
                "faults {dir:?}: {} frames, {} lost, {} corrupted, {} duplicated, {} delayed",
                f.frames,
                f.lost,
                f.corrupted,
                f.duplicated,
                f.delayed
            );
        }
    }
    if let Some(o) = net.offload_stats() {
        tracing::info!(
            "offload: {} checksums completed, {} trusted, {} super-frames ({} whole, the others cut into {} segments), {} errors",
            o.checksums_completed,
            o.checksums_trusted,
            o.super_frames,
            o.whole,
            o.segments,
            o.errors
        );
    }
    if net.device().vnet_hdr() {
        tracing::info!(
            "offload tx: {} frames coalesced into {} super-frames",
            d.frames_coalesced,
            d.super_frames
        );
    }
    if let Some(n) = net.pcap_records() {
        tracing::info!("pcap: {n} frames recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing_and_arithmetic() {
        let c: Cidr = "10.1.2.3/24".parse().unwrap();
        assert_eq!(c.network(), "10.1.2.0".parse::<IpAddr>().unwrap());
        assert!(c.contains("10.1.2.200".parse().unwrap()));
        assert!(!c.contains("10.1.3.1".parse().unwrap()));
        assert!(!c.contains("fd00::1".parse().unwrap()));
        let c6: Cidr = "fd00:1::2/64".parse().unwrap();
        assert_eq!(c6.network(), "fd00:1::".parse::<IpAddr>().unwrap());
        assert_eq!(c6.to_string(), "fd00:1::2/64");
        let zero: Cidr = "10.0.0.1/0".parse().unwrap();
        assert_eq!(zero.network(), "0.0.0.0".parse::<IpAddr>().unwrap());
        for bad in [
            "10.0.0.1",
            "10.0.0.1/33",
            "fd00::1/129",
            "x/24",
            "10.0.0.1/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("02:00:0a:ff:00:01").unwrap(),
            EthernetAddress([2, 0, 0x0a, 0xff, 0, 1])
        );
        assert!(parse_mac("02-00-00-00-00-01").is_ok());
        assert!(parse_mac("01:00:00:00:00:01").is_err(), "multicast");
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
    }
}
