//! `sanstcp demo`: a client and a server stack in one process, joined by the core's
//! deterministic network simulator.
//!
//! The run: the server listens, the client connects (three-way handshake), sends `--bytes`
//! bytes of a seeded pattern and shuts down its sending side; the server reads to end of
//! stream, checking every byte against the pattern and hashing what it got (SHA-256), then
//! closes. The run ends when the client is in TIME-WAIT and the server is CLOSED (TIME-WAIT
//! itself, 2·MSL, is not waited out). State changes of both ends are printed as they happen,
//! stamped with the virtual time; a summary follows with the verdict, timings, both stacks'
//! counters and the link's. The packets the client sends and receives go to a pcap file.
//!
//! Everything runs on virtual time: the same flags and seed give the same run, packet for
//! packet, however fast the machine is.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use sanstcp::sim::{CaptureKind, LinkConfig, LinkId, LinkStats, NodeId, PcapBuffer, Sim};
use sanstcp::{
    CloseReason, ConnId, ConnInfo, ConnectOptions, Event, Instant, ListenOptions, ListenerId,
    RecvError, SendError, Stack, StackConfig, Stats, TcpState,
};
use sha2::{Digest, Sha256};

/// The port the server listens on.
const SERVER_PORT: u16 = 5001;
/// Bytes moved per `send` / `recv` call.
const CHUNK: usize = 64 * 1024;
/// Smallest and largest socket buffer `--buffer auto` picks.
const AUTO_BUFFER_MIN: u64 = 256 * 1024;
const AUTO_BUFFER_MAX: u64 = 64 * 1024 * 1024;
/// How often the in-place progress line is redrawn on a terminal (wall-clock time).
const PROGRESS_REDRAW: Duration = Duration::from_millis(100);
/// Captured bytes held in memory before they are appended to the pcap file.
const PCAP_FLUSH_BYTES: usize = 4 * 1024 * 1024;

/// Options of `sanstcp demo`. Link impairments apply to both directions of the link.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Bytes the client sends to the server. Suffixes K, M, G, T multiply by powers of 1024
    /// (64M, 1G, 1.5G; KiB, MiB, KB, MB and a bare trailing B mean the same).
    #[arg(long, value_name = "N", default_value = "64M", value_parser = parse_size)]
    pub bytes: u64,

    /// Probability that the link loses a packet, as a fraction (0.01 = 1 %).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub loss: f64,

    /// One-way propagation delay of the link in milliseconds (the round trip is twice this).
    #[arg(long, value_name = "D", default_value_t = 10.0, value_parser = parse_non_negative)]
    pub delay_ms: f64,

    /// Link bandwidth in Mbit/s, each direction; 0 means unlimited. The link's queue is
    /// unbounded: the receive window, not queue drops, limits the sender.
    #[arg(long, value_name = "B", default_value_t = 1000.0, value_parser = parse_non_negative)]
    pub bandwidth_mbit: f64,

    /// Probability that a packet is held back by --reorder-delay-ms, so that packets sent
    /// after it overtake it.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub reorder: f64,

    /// Extra delay of a reordered packet, in milliseconds.
    #[arg(long, value_name = "D", default_value_t = 5.0, value_parser = parse_non_negative)]
    pub reorder_delay_ms: f64,

    /// Probability that the link delivers a packet twice.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub duplicate: f64,

    /// Probability that the link flips one random bit of a packet (the receiving stack's
    /// checksum check drops it).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_probability)]
    pub corrupt: f64,

    /// Seed of the simulator, of both stacks and of the payload pattern: the same seed and
    /// options give the same run, packet for packet.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,

    /// Send and receive buffer of both connections (the largest window, and the reassembly
    /// memory), with the suffixes of --bytes. `auto` takes twice the bandwidth-delay
    /// product, rounded up to a multiple of 256K, at most 64M.
    #[arg(long, value_name = "N", default_value = "auto", value_parser = parse_buffer)]
    pub buffer: BufferSize,

    /// Where to write the packet capture: pcap, raw-IP link type, nanosecond timestamps of
    /// virtual time; opens in tcpdump (`tcpdump -r FILE -nn`) and Wireshark. It is the
    /// client's view: each packet once, as the client sends it or as it reaches the client.
    #[arg(long, value_name = "FILE", default_value = "sanstcp-demo.pcap")]
    pub pcap: PathBuf,

    /// Write no packet capture.
    #[arg(long, conflicts_with = "pcap")]
    pub no_pcap: bool,

    /// Bytes kept of each captured packet; 128 holds every header and keeps the file of a
    /// 64 MiB run small. 0 keeps whole packets.
    #[arg(long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(0..=65_535))]
    pub pcap_snaplen: u32,

    /// Use IPv6 (client fd00::1, server fd00::2) instead of IPv4 (10.0.0.1, 10.0.0.2).
    #[arg(long)]
    pub ipv6: bool,

    /// Fail unless the transfer and the close are done within this much virtual time, in
    /// seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600.0, value_parser = parse_positive)]
    pub time_limit: f64,
}

