//! The comparison program of `scripts/bench-tap`: a discard or chargen server built on
//! [smoltcp](https://docs.rs/smoltcp) 0.14 (its `Interface` and TCP socket) on a TAP device
//! (`phy::TunTapInterface`, Ethernet medium), doing the same work per byte as
//! `sanstcp tap discard` / `chargen`: the RFC 864 pattern is generated and every byte is
//! hashed with SHA-256, and each connection ends with the same kind of line on standard
//! output (`discard: N bytes sha256 H ...`, `chargen: sent N bytes sha256 H ...`).
//!
//! Usage (the device must exist and be up, e.g. `ip tuntap add dev tap1 mode tap`):
//!
//! ```text
//! smoltcp_tap IFNAME ADDR/PREFIX discard PORT [--check-pattern]
//! smoltcp_tap IFNAME ADDR/PREFIX chargen PORT BYTES [--no-digest]
//! ```
//!
//! The options are those of `sanstcp tap discard` / `chargen`, with the same code and output
//! (the pattern check is `src/tap/pattern.rs`, compiled in here): `--check-pattern` checks
//! that every received byte equals its stream offset mod 256 instead of hashing
//! (`discard: N bytes pattern ok ...` or `... pattern MISMATCH at offset K ...`), and
//! `--no-digest` sends without hashing (`chargen: sent N bytes in ...`).
//!
//! It serves one connection at a time until killed. Socket buffers are 1 MiB each way, as
//! `sanstcp tap`'s default `--buffer`.

use std::os::fd::AsRawFd;
use std::process::ExitCode;

