//! `sanstcp`: the command-line tool of the sanstcp TCP/IP stack.
//!
//! Subcommands:
//!
//! - `demo`: two stacks in one process, joined by the deterministic network simulator; a
//!   handshake, a byte-exact bulk transfer and the four-way close, with a pcap of the trace.
//!   Needs no privileges (see [`demo`]).
//!
//! Exit codes: 0 on success, 1 when the demo ran but failed (data not byte-exact, or not done
//! within the virtual-time limit), 2 when it could not run (bad arguments, I/O errors).

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sanstcp: a sans-IO TCP/IP stack, and tools to watch it work.
#[derive(Debug, Parser)]
#[command(name = "sanstcp", version, propagate_version = true)]
#[command(after_help = "Exit status: 0 success, 1 the demo failed, 2 it could not run.")]
struct Cli {
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
    // `tap`: serve or connect over a real TAP device (`/dev/net/tun`, mio event loop; see
    // DESIGN.md, "Adapters"). Not implemented yet: its variant and module `tap` go here.
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Demo(args) => demo::run(args),
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