/// The `--buffer` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferSize {
    /// Twice the bandwidth-delay product, within bounds.
    Auto,
    /// This many bytes.
    Bytes(u64),
}

/// Runs the demo. `Ok(true)`: the data arrived byte-exact and both ends closed in time;
/// `Ok(false)`: the demo ran and failed (the summary says why); `Err`: it could not run.
pub fn run(args: &DemoArgs) -> Result<bool> {
    let wall = std::time::Instant::now();
    let setup = Setup::new(args)?;
    let sink = match args.no_pcap {
        true => None,
        false => Some(PcapSink::create(&args.pcap, args.pcap_snaplen)?),
    };
    let mut console = Console::new(io::stdout().is_terminal());
    setup.print_banner(args);

    let mut sim = Sim::new(args.seed);
    let client = sim.add_node(Box::new(Stack::new(
        setup.stack_config(setup.client_ip, 1),
    )?));
    let server = sim.add_node(Box::new(Stack::new(
        setup.stack_config(setup.server_ip, 2),
    )?));
    let link = sim.connect(client, server, setup.link, setup.link);
    let sink = sink.map(|sink| capture_client_view(&mut sim, client, sink));

    let server_addr = SocketAddr::new(setup.server_ip, SERVER_PORT);
    let listener = sim
        .node_mut::<Stack>(server)
        .listen(server_addr, ListenOptions::default())
        .context("server: listen")?;
    let options = ConnectOptions {
        send_buffer: Some(setup.buffer),
        recv_buffer: Some(setup.buffer),
        ..ConnectOptions::default()
    };
    let now = sim.now();
    let client_conn = sim
        .node_mut::<Stack>(client)
        .connect(now, server_addr, options)
        .context("client: connect")?;
    if let Some(info) = sim.node::<Stack>(client).info(client_conn) {
        console.line(&format!(
            "client {} connects to server {server_addr} (listening)",
            info.local
        ));
    }

    let mut demo = Demo::new(client, server, listener, client_conn, args);
    let limit = sim.now() + Duration::from_secs_f64(args.time_limit);
    demo.service(&mut sim, &mut console);
    while !demo.done() && demo.failure.is_none() {
        if !sim.step(limit) {
            demo.failure = Some(if sim.now() >= limit {
                format!(
                    "not done within the time limit of {} s of virtual time",
                    args.time_limit
                )
            } else {
                "the simulation stalled: nothing to send and no timer armed".to_string()
            });
            break;
        }
        demo.service(&mut sim, &mut console);
    }
    console.finish_progress(&demo.progress(&sim));

    let pcap = match sink {
        Some(sink) => {
            sim.set_capture(None);
            let sink = Rc::try_unwrap(sink).map_err(|_| anyhow!("pcap writer still in use"))?;
            let written = sink.into_inner().finish();
            Some((
                args.pcap.clone(),
                written.with_context(|| format!("writing {}", args.pcap.display()))?,
            ))
        }
        None => None,
    };
    let report = Report::new(&demo, &sim, link, wall.elapsed(), pcap);
    report.print();
    Ok(report.success)
}

/// Hands `sink` the client's view of the link: each packet once, as the client puts it on
/// the wire or as it reaches the client.
fn capture_client_view(sim: &mut Sim, client: NodeId, sink: PcapSink) -> Rc<RefCell<PcapSink>> {
    let sink = Rc::new(RefCell::new(sink));
    let shared = Rc::clone(&sink);
    sim.set_capture(Some(Box::new(move |time, from, to, kind, packet| {
        let seen = (kind == CaptureKind::Sent && from == client)
            || (kind == CaptureKind::Delivered && to == client);
        if seen {
            shared.borrow_mut().record(time, packet);
        }
    })));
    sink
}

// ---- configuration --------------------------------------------------------------------------

/// What the options turn into: addresses, link and buffer size.
struct Setup {
    client_ip: IpAddr,
    server_ip: IpAddr,
    link: LinkConfig,
    /// Socket buffer size, bytes.
    buffer: usize,
    /// Bandwidth-delay product, bytes (`None` with unlimited bandwidth).
    bdp: Option<u64>,
    seed: u64,
}

