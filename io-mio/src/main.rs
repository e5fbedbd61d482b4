//! `sanstcp`: the command-line tool of the sanstcp TCP/IP stack.
//!
//! Subcommands:
//!
//! - `demo`: two stacks in one process, joined by the deterministic network simulator; a
//!   handshake, a byte-exact bulk transfer and the four-way close, with a pcap of the trace.
//!   Needs no privileges (see [`demo`]).
//! - `tap`: the stack on a real TAP device (`/dev/net/tun`, mio event loop), serving echo,
//!   discard, chargen or HTTP, or connecting out (see [`tap`]). Needs `CAP_NET_ADMIN`.
//!
//! Exit codes: 0 on success, 1 when the run failed (demo: data not byte-exact or not done
//! in time; tap connect: the transfer did not complete), 2 when it could not run (bad
//! arguments, I/O errors, no permission).

#![deny(unsafe_op_in_unsafe_fn)]

mod demo;
mod tap;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

/// sanstcp: a sans-IO TCP/IP stack, and tools to watch it work.
#[derive(Debug, Parser)]
#[command(name = "sanstcp", version, propagate_version = true)]
#[command(after_help = "Exit status: 0 success, 1 the run failed, 2 it could not run.")]
struct Cli {
    /// More log output on standard error: -v debug, -vv trace (default: info).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,

    /// Only warnings and errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a client and a server stack over the built-in network simulator (no privileges)
    ///
    /// The client connects, sends --bytes of a seeded pattern and shuts down; the server
    /// checks every byte, reads to end of stream and closes. Prints both ends' state changes
    /// with virtual timestamps, progress, then the verdict (byte-exact and SHA-256), goodput
    /// in virtual time, wall-clock time, both stacks' counters and the link's. Link options
    /// apply to both directions. The packets go to a pcap file.
    Demo(demo::DemoArgs),
    /// Run the stack on a TAP device: serve echo, discard, chargen or HTTP, or connect out
    ///
    /// The device's host side must be set up first (see io-mio/README.md):
    ///
    ///   ip tuntap add dev tap0 mode tap; ip link set tap0 up; ip addr add 10.0.0.1/24 dev tap0
    ///
    /// or pass --create to have the tool do it (the device then lives as long as the tool).
    ///
    /// Example: sanstcp tap --ifname tap0 --addr 10.0.0.2/24 echo --port 7
    ///
    /// Optional fault injection (--loss, --reorder, --delay, --duplicate, --corrupt, --seed)
    /// applies to frames in both directions. Servers run until SIGINT or SIGTERM. Needs
    /// CAP_NET_ADMIN.
    Tap(tap::TapArgs),
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::WARN,
        (false, 0) => tracing::Level::INFO,
        (false, 1) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Tap(args) => {
            init_logging(cli.verbose, cli.quiet);
            tap::run(args)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sanstcp: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
