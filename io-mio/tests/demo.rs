//! End-to-end tests of `sanstcp demo`: they run the built binary and read what it prints and
//! the pcap it writes (with tcpdump, when installed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `sanstcp` with `args`.
fn sanstcp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sanstcp"))
        .args(args)
        .output()
        .expect("cannot run the sanstcp binary")
}

/// A fresh path for a test's output file.
fn temp_path(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with the program's output unless it exited with `code`.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `text` has a state-change line of `who` ending in state `to`.
fn has_transition(text: &str, who: &str, to: &str) -> bool {
    let tail = format!(" -> {to}");
    text.lines()
        .any(|l| l.contains(&format!("] {who} ")) && l.ends_with(&tail))
}

/// `tcpdump -r path -nn` output, or `None` (after saying so) when tcpdump is not installed
/// outside CI. In CI (`CI` set) a missing tcpdump fails the test.
fn tcpdump(path: &Path) -> Option<String> {
    let out = match Command::new("tcpdump")
        .arg("-r")
        .arg(path)
        .arg("-nn")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tcpdump is not installed, and CI is set: the pcap check must run in CI"
            );
            eprintln!("SKIPPED the pcap check: tcpdump is not installed (apt-get install tcpdump)");
            return None;
        }
        Err(e) => panic!("cannot run tcpdump: {e}"),
    };
    assert!(
        out.status.success(),
        "tcpdump could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn lossy_transfer_is_byte_exact_and_the_pcap_parses() {
    let pcap = temp_path("demo-lossy.pcap");
    let out = sanstcp(&[
        "demo",
        "--bytes",
        "4M",
        "--loss",
        "0.01",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("OK: 4194304 bytes (4.0 MiB) verified byte-exact"),
        "{text}"
    );
    assert!(text.contains("(match)"), "{text}");
    for state in ["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "TIME-WAIT"] {
        assert!(
            has_transition(&text, "client", state),
            "no client transition to {state}:\n{text}"
        );
    }
    for state in ["ESTABLISHED", "LAST-ACK", "CLOSED"] {
        assert!(
            has_transition(&text, "server", state),
            "no server transition to {state}:\n{text}"
        );
    }
    assert!(text.contains("goodput: "), "{text}");
    assert!(text.contains("retransmitted segments"), "{text}");
    assert!(
        text.contains(&format!("pcap: {}", pcap.display())),
        "{text}"
    );

    let Some(dump) = tcpdump(&pcap) else { return };
    let syn = dump
        .lines()
        .find(|l| l.contains("Flags [S]"))
        .expect("no SYN in the pcap");
    assert!(
        syn.contains("10.0.0.1.") && syn.contains("> 10.0.0.2.5001:"),
        "{syn}"
    );
    assert!(
        dump.lines().any(|l| l.contains("Flags [S.]")),
        "no SYN-ACK in the pcap"
    );
    let fins = dump
        .lines()
        .filter(|l| {
            l.split("Flags [")
                .nth(1)
                .is_some_and(|f| f.split(']').next().unwrap_or("").contains('F'))
        })
        .count();
    assert!(fins >= 2, "expected both FINs in the pcap, found {fins}");
}

#[test]
fn ipv6_transfer_without_pcap() {
    let out = sanstcp(&["demo", "--ipv6", "--bytes", "256K", "--no-pcap"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("verified byte-exact"), "{text}");
    assert!(
        text.contains("fd00::1") && text.contains("fd00::2"),
        "{text}"
    );
    assert!(text.contains("pcap: not written"), "{text}");
}

#[test]
fn same_seed_same_trace() {
    let run = |name: &str| {
        let pcap = temp_path(name);
        let args = [
            "demo",
            "--bytes",
            "1M",
            "--loss",
            "0.02",
            "--reorder",
            "0.01",
            "--seed",
            "9",
        ];
        let out = sanstcp(&[&args[..], &["--pcap", pcap.to_str().unwrap()]].concat());
        assert_exit(&out, 0);
        std::fs::read(&pcap).expect("no pcap written")
    };
    let (a, b) = (run("demo-seed-a.pcap"), run("demo-seed-b.pcap"));
    assert!(a.len() > 24, "empty capture");
    assert!(a == b, "two runs with the same seed wrote different traces");
}

#[test]
fn missing_the_time_limit_fails() {
    let args = [
        "demo",
        "--bytes",
        "1M",
        "--bandwidth-mbit",
        "1",
        "--time-limit",
        "1",
        "--no-pcap",
    ];
    let out = sanstcp(&args);
    assert_exit(&out, 1);
    assert!(
        stdout(&out).contains("FAILED: not done within the time limit"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    assert_exit(&sanstcp(&["demo", "--loss", "2"]), 2);
    assert_exit(&sanstcp(&["demo", "--bytes", "12X"]), 2);
}

#[test]
fn help_works() {
    let out = sanstcp(&["--help"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("demo"), "{}", stdout(&out));

    let out = sanstcp(&["demo", "--help"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    for flag in [
        "--bytes",
        "--loss",
        "--delay-ms",
        "--bandwidth-mbit",
        "--reorder",
        "--duplicate",
        "--corrupt",
        "--seed",
        "--pcap",
        "--no-pcap",
        "--pcap-snaplen",
        "--ipv6",
    ] {
        assert!(
            text.contains(flag),
            "`demo --help` does not document {flag}:\n{text}"
        );
    }
}