impl Setup {
    fn new(args: &DemoArgs) -> Result<Setup> {
        let (client_ip, server_ip): (IpAddr, IpAddr) = if args.ipv6 {
            ("fd00::1".parse()?, "fd00::2".parse()?)
        } else {
            ("10.0.0.1".parse()?, "10.0.0.2".parse()?)
        };
        let bps = (args.bandwidth_mbit * 1e6).round() as u64;
        let delay = Duration::from_secs_f64(args.delay_ms / 1e3);
        let link = LinkConfig::ideal()
            .with_bandwidth(bps)
            .with_delay(delay)
            .with_loss(args.loss)
            .with_reorder(
                args.reorder,
                Duration::from_secs_f64(args.reorder_delay_ms / 1e3),
            )
            .with_duplicate(args.duplicate)
            .with_corrupt(args.corrupt);
        let bdp = (bps != 0).then(|| (bps as f64 / 8.0 * 2.0 * delay.as_secs_f64()) as u64);
        let buffer = match args.buffer {
            BufferSize::Bytes(n) => n,
            BufferSize::Auto => bdp
                .map_or(AUTO_BUFFER_MAX, |b| {
                    b.saturating_mul(2).next_multiple_of(AUTO_BUFFER_MIN)
                })
                .clamp(AUTO_BUFFER_MIN, AUTO_BUFFER_MAX),
        };
        Ok(Setup {
            client_ip,
            server_ip,
            link,
            buffer: usize::try_from(buffer).context("--buffer too large")?,
            bdp,
            seed: args.seed,
        })
    }

    /// The configuration of one stack; `role` keeps the two stacks' secrets apart.
    fn stack_config(&self, addr: IpAddr, role: u64) -> StackConfig {
        let key = splitmix64(self.seed ^ role.wrapping_mul(0x5851_f42d_4c95_7f2d));
        let mut secret = [0u8; 16];
        secret[..8].copy_from_slice(&key.to_le_bytes());
        secret[8..].copy_from_slice(&splitmix64(key).to_le_bytes());
        let mut cfg = StackConfig::new(vec![addr], secret, self.seed.wrapping_add(role));
        cfg.send_buffer = self.buffer;
        cfg.recv_buffer = self.buffer;
        cfg.reassembly_limit = self.buffer;
        cfg.report_state_changes = true;
        cfg
    }

    fn print_banner(&self, args: &DemoArgs) {
        let bandwidth = if args.bandwidth_mbit == 0.0 {
            "unlimited bandwidth".to_string()
        } else {
            format!("{} Mbit/s", args.bandwidth_mbit)
        };
        println!(
            "sanstcp demo: {} from client {} to server {} over a simulated link",
            human_bytes(args.bytes),
            self.client_ip,
            self.server_ip
        );
        println!(
            "link (each direction): {bandwidth}, {} ms one-way delay, loss {}, reorder {} (+{} ms), \
             duplicate {}, corrupt {}; seed {}",
            args.delay_ms, args.loss, args.reorder, args.reorder_delay_ms, args.duplicate, args.corrupt, args.seed
        );
        let why = match (args.buffer, self.bdp) {
            (BufferSize::Auto, Some(bdp)) => {
                format!(" (auto: bandwidth-delay product {})", human_bytes(bdp))
            }
            (BufferSize::Auto, None) => " (auto: unlimited bandwidth)".to_string(),
            (BufferSize::Bytes(_), _) => String::new(),
        };
        println!("socket buffers: {}{why}", human_bytes(self.buffer as u64));
    }
}

// ---- the payload ----------------------------------------------------------------------------

/// SplitMix64's output function: a well-mixed 64-bit value from any input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The deterministic payload: byte `i` of the stream depends only on the seed and `i`, so the
/// receiver can check any stretch of it without keeping what was sent.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    key: u64,
}

impl Pattern {
    fn new(seed: u64) -> Pattern {
        Pattern {
            key: splitmix64(seed ^ 0x7061_7474_6572_6e00),
        }
    }

    /// Fills `buf` with the stream's bytes starting at `offset`.
    fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut done = 0;
        while done < buf.len() {
            let word = splitmix64(self.key.wrapping_add(pos / 8)).to_le_bytes();
            let start = (pos % 8) as usize;
            let n = (8 - start).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&word[start..start + n]);
            done += n;
            pos += n as u64;
        }
    }
}

/// The client's side of the transfer: feeds the pattern into the connection, hashing what
/// the stack took, and shuts down sending once everything is queued.
struct Sender {
    pattern: Pattern,
    total: u64,
    /// Bytes the stack has taken.
    sent: u64,
    /// The chunk being sent and how much of it the stack took so far.
    chunk: Vec<u8>,
    taken: usize,
    hash: Sha256,
    shut_down: bool,
}

impl Sender {
    fn new(pattern: Pattern, total: u64) -> Sender {
        Sender {
            pattern,
            total,
            sent: 0,
            chunk: Vec::new(),
            taken: 0,
            hash: Sha256::new(),
            shut_down: false,
        }
    }