use sha2::{Digest, Sha256};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{wait as phy_wait, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

// The very pattern check of `sanstcp tap discard --check-pattern` (not every function of it
// is used here).
#[allow(dead_code)]
#[path = "../src/tap/pattern.rs"]
mod pattern;

use pattern::PatternCheck;

const BUFFER: usize = 1 << 20;

/// One period of the RFC 864 stream: 95 lines of 72 characters and CR LF.
fn chargen_period() -> Vec<u8> {
    let mut p = Vec::with_capacity(95 * 74);
    for line in 0..95u8 {
        for col in 0..72u8 {
            p.push(32 + (line + col) % 95);
        }
        p.extend_from_slice(b"\r\n");
    }
    p
}

enum Mode {
    /// Discard; `true`: check the pattern instead of hashing.
    Discard(bool),
    /// Chargen of this many bytes per connection; `true`: hash what is sent.
    Chargen(u64, bool),
}

/// What is done with every byte moved.
enum Integrity {
    /// SHA-256 of the stream.
    Sha256(Sha256),
    /// The check against the pattern byte `i` = `i mod 256`.
    Pattern(PatternCheck),
    /// Nothing (chargen --no-digest).
    Count,
}

impl Integrity {
    fn for_mode(mode: &Mode) -> Integrity {
        match mode {
            Mode::Discard(true) => Integrity::Pattern(PatternCheck::new()),
            Mode::Discard(false) | Mode::Chargen(_, true) => Integrity::Sha256(Sha256::new()),
            Mode::Chargen(_, false) => Integrity::Count,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Integrity::Sha256(h) => h.update(data),
            Integrity::Pattern(p) => p.update(data),
            Integrity::Count => {}
        }
    }

    /// The end of a connection's line, after `discard:` / `chargen: sent`.
    fn summary(&self, bytes: u64) -> String {
        match self {
            Integrity::Sha256(h) => format!("{bytes} bytes sha256 {}", hex(&h.clone().finalize())),
            Integrity::Pattern(p) => p.summary(),
            Integrity::Count => format!("{bytes} bytes"),
        }
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_cidr(s: &str) -> Result<IpCidr, String> {
    let (a, p) = s.split_once('/').ok_or("expected ADDR/PREFIX")?;
    let addr: std::net::IpAddr = a.parse().map_err(|_| format!("bad address {a}"))?;
    let prefix: u8 = p.parse().map_err(|_| format!("bad prefix {p}"))?;
    Ok(IpCidr::new(IpAddress::from(addr), prefix))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<(String, IpCidr, Mode, u16), String> {
        let [ifname, cidr, mode, port, rest @ ..] = &args[..] else {
            return Err(
                "usage: smoltcp_tap IFNAME ADDR/PREFIX discard PORT [--check-pattern] \
                 | chargen PORT BYTES [--no-digest]"
                    .into(),
            );
        };
        let port: u16 = port.parse().map_err(|_| format!("bad port {port}"))?;
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let mode = match (mode.as_str(), &rest[..]) {
            ("discard", []) => Mode::Discard(false),
            ("discard", ["--check-pattern"]) => Mode::Discard(true),
            ("chargen", [n, flags @ ..]) if matches!(flags, [] | ["--no-digest"]) => Mode::Chargen(
                n.parse().map_err(|_| format!("bad byte count {n}"))?,
                flags.is_empty(),
            ),
            _ => return Err(format!("bad mode {mode} {rest:?}")),
        };
        Ok((ifname.clone(), parse_cidr(cidr)?, mode, port))
    })();
    let (ifname, cidr, mode, port) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smoltcp_tap: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(&ifname, cidr, mode, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smoltcp_tap: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(ifname: &str, cidr: IpCidr, mode: Mode, port: u16) -> std::io::Result<()> {
    let mut device = TunTapInterface::new(ifname, Medium::Ethernet)?;
    let fd = device.as_raw_fd();
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
        0x02, 0x00, 0x5a, 0x00, 0x00, 0x02,
    ])));
    config.random_seed = u64::from(std::process::id()) ^ 0x5eed_5301;
    let mut iface = Interface::new(config, &mut device, Instant::now());
    iface.update_ip_addrs(|addrs| {
        addrs.push(cidr).expect("one address fits");
    });
    let mut sockets = SocketSet::new(vec![]);
    let socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; BUFFER]),
        tcp::SocketBuffer::new(vec![0; BUFFER]),
    );
    let handle = sockets.add(socket);
    let period = chargen_period();
    eprintln!("smoltcp_tap: listening on {cidr} port {port}");

    // Per connection: bytes moved, the hash (or check), when it started, whether it was
    // reported.
    let mut bytes = 0u64;
    let mut check = Integrity::for_mode(&mode);
    let mut started: Option<std::time::Instant> = None;
    let mut closing = false;
    loop {
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        if !socket.is_open() {
            if let Some(t) = started.take() {
                let secs = t.elapsed().as_secs_f64().max(1e-6);
                let what = match mode {
                    Mode::Discard(_) => "discard:",
                    Mode::Chargen(..) => "chargen: sent",
                };
                println!(
                    "{what} {} in {secs:.3} s ({:.1} Mbit/s)",
                    check.summary(bytes),
                    bytes as f64 * 8.0 / secs / 1e6
                );
                check = Integrity::for_mode(&mode);
            }
            bytes = 0;
            closing = false;
            socket
                .listen(port)
                .map_err(|e| std::io::Error::other(format!("listen: {e}")))?;
        }
        // The connection is up once data may move either way. (Not "state is Established":
        // a peer that half-closes at once, as a sink does, can take the socket from
        // SYN-RECEIVED through ESTABLISHED to CLOSE-WAIT within one poll.)
        if started.is_none() && (socket.may_send() || socket.may_recv()) {
            started = Some(std::time::Instant::now());
        }
        match mode {
            Mode::Discard(_) => {
                while socket.can_recv() {
                    let n = socket
                        .recv(|buf| {
                            check.update(buf);
                            (buf.len(), buf.len())
                        })
                        .unwrap_or(0);
                    bytes += n as u64;
                    if n == 0 {
                        break;
                    }
                }
                // The peer's FIN came and everything before it was read.
                if socket.state() == tcp::State::CloseWait && !socket.can_recv() && !closing {
                    socket.close();
                    closing = true;
                }
            }
            Mode::Chargen(total, _) => {
                while socket.can_send() && bytes < total {
                    let n = socket
                        .send(|buf| {
                            let want = buf.len().min((total - bytes) as usize);
                            let mut at = (bytes % period.len() as u64) as usize;
                            let mut filled = 0;
                            while filled < want {
                                let k = (period.len() - at).min(want - filled);
                                buf[filled..filled + k].copy_from_slice(&period[at..at + k]);
                                filled += k;
                                at = 0;
                            }
                            check.update(&buf[..want]);
                            (want, want)
                        })
                        .unwrap_or(0);
                    bytes += n as u64;
                    if n == 0 {
                        break;
                    }
                }
                // Whatever the peer sends is dropped.
                while socket.can_recv() {
                    if socket.recv(|buf| (buf.len(), ())).is_err() {
                        break;
                    }
                }
                if socket.may_send() && bytes >= total && !closing {
                    socket.close();
                    closing = true;
                }
            }
        }
        let delay = iface
            .poll_delay(Instant::now(), &sockets)
            .unwrap_or(Duration::from_millis(250));
        if delay > Duration::ZERO {
            phy_wait(fd, Some(delay))?;
        }
    }
}
