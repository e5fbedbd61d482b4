//! The progress line of long transfers: once a second while bytes move (after the first
//! second), on standard error; redrawn in place on a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::demo::human_bytes;

/// How often the line is printed.
const PERIOD: Duration = Duration::from_secs(1);

/// Running totals of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Bytes received from peers.
    pub rx: u64,
    /// Bytes sent to peers (accepted by the stack).
    pub tx: u64,
    /// Connections open now.
    pub open: usize,
    /// Connections finished.
    pub done: u64,
}

/// Prints the progress line.
pub struct Progress {
    tty: bool,
    /// The line is on screen without a newline (terminal only).
    drawn: bool,
    /// A line was printed for the current burst of transfers.
    printed: bool,
    /// When the bytes started moving, and the totals then.
    since: Option<(Instant, Totals)>,
    last: (Instant, Totals),
}

impl Progress {
    /// A progress line on standard error.
    pub fn new() -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
            printed: false,
            since: None,
            last: (Instant::now(), Totals::default()),
        }
    }

    /// Takes the current totals; prints when due.
    pub fn update(&mut self, t: Totals) {
        let now = Instant::now();
        let moved = t.rx != self.last.1.rx || t.tx != self.last.1.tx;
        if self.since.is_none() {
            if moved {
                self.since = Some((now, self.last.1));
                self.last = (now, t);
            }
            return;
        }
        if now.duration_since(self.last.0) < PERIOD {
            return;
        }
        if moved {
            self.print(now, t);
        } else {
            // Idle: the next burst starts a new measurement.
            self.since = None;
            self.printed = false;
            self.end_line();
        }
        self.last = (now, t);
    }

    /// Ends the line at exit.
    pub fn finish(&mut self, t: Totals) {
        if self.printed && t != self.last.1 {
            self.print(Instant::now(), t);
        }
        self.end_line();
    }

    fn print(&mut self, now: Instant, t: Totals) {
        let (start, base) = self.since.unwrap_or((self.last.0, self.last.1));
        let dt = now.duration_since(self.last.0).as_secs_f64().max(1e-3);
        let elapsed = now.duration_since(start).as_secs_f64().max(1e-3);
        let rate = |bytes: u64| human_bytes((bytes as f64 / dt) as u64);
        let text = format!(
            "progress {:6.1}s  in {} ({}/s)  out {} ({}/s)  avg {:.1} Mbit/s  conns {} open, {} done",
            elapsed,
            human_bytes(t.rx - base.rx),
            rate(t.rx - self.last.1.rx),
            human_bytes(t.tx - base.tx),
            rate(t.tx - self.last.1.tx),
            ((t.rx - base.rx) + (t.tx - base.tx)) as f64 * 8.0 / elapsed / 1e6,
            t.open,
            t.done
        );
        self.printed = true;
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{text}");
            let _ = err.flush();
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{text}");
        }
    }

    fn end_line(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}