    /// Sends until the stack pushes back; then, once all is queued, shuts down.
    fn pump(&mut self, stack: &mut Stack, conn: ConnId) -> Result<(), String> {
        while self.sent < self.total {
            if self.taken == self.chunk.len() {
                let n = (self.total - self.sent).min(CHUNK as u64) as usize;
                self.chunk.resize(n, 0);
                self.pattern.fill(self.sent, &mut self.chunk);
                self.taken = 0;
            }
            match stack.send(conn, &self.chunk[self.taken..]) {
                Ok(0) | Err(SendError::WouldBlock) => break,
                Ok(n) => {
                    self.hash.update(&self.chunk[self.taken..self.taken + n]);
                    self.taken += n;
                    self.sent += n as u64;
                }
                Err(e) => return Err(format!("client: send failed: {e}")),
            }
        }
        if self.sent == self.total && !self.shut_down {
            stack
                .shutdown(conn)
                .map_err(|e| format!("client: shutdown failed: {e}"))?;
            self.shut_down = true;
        }
        Ok(())
    }
}

/// The server's side: reads to end of stream, checking every byte against the pattern and
/// hashing what arrived.
struct Receiver {
    pattern: Pattern,
    total: u64,
    received: u64,
    /// Offset of the first byte that differed from the pattern (or came past the end).
    first_mismatch: Option<u64>,
    eof: bool,
    hash: Sha256,
    buf: Vec<u8>,
    expected: Vec<u8>,
}

impl Receiver {
    fn new(pattern: Pattern, total: u64) -> Receiver {
        Receiver {
            pattern,
            total,
            received: 0,
            first_mismatch: None,
            eof: false,
            hash: Sha256::new(),
            buf: vec![0; CHUNK],
            expected: vec![0; CHUNK],
        }
    }

    /// Reads everything the connection holds.
    fn pump(&mut self, stack: &mut Stack, conn: ConnId) -> Result<(), String> {
        while !self.eof {
            match stack.recv(conn, &mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.check(n),
                Err(RecvError::WouldBlock) => break,
                Err(e) => return Err(format!("server: recv failed: {e}")),
            }
        }
        Ok(())
    }

    /// Checks and hashes the first `n` bytes of `buf`, the stream from `received` on.
    fn check(&mut self, n: usize) {
        let data = &self.buf[..n];
        self.hash.update(data);
        if self.first_mismatch.is_none() {
            let expected = &mut self.expected[..n];
            self.pattern.fill(self.received, expected);
            let in_range = self.total.saturating_sub(self.received).min(n as u64) as usize;
            let differs = data[..in_range]
                .iter()
                .zip(&expected[..in_range])
                .position(|(a, b)| a != b);
            self.first_mismatch = match differs {
                Some(i) => Some(self.received + i as u64),
                None if in_range < n => Some(self.received + in_range as u64),
                None => None,
            };
        }
        self.received += n as u64;
    }
}

// ---- the run --------------------------------------------------------------------------------

/// The application on both stacks, and what it has seen.
struct Demo {
    client: NodeId,
    server: NodeId,
    listener: ListenerId,
    client_conn: ConnId,
    /// The accepted connection, until the server closes it.
    server_conn: Option<ConnId>,
    sender: Sender,
    receiver: Receiver,
    client_state: TcpState,
    client_closed: Option<CloseReason>,
    server_closed: Option<CloseReason>,
    /// When the client reached ESTABLISHED, and when the server read end of stream.
    established_at: Option<Instant>,
    eof_at: Option<Instant>,
    /// When the server had read half of the data or more, and how much exactly.
    halfway: Option<(Instant, u64)>,
    /// The server connection just before it was closed.
    server_info: Option<ConnInfo>,
    /// The client connection as last seen.
    client_info: Option<ConnInfo>,
    failure: Option<String>,
}

impl Demo {
    fn new(
        client: NodeId,
        server: NodeId,
        listener: ListenerId,
        client_conn: ConnId,
        args: &DemoArgs,
    ) -> Demo {
        let pattern = Pattern::new(args.seed);
        Demo {
            client,
            server,
            listener,
            client_conn,
            server_conn: None,
            sender: Sender::new(pattern, args.bytes),
            receiver: Receiver::new(pattern, args.bytes),
            client_state: TcpState::SynSent,
            client_closed: None,
            server_closed: None,
            established_at: None,
            eof_at: None,
            halfway: None,
            server_info: None,
            client_info: None,
            failure: None,
        }
    }

    /// Whether the close went through: client in TIME-WAIT, server CLOSED.
    fn done(&self) -> bool {
        self.client_state == TcpState::TimeWait && self.server_closed == Some(CloseReason::Normal)
    }

    /// Does what the applications on both stacks would do at the current time.
    fn service(&mut self, sim: &mut Sim, console: &mut Console) {
        let now = sim.now();
        let stack = sim.node_mut::<Stack>(self.client);
        self.client_events(stack, now, console);
        if self.client_closed.is_none() && self.client_state != TcpState::SynSent {
            if let Err(e) = self.sender.pump(stack, self.client_conn) {
                self.failure.get_or_insert(e);
            }
            self.client_events(stack, now, console);
        }
        if let Some(info) = stack.info(self.client_conn) {
            self.client_info = Some(info);
        }

        let stack = sim.node_mut::<Stack>(self.server);
        self.server_events(stack, now, console);
        if let Some(conn) = self.server_conn {
            if let Err(e) = self.receiver.pump(stack, conn) {
                self.failure.get_or_insert(e);
            }
            let r = &self.receiver;
            if self.halfway.is_none() && r.total > 0 && r.received * 2 >= r.total {
                self.halfway = Some((now, r.received));
            }
            if self.receiver.eof {
                self.eof_at = Some(now);
                self.server_info = stack.info(conn);
                stack.close(conn);
                self.server_conn = None;
            }
            self.server_events(stack, now, console);
        }

        let progress = self.progress(sim);
        if self.receiver.eof {
            console.finish_progress(&progress);
        } else {
            console.progress(&progress);
        }
    }

    fn client_events(&mut self, stack: &mut Stack, now: Instant, console: &mut Console) {
        while let Some(event) = stack.poll_event() {
            match event {
                Event::StateChanged { from, to, .. } => {
                    console.line(&format!("{} client {from} -> {to}", stamp(now)));
                    self.client_state = to;
                }
                Event::Connected { .. } => self.established_at = Some(now),
                Event::Closed { reason, .. } => {
                    self.client_closed = Some(reason);
                    if reason != CloseReason::Normal {
                        self.failure
                            .get_or_insert(format!("client: connection ended: {reason:?}"));
                    }
                }
                _ => {}
            }
        }
    }

    fn server_events(&mut self, stack: &mut Stack, now: Instant, console: &mut Console) {
        while let Some(event) = stack.poll_event() {
            match event {
                Event::StateChanged { from, to, .. } => {
                    console.line(&format!("{} server {from} -> {to}", stamp(now)));
                }
                // One connection is expected; a second would wait in the accept queue.
                Event::Incoming { .. } if self.server_conn.is_none() && self.eof_at.is_none() => {
                    self.server_conn = stack.accept(self.listener);
                }
                Event::Closed { reason, .. } => {
                    self.server_closed = Some(reason);
                    if reason != CloseReason::Normal {
                        self.failure
                            .get_or_insert(format!("server: connection ended: {reason:?}"));
                    }
                }
                _ => {}
            }
        }
    }

    /// Progress so far; it stops at the server's end of stream.
    fn progress(&self, sim: &Sim) -> Progress {
        let end = self.eof_at.unwrap_or(sim.now());
        Progress {
            now: end,
            received: self.receiver.received,
            total: self.receiver.total,
            elapsed: self.established_at.map(|t| end - t),
            client: self.client_info,
        }
    }
}

// ---- console output -------------------------------------------------------------------------

/// A progress snapshot.
struct Progress {
    now: Instant,
    received: u64,
    total: u64,
    /// Virtual time since the connection was established.
    elapsed: Option<Duration>,
    client: Option<ConnInfo>,
}

impl Progress {
    fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            self.received as f64 * 100.0 / self.total as f64
        }
    }

    fn text(&self) -> String {
        let mut s = format!(
            "{} progress {:5.1}%  {} of {}",
            stamp(self.now),
            self.percent(),
            human_bytes(self.received),
            human_bytes(self.total)
        );
        if let Some(rate) = self.elapsed.and_then(|d| mbit_per_s(self.received, d)) {
            s += &format!("  {rate:.1} Mbit/s");
        }
        if let Some(info) = &self.client {
            s += &format!("  cwnd {}", human_bytes(u64::from(info.cwnd)));
            if let Some(srtt) = info.srtt {
                s += &format!("  srtt {:.1} ms", srtt.as_secs_f64() * 1e3);
            }
            s += &format!("  rtx {}", info.retransmits);
        }
        s
    }
}

/// Writes state lines and progress: on a terminal one progress line redrawn in place, else a
/// plain line at every tenth of the transfer.
struct Console {
    tty: bool,
    /// A progress line is on screen without a newline (terminal only).
    drawn: bool,
    last_draw: Option<std::time::Instant>,
    /// Next tenth to report (plain output).
    next_tenth: u64,
    /// The final progress line was written.
    finished: bool,
}

impl Console {
    fn new(tty: bool) -> Console {
        Console {
            tty,
            drawn: false,
            last_draw: None,
            next_tenth: 1,
            finished: false,
        }
    }

    /// Prints a line, clearing the progress line first if it is shown (it is redrawn at the
    /// next update).
    fn line(&mut self, text: &str) {
        let mut out = io::stdout().lock();
        if self.drawn {
            let _ = write!(out, "\r\x1b[2K");
            self.drawn = false;
            self.last_draw = None;
        }
        let _ = writeln!(out, "{text}");
    }

    /// Reports progress: redraws the line if it is due (terminal), or prints a line for each
    /// tenth passed (plain). Returns whether something was written.
    fn progress(&mut self, p: &Progress) -> bool {
        if self.finished || p.received == 0 {
            return false;
        }
        if self.tty {
            let due = match self.last_draw {
                Some(t) => t.elapsed() >= PROGRESS_REDRAW,
                None => true,
            };
            if due {
                let mut out = io::stdout().lock();
                let _ = write!(out, "\r\x1b[2K{}", p.text());
                let _ = out.flush();
                self.drawn = true;
                self.last_draw = Some(std::time::Instant::now());
            }
            return due;
        }
        let mut passed = false;
        while self.next_tenth <= 10 && p.received * 10 >= self.next_tenth * p.total {
            self.next_tenth += 1;
            passed = true;
        }
        if passed {
            println!("{}", p.text());
        }
        passed
    }

    /// Writes the last progress line, at the end of the transfer or of the run; later calls
    /// do nothing.
    fn finish_progress(&mut self, p: &Progress) {
        if self.finished || p.received == 0 {
            return;
        }
        if self.tty {
            self.line(&p.text());
        } else if !self.progress(p) && p.received < p.total {
            println!("{}", p.text());
        }
        self.finished = true;
    }
}
/// A virtual timestamp as `[  1.234567]` (seconds).
fn stamp(t: Instant) -> String {
    let ns = t.as_nanos();
    format!(
        "[{:>3}.{:06}]",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1_000
    )
}

/// `n` bytes in the largest binary unit that keeps the number at least 1.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `bytes` over `d` in Mbit/s, if `d` is not zero.
fn mbit_per_s(bytes: u64, d: Duration) -> Option<f64> {
    (!d.is_zero()).then(|| bytes as f64 * 8.0 / d.as_secs_f64() / 1e6)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- pcap -----------------------------------------------------------------------------------

/// Streams captured packets into a pcap file through [`PcapBuffer`], a few MiB at a time.
struct PcapSink {
    buf: PcapBuffer,
    out: BufWriter<File>,
    snaplen: u32,
    /// Length of the file header each fresh [`PcapBuffer`] starts with.
    header_len: usize,
    header_written: bool,
    packets: u64,
    bytes: u64,
    /// The first write error; reported by [`PcapSink::finish`].
    error: Option<io::Error>,
}

/// What [`PcapSink::finish`] wrote.
#[derive(Debug, Clone, Copy)]
struct PcapSummary {
    packets: u64,
    bytes: u64,
    snaplen: u32,
}

impl PcapSink {
    fn create(path: &std::path::Path, snaplen: u32) -> Result<PcapSink> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let snaplen = if snaplen == 0 { 65_535 } else { snaplen };
        let buf = PcapBuffer::with_snaplen(snaplen);
        Ok(PcapSink {
            header_len: buf.as_bytes().len(),
            buf,
            out: BufWriter::new(file),
            snaplen,
            header_written: false,
            packets: 0,
            bytes: 0,
            error: None,
        })
    }

    fn record(&mut self, time: Instant, packet: &[u8]) {
        self.buf.record(time, packet);
        self.packets += 1;
        if self.buf.as_bytes().len() >= PCAP_FLUSH_BYTES {
            self.flush();
        }
    }

    /// Appends the buffered records to the file (the file header only the first time).
    fn flush(&mut self) {
        let full =
            std::mem::replace(&mut self.buf, PcapBuffer::with_snaplen(self.snaplen)).into_bytes();
        let body = if self.header_written {
            &full[self.header_len..]
        } else {
            &full[..]
        };
        self.header_written = true;
        self.bytes += body.len() as u64;
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(body) {
                self.error = Some(e);
            }
        }
    }

    fn finish(mut self) -> io::Result<PcapSummary> {
        self.flush();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(PcapSummary {
            packets: self.packets,
            bytes: self.bytes,
            snaplen: self.snaplen,
        })
    }
}

// ---- the summary ----------------------------------------------------------------------------

/// The end of the run, ready to print.
struct Report {
    success: bool,
    verdict: String,
    lines: Vec<String>,
}

impl Report {
    fn new(
        demo: &Demo,
        sim: &Sim,
        link: LinkId,
        wall: Duration,
        pcap: Option<(PathBuf, PcapSummary)>,
    ) -> Report {
        let r = &demo.receiver;
        let sent_digest = demo.sender.hash.clone().finalize();
        let received_digest = r.hash.clone().finalize();
        let complete = r.eof && r.received == r.total && demo.sender.sent == r.total;
        let exact = complete && r.first_mismatch.is_none() && sent_digest == received_digest;
        let failure = match (&demo.failure, r.first_mismatch) {
            (_, Some(at)) => Some(format!("byte {at} differs from what was sent")),
            (Some(f), None) => Some(f.clone()),
            (None, None) if !complete => {
                Some(format!("only {} of {} bytes arrived", r.received, r.total))
            }
            (None, None) if !exact => Some("the SHA-256 digests differ".to_string()),
            (None, None) => None,
        };
        let success = failure.is_none() && exact && demo.done();
        let verdict = match &failure {
            None => format!(
                "OK: {} bytes ({}) verified byte-exact",
                r.total,
                human_bytes(r.total)
            ),
            Some(why) => format!(
                "FAILED: {why} ({} of {} bytes received)",
                r.received, r.total
            ),
        };

        let mut lines = Vec::new();
        lines.push(format!("sha256 sent:     {}", hex(&sent_digest)));
        lines.push(format!(
            "sha256 received: {}{}",
            hex(&received_digest),
            if sent_digest == received_digest {
                "  (match)"
            } else {
                "  (MISMATCH)"
            }
        ));
        if let (Some(start), Some(end)) = (demo.established_at, demo.eof_at) {
            let d = end - start;
            lines.push(format!(
                "transfer: {:.6} s of virtual time (ESTABLISHED to end of stream at the server)",
                d.as_secs_f64()
            ));
            if let Some(rate) = mbit_per_s(r.total, d) {
                let ceiling = payload_ceiling(
                    sim.link_config(link, demo.client).bandwidth_bps,
                    demo.client_info.as_ref(),
                )
                .map(|c| format!("; the link's payload ceiling is {c:.1} Mbit/s"))
                .unwrap_or_default();
                let second_half = demo
                    .halfway
                    .and_then(|(t, n)| mbit_per_s(r.total - n, end - t))
                    .map(|h| format!("; second half {h:.1} Mbit/s"))
                    .unwrap_or_default();
                lines.push(format!(
                    "goodput: {rate:.1} Mbit/s (virtual time{second_half}{ceiling})"
                ));
            }
        }
        let virt = sim.now() - Instant::ZERO;
        lines.push(format!(
            "virtual time: {:.6} s in all (handshake to close)",
            virt.as_secs_f64()
        ));
        lines.push(format!(
            "wall-clock time: {:.3} s ({:.1}x real time, {} simulator steps)",
            wall.as_secs_f64(),
            virt.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            sim.stats().steps
        ));
        lines.extend(connection_lines(
            "client connection",
            demo.client_info.as_ref(),
        ));
        lines.extend(connection_lines(
            "server connection at close",
            demo.server_info.as_ref(),
        ));
        lines.extend(stats_lines(
            sim.node::<Stack>(demo.client).stats(),
            sim.node::<Stack>(demo.server).stats(),
        ));
        lines.push("link:".to_string());
        lines.push(link_line(
            "client -> server",
            &sim.link_stats(link, demo.client),
        ));
        lines.push(link_line(
            "server -> client",
            &sim.link_stats(link, demo.server),
        ));
        match pcap {
            Some((path, p)) => lines.push(format!(
                "pcap: {} ({} packets, {}, client's view, snaplen {}, raw IP)",
                path.display(),
                p.packets,
                human_bytes(p.bytes),
                p.snaplen
            )),
            None => lines.push("pcap: not written (--no-pcap)".to_string()),
        }
        if demo.client_state == TcpState::TimeWait {
            let msl = sim.node::<Stack>(demo.client).config().msl;
            lines.push(format!(
                "client stays in TIME-WAIT for 2·MSL = {} s; not simulated, the run stops here",
                (msl * 2).as_secs_f64()
            ));
        }
        Report {
            success,
            verdict,
            lines,
        }
    }

    fn print(&self) {
        println!();
        println!("{}", self.verdict);
        for line in &self.lines {
            println!("{line}");
        }
    }
}

/// Payload Mbit/s a link of `bps` carries in full-sized segments without TCP options.
fn payload_ceiling(bps: u64, info: Option<&ConnInfo>) -> Option<f64> {
    let info = info.filter(|_| bps != 0)?;
    let headers = if info.local.is_ipv6() { 60.0 } else { 40.0 };
    let mss = f64::from(info.mss);
    Some(bps as f64 / 1e6 * mss / (mss + headers))
}

fn connection_lines(who: &str, info: Option<&ConnInfo>) -> Option<String> {
    let i = info?;
    let wscale = |w: Option<u8>| w.map_or("off".to_string(), |w| w.to_string());
    let srtt = i.srtt.map_or("-".to_string(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    });
    let ssthresh = if i.ssthresh == u32::MAX {
        "-".to_string()
    } else {
        human_bytes(u64::from(i.ssthresh))
    };
    Some(format!(
        "{who} ({}): mss {}, window scale {} (peer {}), srtt {srtt}, rto {} ms, \
         cwnd {}, ssthresh {ssthresh}, retransmits {}",
        i.state,
        i.mss,
        wscale(i.rcv_wscale),
        wscale(i.snd_wscale),
        i.rto.as_millis(),
        human_bytes(u64::from(i.cwnd)),
        i.retransmits
    ))
}

/// A table of the key counters of both stacks, then every drop reason either one counted.
fn stats_lines(c: &Stats, s: &Stats) -> Vec<String> {
    type Row = (&'static str, fn(&Stats) -> u64);
    const ROWS: [Row; 14] = [
        ("packets out", |s| s.packets_out),
        ("packets in", |s| s.packets_in),
        ("segments out", |s| s.segments_out),
        ("segments in", |s| s.segments_in),
        ("payload bytes sent (new)", |s| s.bytes_sent),
        ("payload bytes received", |s| s.bytes_received),
        ("retransmitted segments", |s| s.retransmitted_segments),
        ("fast retransmits", |s| s.fast_retransmits),
        ("retransmission timeouts", |s| s.rto_expirations),
        ("window probes", |s| s.window_probes),
        ("challenge ACKs", |s| s.challenge_acks),
        ("resets out", |s| s.resets_out),
        ("resets in", |s| s.resets_in),
        ("packets dropped (all)", |s| s.dropped_total()),
    ];
    let mut lines = vec![format!(
        "{:<32}{:>14}{:>14}",
        "stack counters:", "client", "server"
    )];
    for (label, get) in ROWS {
        lines.push(format!("  {label:<30}{:>14}{:>14}", get(c), get(s)));
    }
    for ((reason, a), (_, b)) in c.drops().zip(s.drops()) {
        if a != 0 || b != 0 {
            lines.push(format!("    dropped: {:<21}{a:>14}{b:>14}", reason.name()));
        }
    }
    lines
}

fn link_line(direction: &str, s: &LinkStats) -> String {
    format!(
        "  {direction}: sent {}, delivered {}, lost {}, queue drops {}, mtu drops {}, \
         duplicated {}, reordered {}, corrupted {}",
        s.sent,
        s.delivered,
        s.dropped_loss,
        s.dropped_queue,
        s.dropped_mtu,
        s.duplicated,
        s.reordered,
        s.corrupted
    )
}

// ---- option parsing -------------------------------------------------------------------------

/// Parses a byte count with an optional binary suffix: `4096`, `64M`, `1.5GiB`, `512kb`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        "g" | "gb" | "gi" | "gib" => 1 << 30,
        "t" | "tb" | "ti" | "tib" => 1 << 40,
        other => return Err(format!("unknown size suffix `{other}` (use K, M, G or T)")),
    };
    if number.is_empty() {
        return Err("expected a number, e.g. 64M".to_string());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(unit)
            .ok_or_else(|| "size too large".to_string());
    }
    let x: f64 = number
        .parse()
        .map_err(|_| format!("`{number}` is not a number"))?;
    let bytes = (x * unit as f64).round();
    if !(0.0..=u64::MAX as f64).contains(&bytes) {
        return Err("size too large".to_string());
    }
    Ok(bytes as u64)
}

fn parse_buffer(s: &str) -> Result<BufferSize, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(BufferSize::Auto);
    }
    match parse_size(s)? {
        0 => Err("the buffer must hold at least one byte".to_string()),
        n if n > 1 << 30 => Err("the buffer can be at most 1G".to_string()),
        n => Ok(BufferSize::Bytes(n)),
    }
}

pub(crate) fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err("a probability is a fraction between 0 and 1 (0.01 = 1 %)".to_string())
    }
}

pub(crate) fn parse_non_negative(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..1e9).contains(&x) {
        Ok(x)
    } else {
        Err("expected a number of at least 0".to_string())
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match parse_non_negative(s)? {
        x if x > 0.0 => Ok(x),
        _ => Err("expected a number above 0".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("7b"), Ok(7));
        assert!(parse_size("M").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("99999999T").is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability("0.01"), Ok(0.01));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("-0.1").is_err());
        assert!(parse_probability("NaN").is_err());
    }

    #[test]
    fn pattern_is_positional() {
        let p = Pattern::new(3);
        let mut whole = vec![0u8; 100];
        p.fill(0, &mut whole);
        for start in [0usize, 1, 7, 8, 13, 64] {
            let mut part = vec![0u8; 100 - start];
            p.fill(start as u64, &mut part);
            assert_eq!(part, whole[start..]);
        }
        let mut other = vec![0u8; 100];
        Pattern::new(4).fill(0, &mut other);
        assert_ne!(other, whole);
    }

    #[test]
    fn receiver_finds_the_first_bad_byte() {
        let p = Pattern::new(1);
        let mut r = Receiver::new(p, 20);
        p.fill(0, &mut r.buf[..10]);
        r.check(10);
        assert_eq!(r.first_mismatch, None);
        p.fill(10, &mut r.buf[..10]);
        r.buf[4] ^= 1;
        r.check(10);
        assert_eq!(r.first_mismatch, Some(14));
        let mut extra = Receiver::new(p, 5);
        p.fill(0, &mut extra.buf[..8]);
        extra.check(8);
        assert_eq!(extra.first_mismatch, Some(5));
    }
}
