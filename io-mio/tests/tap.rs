//! Interop tests of `sanstcp tap` against the Linux kernel's TCP.
//!
//! Each test creates its own network namespace (named after the run, the process and the
//! test, so parallel tests and runs never collide), one or more TAP devices in it, runs the
//! built `sanstcp` binary on them, and drives the kernel's side with Python sockets
//! (`tests/tap/peer.py`) or curl. Everything stays inside the namespace: addresses are from
//! 10.0.0.0/8 and fd00::/8, and no route leads out. The namespace, the devices and every
//! process started are removed when the test ends, also when it fails.
//!
//! The tests need root, `/dev/net/tun` and `ip netns`. Without them they are skipped with
//! a message, unless the environment variable `CI` is set: then they fail. Transfers are 64
//! MiB, except where the stack sends through the impaired link (chargen and echo under
//! fault injection): `SANSTCP_TAP_IMPAIRED_BYTES`, default 8 MiB, because the stack's
//! sender recovers from that much loss and reordering at about 1 MB/s.
//! `scripts/test-tap` runs them with the release build.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

// ---- the harness ---------------------------------------------------------------------------

/// Why these tests cannot run here, if they cannot.
fn missing_privileges() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Some(format!("not running as root (effective uid {euid})"));
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist (modprobe tun)".to_string());
    }
    None
}

/// Skips (returns `None`, after saying why) or, with `CI` set, fails when the test cannot
/// run; otherwise creates the test's namespace.
fn setup(test: &str) -> Option<Netns> {
    let ci = std::env::var_os("CI").is_some();
    let why = match missing_privileges() {
        Some(why) => why,
        None => match Netns::create(test) {
            Ok(ns) => return Some(ns),
            Err(e) => format!("`ip netns` does not work: {e}"),
        },
    };
    assert!(
        !ci,
        "CI is set but the TAP interop test {test} cannot run: {why}"
    );
    // Straight to the standard error stream, past the test harness's output capture, so
    // that the skip is visible in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why}. The TAP interop tests need root, /dev/net/tun and `ip netns` \
         (run scripts/test-tap as root); with CI set they fail instead."
    );
    None
}

/// A unique short tag for names: the run id (`SANSTCP_TAP_RUN`, set by scripts/test-tap so
/// that it can clean up after a killed run) and the process id.
fn run_tag() -> String {
    let run = std::env::var("SANSTCP_TAP_RUN").unwrap_or_else(|_| "x".to_string());
    format!("{run}-{}", std::process::id())
}

/// A network namespace that is deleted, with every process in it, on drop.
struct Netns {
    name: String,
    dir: PathBuf,
}

impl Netns {
    fn create(test: &str) -> Result<Netns, String> {
        let name = format!("stcp-{}-{test}", run_tag());
        // A namespace of this name can only be left over from a dead process that had our
        // pid: remove it.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        let ns = Netns { name, dir };
        std::fs::create_dir_all(&ns.dir).map_err(|e| e.to_string())?;
        ns.ip(&["link", "set", "lo", "up"]);
        Ok(ns)
    }

    /// Runs `ip -n NS ARGS`, panicking on failure.
    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("cannot run ip");
        assert!(
            out.status.success(),
            "ip -n {} {}: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// A device name unique to this run and test.
    fn ifname(&self, n: u32) -> String {
        format!("st{}x{n}", std::process::id() % 100_000)
    }

    /// Creates a TAP device and configures its host side the way io-mio/README.md says:
    /// `ip tuntap add`, link up, an IPv4 and an IPv6 address (no DAD).
    fn tap_by_hand(&self, ifname: &str, v4: &str, v6: &str) {
        self.ip(&["tuntap", "add", "dev", ifname, "mode", "tap"]);
        self.ip(&["link", "set", ifname, "up"]);
        self.ip(&["addr", "add", v4, "dev", ifname]);
        self.ip(&["-6", "addr", "add", v6, "dev", ifname, "nodad"]);
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Starts `sanstcp ARGS` in the namespace.
    fn sanstcp(&self, tag: &str, args: &[&str]) -> Proc {
        let mut c = self.command(env!("CARGO_BIN_EXE_sanstcp"));
        c.args(args);
        Proc::spawn(c, &self.dir, tag)
    }

    /// Starts the Python peer in the namespace.
    fn peer(&self, tag: &str, args: &[&str]) -> Proc {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tap/peer.py");
        let mut c = self.command("python3");
        c.arg(script).args(args);
        Proc::spawn(c, &self.dir, tag)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Anything still running in the namespace (a process a test lost track of).
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "kept the files of the failed test in {}",
                self.dir.display()
            );
        }
    }
}

/// A child process with its output in files; killed on drop if still running.
struct Proc {
    child: std::process::Child,
    tag: String,
    out: PathBuf,
    err: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    fn spawn(mut c: Command, dir: &Path, tag: &str) -> Proc {
        let out = dir.join(format!("{tag}.stdout"));
        let err = dir.join(format!("{tag}.stderr"));
        c.stdin(Stdio::null())
            .stdout(File::create(&out).expect("stdout file"))
            .stderr(File::create(&err).expect("stderr file"));
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {tag}: {e}"));
        Proc {
            child,
            tag: tag.to_string(),
            out,
            err,
            status: None,
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Everything it printed, for failure messages.
    fn dump(&self) -> String {
        format!(
            "--- {} stdout\n{}\n--- {} stderr\n{}",
            self.tag,
            self.stdout(),
            self.tag,
            self.stderr()
        )
    }

    /// Waits up to `timeout` for the exit; kills it and panics if it does not come.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.status = Some(s);
                return s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not finish within {timeout:?}\n{}",
                    self.tag,
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a successful exit and returns its standard output.
    fn success(&mut self, timeout: Duration) -> String {
        let s = self.wait(timeout);
        assert!(s.success(), "{} failed ({s})\n{}", self.tag, self.dump());
        self.stdout()
    }

    /// Waits until `needle` shows up in its standard error (the log), or panics.
    fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.status = Some(s);
                panic!(
                    "{} exited ({s}) before logging {needle:?}\n{}",
                    self.tag,
                    self.dump()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not log {needle:?} within {timeout:?}\n{}",
                self.tag,
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it with SIGTERM (SIGKILL after 10 s) and checks that it exited cleanly.
    fn stop(&mut self) {
        if self.status.is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
        }
        let s = self.wait(Duration::from_secs(10));
        assert!(
            s.success(),
            "{} did not stop cleanly ({s})\n{}",
            self.tag,
            self.dump()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Parses the one JSON line the Python peer prints: only the flat fields used here.
fn json_field(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\": ");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().trim_matches('"').to_string()
}

fn sha256_file(path: &Path) -> String {
    let mut f = File::open(path).expect("open");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A file of `len` pseudo-random bytes.
fn random_file(path: &Path, len: u64, seed: u64) {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(len as usize);
    while (data.len() as u64) < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        data.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    data.truncate(len as usize);
    std::fs::write(path, data).expect("write test file");
}

/// Reports a transfer's rate (visible with --nocapture, as scripts/test-tap runs the tests).
fn report(test: &str, what: &str, bytes: u64, secs: f64) {
    eprintln!(
        "tap-interop {test}: {what}: {:.1} MiB in {secs:.2} s = {:.0} Mbit/s",
        bytes as f64 / MIB as f64,
        bytes as f64 * 8.0 / secs.max(1e-6) / 1e6
    );
}

/// The `sanstcp tap` line that reports a connection's bytes and hash, for `peer`.
fn tool_line(tool: &str, prefix: &str) -> (u64, String) {
    let line = tool
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{tool}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let bytes = words
        .iter()
        .position(|w| *w == "bytes")
        .and_then(|i| words[i - 1].parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {line}"));
    let sha = words
        .iter()
        .position(|w| *w == "sha256")
        .map(|i| words[i + 1].to_string())
        .unwrap_or_else(|| panic!("no sha256 in {line}"));
    (bytes, sha)
}

fn impaired_bytes() -> u64 {
    std::env::var("SANSTCP_TAP_IMPAIRED_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8 * MIB)
}

/// The three byte-stream services over one address family: discard (the kernel sends
/// `to_stack` bytes), chargen (the kernel receives `from_stack` bytes) and echo
/// (`from_stack` bytes both ways at once), with `extra` tap options (fault injection), each
/// service on its own device (set up by hand as the README says, or with `--create`).
fn three_services(
    test: &str,
    ns: &Netns,
    v6: bool,
    (to_stack, from_stack): (u64, u64),
    extra: &[&str],
    by_hand: bool,
) {
    let n_in = to_stack.to_string();
    let n = from_stack.to_string();
    let services: [(&str, &[&str]); 3] = [
        ("discard", &["discard", "--port", "9"]),
        ("chargen", &["chargen", "--port", "19", "--bytes", &n]),
        ("echo", &["echo", "--port", "7"]),
    ];
    let mut tools = Vec::new();
    let mut hosts = Vec::new();
    for (i, (name, service)) in services.iter().enumerate() {
        let ifname = ns.ifname(i as u32);
        let (v4_stack, v6_stack) = (format!("10.99.{i}.2/24"), format!("fd00:99:{i}::2/64"));
        let mut args: Vec<String> = vec!["tap".into(), "--ifname".into(), ifname.clone()];
        if v6 {
            args.extend(["--addr6".into(), v6_stack]);
        } else {
            args.extend(["--addr".into(), v4_stack]);
        }
        if by_hand {
            ns.tap_by_hand(
                &ifname,
                &format!("10.99.{i}.1/24"),
                &format!("fd00:99:{i}::1/64"),
            );
        } else {
            args.push("--create".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(service.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut tool = ns.sanstcp(name, &args);
        tool.wait_for_log("listening on port", Duration::from_secs(10));
        tools.push(tool);
        hosts.push(if v6 {
            format!("fd00:99:{i}::2")
        } else {
            format!("10.99.{i}.2")
        });
    }
    let deadline = Duration::from_secs(240);
    let dl = deadline.as_secs().to_string();

    // The kernel sends to discard.
    let t = Instant::now();
    let sent = ns
        .peer("send", &["--deadline", &dl, "send", &hosts[0], "9", &n_in])
        .success(deadline);
    report(
        test,
        "kernel -> discard",
        to_stack,
        t.elapsed().as_secs_f64(),
    );
    // The kernel receives from chargen (the peer checks the pattern).
    let t = Instant::now();
    let got = ns
        .peer("recv", &["--deadline", &dl, "recv", &hosts[1], "19", &n])
        .success(deadline);
    report(
        test,
        "chargen -> kernel",
        from_stack,
        t.elapsed().as_secs_f64(),
    );
    // Both ways through echo.
    let t = Instant::now();
    ns.peer("echo", &["--deadline", &dl, "echo", &hosts[2], "7", &n])
        .success(deadline);
    report(
        test,
        "kernel <-> echo (each way)",
        from_stack,
        t.elapsed().as_secs_f64(),
    );

    for tool in &mut tools {
        tool.stop();
    }
    let (count, sha) = tool_line(&tools[0].stdout(), "discard: ");
    assert_eq!(count, to_stack, "{}", tools[0].dump());
    assert_eq!(sha, json_field(&sent, "sha256"), "discard's hash");
    let (count, sha) = tool_line(&tools[1].stdout(), "chargen: ");
    assert_eq!(count, from_stack);
    assert_eq!(sha, json_field(&got, "sha256"), "chargen's hash");
    for tool in &tools {
        eprintln!("tap-interop {test}: {} log tail:", tool.tag);
        for line in tool
            .stderr()
            .lines()
            .filter(|l| l.contains("stack:") || l.contains("faults") || l.contains("dropped"))
        {
            eprintln!("    {line}");
        }
    }
}

// ---- the tests ---------------------------------------------------------------------------

#[test]
fn ipv4_bulk_64mib_each_way_and_many_echo_connections() {
    let test = "v4";
    let Some(ns) = setup(test) else { return };
    three_services(test, &ns, false, (64 * MIB, 64 * MIB), &[], true);

    // Many connections at once through one echo server.
    let ifname = ns.ifname(7);
    ns.tap_by_hand(&ifname, "10.99.7.1/24", "fd00:99:7::1/64");
    let mut echo = ns.sanstcp(
        "echo-many",
        &[
            "tap",
            "--ifname",
            &ifname,
            "--addr",
            "10.99.7.2/24",
            "echo",
            "--port",
            "7",
        ],
    );
    echo.wait_for_log("listening on port", Duration::from_secs(10));
    // 200 kernel clients at once, 1 MiB each way per connection, byte-exact, bounded by the
    // peer's own deadline and the wait below.
    const CLIENTS: u64 = 200;
    let clients = CLIENTS.to_string();
    let t = Instant::now();
    let out = ns
        .peer(
            "echo-many",
            &[
                "--deadline",
                "150",
                "--timeout",
                "60",
                "echo",
                "10.99.7.2",
                "7",
                &MIB.to_string(),
                &clients,
            ],
        )
        .success(Duration::from_secs(180));
    report(
        test,
        &format!("{CLIENTS} echo connections at once"),
        CLIENTS * MIB,
        t.elapsed().as_secs_f64(),
    );
    assert_eq!(json_field(&out, "passed"), clients);
    echo.stop();
    assert_eq!(
        echo.stderr().matches(": done, ").count() as u64,
        CLIENTS,
        "{}",
        echo.dump()
    );

    // Without --create the tool attaches only to an existing device.
    let mut missing = ns.sanstcp(
        "missing",
        &[
            "tap",
            "--ifname",
            "nosuchdev",
            "--addr",
            "10.99.9.2/24",
            "echo",
        ],
    );
    let status = missing.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2));
    assert!(
        missing.stderr().contains("there is no device nosuchdev"),
        "{}",
        missing.dump()
    );
}

#[test]
fn ipv6_bulk_64mib_each_way() {
    let test = "v6";
    let Some(ns) = setup(test) else { return };
    three_services(test, &ns, true, (64 * MIB, 64 * MIB), &[], false);
}

#[test]
fn ipv4_impaired_both_directions() {
    let test = "v4bad";
    let Some(ns) = setup(test) else { return };
    three_services(
        test,
        &ns,
        false,
        (64 * MIB, impaired_bytes()),
        &IMPAIRMENT,
        false,
    );
}

#[test]
fn ipv6_impaired_both_directions() {
    let test = "v6bad";
    let Some(ns) = setup(test) else { return };
    three_services(
        test,
        &ns,
        true,
        (64 * MIB, impaired_bytes()),
        &IMPAIRMENT,
        true,
    );
}

/// 2 % loss, 25 % reordering (held back 10 ms), 1 % duplication, 0.1 % corruption, in
/// both directions.
const IMPAIRMENT: [&str; 12] = [
    "--loss",
    "0.02",
    "--reorder",
    "0.25",
    "--delay",
    "10",
    "--duplicate",
    "0.01",
    "--corrupt",
    "0.001",
    "--seed",
    "7",
];

#[test]
fn curl_fetches_20mib_over_http() {
    let test = "http";
    let Some(ns) = setup(test) else { return };
    let root = ns.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let big = root.join("big.bin");
    random_file(&big, 20 * MIB, 20);
    std::fs::write(root.join("index.html"), "<h1>sanstcp</h1>\n").unwrap();
    let want = sha256_file(&big);

    let ifname = ns.ifname(0);
    let root_s = root.to_str().unwrap();
    let mut http = ns.sanstcp(
        "http",
        &[
            "tap",
            "--ifname",
            &ifname,
            "--create",
            "--addr",
            "10.98.0.2/24",
            "--addr6",
            "fd00:98::2/64",
            "http",
            "--port",
            "8080",
            "--root",
            root_s,
        ],
    );
    http.wait_for_log("listening on port", Duration::from_secs(10));
    let curl = |tag: &str, args: &[&str]| {
        let mut c = ns.command("curl");
        c.args(["--silent", "--show-error", "--max-time", "120"])
            .args(args);
        Proc::spawn(c, &ns.dir, tag)
    };
    let fetched = ns.path("fetched.bin");
    let t = Instant::now();
    curl(
        "curl-big",
        &[
            "--fail",
            "-o",
            fetched.to_str().unwrap(),
            "http://10.98.0.2:8080/big.bin",
        ],
    )
    .success(Duration::from_secs(150));
    report(
        test,
        "curl GET 20 MiB over IPv4",
        20 * MIB,
        t.elapsed().as_secs_f64(),
    );
    assert_eq!(sha256_file(&fetched), want, "the fetched file differs");

    let t = Instant::now();
    curl(
        "curl-big6",
        &[
            "--fail",
            "-o",
            fetched.to_str().unwrap(),
            "http://[fd00:98::2]:8080/big.bin",
        ],
    )
    .success(Duration::from_secs(150));
    report(
        test,
        "curl GET 20 MiB over IPv6",
        20 * MIB,
        t.elapsed().as_secs_f64(),
    );
    assert_eq!(
        sha256_file(&fetched),
        want,
        "the fetched file differs (IPv6)"
    );

    // Several requests on one persistent connection, a 404 and HEAD.
    let out = curl(
        "curl-misc",
        &[
            "--write-out",
            "%{http_code} %{num_connects}\\n",
            "-o",
            "/dev/null",
            "http://10.98.0.2:8080/",
            "-o",
            "/dev/null",
            "http://10.98.0.2:8080/nope",
            "-o",
            "/dev/null",
            "http://10.98.0.2:8080/index.html",
        ],
    )
    .success(Duration::from_secs(30));
    assert_eq!(
        out, "200 1\n404 0\n200 0\n",
        "status codes and connection reuse"
    );
    let head = curl("curl-head", &["--head", "http://10.98.0.2:8080/big.bin"])
        .success(Duration::from_secs(30));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", 20 * MIB)),
        "{head}"
    );
    http.stop();
}

/// `sanstcp tap ... connect` to a kernel echo server, over IPv4 with a pcap (checked with
/// tcpdump) and over IPv6.
#[test]
fn connect_to_a_kernel_echo_server_with_pcap() {
    let test = "connect";
    let Some(ns) = setup(test) else { return };
    let send = ns.path("send.bin");
    random_file(&send, 8 * MIB, 8);
    let want = sha256_file(&send);
    for (i, v6) in [(0u32, false), (1, true)] {
        let ifname = ns.ifname(i);
        ns.tap_by_hand(
            &ifname,
            &format!("10.97.{i}.1/24"),
            &format!("fd00:97:{i}::1/64"),
        );
        let port = (5000 + i).to_string();
        let mut server = ns.peer(&format!("server{i}"), &["serve-echo", &port]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.stdout().contains("listening") {
            assert!(Instant::now() < deadline, "{}", server.dump());
            std::thread::sleep(Duration::from_millis(20));
        }
        let recv = ns.path(&format!("recv{i}.bin"));
        let pcap = ns.path(&format!("connect{i}.pcap"));
        let (addr, target) = if v6 {
            (
                format!("--addr6=fd00:97:{i}::2/64"),
                format!("[fd00:97:{i}::1]:{port}"),
            )
        } else {
            (
                format!("--addr=10.97.{i}.2/24"),
                format!("10.97.{i}.1:{port}"),
            )
        };
        let t = Instant::now();
        let mut client = ns.sanstcp(
            &format!("connect{i}"),
            &[
                "tap",
                "--ifname",
                &ifname,
                &addr,
                "--pcap",
                pcap.to_str().unwrap(),
                "connect",
                &target,
                "--send",
                send.to_str().unwrap(),
                "--recv",
                recv.to_str().unwrap(),
                "--timeout",
                "60",
            ],
        );
        let out = client.success(Duration::from_secs(90));
        report(
            test,
            &format!("connect + echo 8 MiB each way (v6 {v6})"),
            8 * MIB,
            t.elapsed().as_secs_f64(),
        );
        let echoed = server.success(Duration::from_secs(30));
        assert_eq!(json_field(&echoed, "sha256"), want, "what the server got");
        assert_eq!(sha256_file(&recv), want, "what came back");
        assert!(
            out.contains(&format!("received {} bytes sha256 {want}", 8 * MIB)),
            "{out}"
        );

        if let Some(dump) = tcpdump(&pcap) {
            let lines: Vec<&str> = dump.lines().collect();
            assert!(lines.len() > 5000, "{} frames in the pcap", lines.len());
            let syn = lines.iter().filter(|l| l.contains("Flags [S]")).count();
            let synack = lines.iter().filter(|l| l.contains("Flags [S.]")).count();
            let fin = lines.iter().filter(|l| l.contains("Flags [F")).count();
            assert!(
                syn >= 1 && synack >= 1 && fin >= 2,
                "handshake and close in the pcap"
            );
            let resolution = if v6 {
                "neighbor solicitation"
            } else {
                "ARP, Request"
            };
            assert!(
                lines.iter().any(|l| l.contains(resolution)),
                "address resolution in the pcap"
            );
        }
    }
}

/// `--gateway`: the stack reaches addresses outside its prefix through the host, which holds
/// them on its loopback device and (`arp_ignore=1`; NDP always does) answers address
/// resolution only for the addresses of the TAP device itself.
#[test]
fn connect_through_a_gateway_to_an_off_link_address() {
    let test = "gateway";
    let Some(ns) = setup(test) else { return };
    let mut sysctl = ns.command("sysctl");
    sysctl.args(["-q", "-w", "net.ipv4.conf.all.arp_ignore=1"]);
    Proc::spawn(sysctl, &ns.dir, "sysctl").success(Duration::from_secs(10));
    ns.ip(&["addr", "add", "10.94.0.1/32", "dev", "lo"]);
    ns.ip(&["-6", "addr", "add", "fd00:94::1/128", "dev", "lo"]);
    let ifname = ns.ifname(0);
    ns.tap_by_hand(&ifname, "10.95.0.1/24", "fd00:95::1/64");
    let send = ns.path("send.bin");
    random_file(&send, MIB, 3);
    let want = sha256_file(&send);
    let cases = [
        ("--addr=10.95.0.2/24", "10.95.0.1", "10.94.0.1:5200"),
        ("--addr6=fd00:95::2/64", "fd00:95::1", "[fd00:94::1]:5201"),
    ];
    for (i, (addr, gateway, target)) in cases.into_iter().enumerate() {
        let port = target.rsplit(':').next().unwrap();
        let mut server = ns.peer(&format!("server{i}"), &["serve-echo", port]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.stdout().contains("listening") {
            assert!(Instant::now() < deadline, "{}", server.dump());
            std::thread::sleep(Duration::from_millis(20));
        }
        let recv = ns.path(&format!("recv{i}.bin"));
        let mut client = ns.sanstcp(
            &format!("connect{i}"),
            &[
                "tap",
                "--ifname",
                &ifname,
                addr,
                "--gateway",
                gateway,
                "connect",
                target,
                "--send",
                send.to_str().unwrap(),
                "--recv",
                recv.to_str().unwrap(),
                "--timeout",
                "30",
            ],
        );
        client.success(Duration::from_secs(60));
        server.success(Duration::from_secs(30));
        assert_eq!(sha256_file(&recv), want, "{target}: what came back");
    }
}

/// `tcpdump -nn -r path` output, or `None` (after saying so) when tcpdump is not installed
/// outside CI. In CI a missing tcpdump fails the test.
fn tcpdump(path: &Path) -> Option<String> {
    let out = match Command::new("tcpdump")
        .arg("-nn")
        .arg("-r")
        .arg(path)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "tcpdump is not installed, and CI is set: the pcap check must run in CI"
            );
            eprintln!("SKIPPED the pcap check: tcpdump is not installed");
            return None;
        }
        Err(e) => panic!("cannot run tcpdump: {e}"),
    };
    assert!(
        out.status.success(),
        "tcpdump cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `--offload` (IFF_VNET_HDR): the kernel hands over TSO super-frames and partial checksums
/// (the stack takes each super-frame whole, the driver trusts the kernel's checksums), and
/// the stack's segments go to the kernel merged into super-frames (send-side TSO).
#[test]
fn ipv4_with_offload() {
    let test = "offload";
    let Some(ns) = setup(test) else { return };
    let ifname = ns.ifname(0);
    let mut discard = ns.sanstcp(
        "discard",
        &[
            "tap",
            "--ifname",
            &ifname,
            "--create",
            "--offload",
            "--addr",
            "10.96.0.2/24",
            "--addr6",
            "fd00:96::2/64",
            "discard",
            "--port",
            "9",
        ],
    );
    discard.wait_for_log("listening on port", Duration::from_secs(10));
    let ifname1 = ns.ifname(1);
    let n = (64 * MIB).to_string();
    let mut chargen = ns.sanstcp(
        "chargen",
        &[
            "tap",
            "--ifname",
            &ifname1,
            "--create",
            "--offload",
            "--addr",
            "10.96.1.2/24",
            "--addr6",
            "fd00:96:1::2/64",
            "chargen",
            "--port",
            "19",
            "--bytes",
            &n,
        ],
    );
    chargen.wait_for_log("listening on port", Duration::from_secs(10));
    let mut hashes = Vec::new();
    for host in ["10.96.0.2", "fd00:96::2"] {
        let t = Instant::now();
        let sent = ns
            .peer(&format!("send-{}", host.len()), &["send", host, "9", &n])
            .success(Duration::from_secs(120));
        report(
            test,
            &format!("kernel -> discard with offload ({host})"),
            64 * MIB,
            t.elapsed().as_secs_f64(),
        );
        hashes.push(json_field(&sent, "sha256"));
    }
    discard.stop();
    let log = discard.stdout();
    for h in &hashes {
        assert!(
            log.contains(&format!("{} bytes sha256 {h}", 64 * MIB)),
            "{}",
            discard.dump()
        );
    }
    let err = discard.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("offload:"))
        .unwrap_or_else(|| panic!("no offload summary\n{}", discard.dump()));
    eprintln!("tap-interop {test}: {line}");
    // (After the log line's timestamp.)
    let counts: Vec<u64> = line[line.find("offload:").unwrap_or(0)..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [_completed, trusted, super_frames, whole, _segments, errors] = counts[..] else {
        panic!("cannot read the counters: {line}");
    };
    assert!(super_frames > 0, "the kernel sent no super-frames: {line}");
    // Without faults, each super-frame reaches the stack whole, with the kernel's partial
    // checksum left for the driver to trust; most of the 2 x 64 MiB came that way.
    assert_eq!(whole, super_frames, "{line}");
    assert!(trusted >= whole, "{line}");
    assert!(whole * 65_536 > 64 * MIB, "{line}");
    assert_eq!(errors, 0, "{line}");
    // The driver verified the other frames (ACKs, the handshake) and dropped none.
    assert!(
        err.contains(", 0 bad checksums"),
        "checksum failures\n{}",
        discard.dump()
    );

    // The kernel receives from chargen: the peer checks every byte of the pattern.
    for host in ["10.96.1.2", "fd00:96:1::2"] {
        let t = Instant::now();
        ns.peer(&format!("recv-{}", host.len()), &["recv", host, "19", &n])
            .success(Duration::from_secs(120));
        report(
            test,
            &format!("chargen with offload -> kernel ({host})"),
            64 * MIB,
            t.elapsed().as_secs_f64(),
        );
    }
    chargen.stop();
    let err = chargen.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("offload tx:"))
        .unwrap_or_else(|| panic!("no offload tx summary\n{}", chargen.dump()));
    eprintln!("tap-interop {test}: {line}");
    let counts: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [coalesced, super_frames] = counts[..] else {
        panic!("cannot read the counters: {line}");
    };
    assert!(
        super_frames > 0 && coalesced >= 2 * super_frames,
        "the stack's segments were not coalesced: {line}"
    );
    // Most of the 2 x 64 MiB went out in super-frames.
    assert!(coalesced * 1400 > 64 * MIB, "{line}");
    assert!(
        err.contains(", 0 write errors"),
        "the kernel refused writes\n{}",
        chargen.dump()
    );
}

/// `ping` (the kernel's ICMP echo, IPv4 and IPv6) of the stack's addresses answers.
#[test]
fn ping_of_the_stacks_addresses_answers() {
    let test = "ping";
    let Some(ns) = setup(test) else { return };
    if Command::new("ping").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "ping is not installed, and CI is set (scripts/test-tap installs iputils-ping)"
        );
        eprintln!("SKIPPED {test}: ping is not installed (apt-get install iputils-ping)");
        return;
    }
    let ifname = ns.ifname(0);
    ns.tap_by_hand(&ifname, "10.92.0.1/24", "fd00:92::1/64");
    let mut echo = ns.sanstcp(
        "echo",
        &[
            "tap",
            "--ifname",
            &ifname,
            "--addr",
            "10.92.0.2/24",
            "--addr6",
            "fd00:92::2/64",
            "echo",
        ],
    );
    echo.wait_for_log("listening on port", Duration::from_secs(10));
    for (tag, args) in [
        ("ping4", &["-c", "3", "-W", "2", "10.92.0.2"][..]),
        ("ping6", &["-6", "-c", "3", "-W", "2", "fd00:92::2"]),
    ] {
        let mut c = ns.command("ping");
        c.args(args);
        let out = Proc::spawn(c, &ns.dir, tag).success(Duration::from_secs(30));
        assert!(out.contains("3 received"), "{tag}: {out}");
        eprintln!(
            "tap-interop {test}: {}",
            out.lines().find(|l| l.contains("received")).unwrap_or("")
        );
    }
    echo.stop();
}

/// Waits until the Python server says it listens.
fn wait_listening(server: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.stdout().contains("listening") {
        if let Some(s) = server.child.try_wait().expect("try_wait") {
            server.status = Some(s);
            panic!("the server exited ({s})\n{}", server.dump());
        }
        assert!(Instant::now() < deadline, "{}", server.dump());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `sanstcp tap ... connect` to a kernel listener: the kernel closes first, the stack closes
/// first (both byte-exact, the order checked in the pcap), and a kernel RST in the middle of
/// a transfer, once while the stack sends and once while it receives, is reported as a
/// reset (exit status 1, "reset" in the log).
#[test]
fn connect_close_orders_and_kernel_resets() {
    let test = "close";
    let Some(ns) = setup(test) else { return };
    let ifname = ns.ifname(0);
    ns.tap_by_hand(&ifname, "10.91.0.1/24", "fd00:91::1/64");
    let big = ns.path("big.bin");
    random_file(&big, 64 * MIB, 64);
    let small = ns.path("small.bin");
    random_file(&small, 2 * MIB, 2);
    let connect = |tag: &str, port: u32, send: Option<&Path>, pcap: Option<&Path>| {
        let recv = ns.path(&format!("{tag}.recv"));
        let target = format!("10.91.0.1:{port}");
        let mut args: Vec<String> = ["tap", "--ifname", &ifname, "--addr", "10.91.0.2/24"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(p) = pcap {
            args.extend(["--pcap".into(), p.to_str().unwrap().into()]);
        }
        args.extend(["connect".into(), target]);
        if let Some(f) = send {
            args.extend(["--send".into(), f.to_str().unwrap().into()]);
        }
        args.extend([
            "--recv".into(),
            recv.to_str().unwrap().into(),
            "--timeout".into(),
            "60".into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        (ns.sanstcp(tag, &args), recv)
    };

    // The two close orders: each side sends, the files must arrive intact, and the first FIN
    // in the capture must come from the side that closes first.
    for (i, how, first) in [
        (0u32, "linux-first", "10.91.0.1"),
        (1, "stack-first", "10.91.0.2"),
    ] {
        let port = 5300 + i;
        let mut server = ns.peer(
            how,
            &["serve-close", &port.to_string(), how, &MIB.to_string()],
        );
        wait_listening(&mut server);
        let pcap = ns.path(&format!("{how}.pcap"));
        let (mut client, recv) =
            connect(&format!("connect-{how}"), port, Some(&small), Some(&pcap));
        let out = client.success(Duration::from_secs(90));
        let got = server.success(Duration::from_secs(30));
        assert_eq!(
            json_field(&got, "sha256"),
            sha256_file(&small),
            "{how}: what the kernel got"
        );
        assert_eq!(
            json_field(&got, "sent_sha256"),
            sha256_file(&recv),
            "{how}: what the stack got"
        );
        assert!(
            out.contains(&format!("received {MIB} bytes")),
            "{how}: {out}"
        );
        if let Some(dump) = tcpdump(&pcap) {
            let fin = dump
                .lines()
                .find(|l| l.contains("Flags [F"))
                .unwrap_or_else(|| panic!("{how}: no FIN in the pcap"));
            assert!(
                fin.contains(&format!("IP {first}.")),
                "{how}: the first FIN should come from {first}: {fin}"
            );
            let fins = dump.lines().filter(|l| l.contains("Flags [F")).count();
            assert!(fins >= 2, "{how}: both FINs in the pcap");
            assert!(!dump.contains("Flags [R"), "{how}: no reset in the pcap");
        }
        eprintln!("tap-interop {test}: {how}: closed cleanly, byte-exact both ways");
    }

    // A kernel RST mid-transfer: the kernel reads 1 MiB of the stack's 64 MiB, or sends 32
    // MiB the stack has not all read yet, then closes with SO_LINGER {1, 0}.
    for (i, how, n, send) in [
        (2u32, "rst-reading", MIB, Some(big.as_path())),
        (3, "rst-writing", 32 * MIB, None),
    ] {
        let port = 5300 + i;
        let mut server = ns.peer(
            how,
            &["serve-close", &port.to_string(), how, &n.to_string()],
        );
        wait_listening(&mut server);
        let (mut client, _) = connect(&format!("connect-{how}"), port, send, None);
        let status = client.wait(Duration::from_secs(90));
        server.success(Duration::from_secs(30));
        assert_eq!(
            status.code(),
            Some(1),
            "{how}: exit status\n{}",
            client.dump()
        );
        let log = client.stderr();
        let line = log
            .lines()
            .find(|l| l.contains("connect: ") && l.to_lowercase().contains("reset"))
            .unwrap_or_else(|| panic!("{how}: no reset reported\n{}", client.dump()));
        assert!(
            !client.stdout().contains("received"),
            "{how}: reported as complete\n{}",
            client.dump()
        );
        eprintln!("tap-interop {test}: {how}: {}", line.trim());
    }
}

// ---- the impaired relay ------------------------------------------------------------------

/// Two endpoint namespaces joined through the `tap-relay` binary, which runs in a third one:
///
/// ```text
/// ns a: bridge (10.93.0.1, fd00:93::1) + veth  ==  ns r: veth + bridge + TAP  <relay>
///   (+ the stack's TAP devices, later)                TAP + bridge + veth  ==  ns b: veth
///                                                                     (10.93.0.2, fd00:93::2)
/// ```
///
/// The relay opens both of its TAP devices in its own namespace (`TUNSETIFF` attaches by
/// name in the caller's namespace) and forwards the frames between them with fault
/// injection; each is bridged with one end of a veth pair whose other end is in `a` or `b`.
struct RelayLink {
    relay: Proc,
    /// The relay's namespace (kept for its lifetime: dropping it removes it).
    _r: Netns,
    /// The stack's side (a bridge, whose address is a Linux endpoint for the harness check).
    a: Netns,
    /// The Linux peer's side.
    b: Netns,
    /// The bridge in `a` that the stack's TAP devices join.
    bridge_a: String,
}

impl RelayLink {
    fn new(test: &str, faults: &[&str]) -> Option<RelayLink> {
        let r = setup(&format!("{test}-r"))?;
        let a = setup(&format!("{test}-a"))?;
        let b = setup(&format!("{test}-b"))?;
        let name = |n: u32| r.ifname(20 + n);
        let (tap_a, tap_b) = (name(0), name(1));
        let mut c = r.command(env!("CARGO_BIN_EXE_tap-relay"));
        c.args(["--a", &tap_a, "--b", &tap_b]).args(faults);
        let mut relay = Proc::spawn(c, &r.dir, "relay");
        relay.wait_for_log("relaying", Duration::from_secs(10));
        // The relay's namespace only forwards frames: no IPv6 chatter of its own.
        let mut sysctl = r.command("sysctl");
        sysctl.args(["-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]);
        Proc::spawn(sysctl, &r.dir, "sysctl").success(Duration::from_secs(10));
        for (tap, side, n) in [(&tap_a, &a, 2), (&tap_b, &b, 5)] {
            let (bridge, veth_r, veth_x) = (name(n), name(n + 1), name(n + 2));
            r.ip(&["link", "add", &bridge, "type", "bridge"]);
            r.ip(&["link", "set", tap, "master", &bridge]);
            r.ip(&[
                "link", "add", &veth_r, "type", "veth", "peer", "name", &veth_x,
            ]);
            r.ip(&["link", "set", &veth_r, "master", &bridge]);
            r.ip(&["link", "set", &veth_x, "netns", &side.name]);
            for dev in [tap.as_str(), &bridge, &veth_r] {
                r.ip(&["link", "set", dev, "up"]);
            }
            side.ip(&["link", "set", &veth_x, "up"]);
        }
        // In a: a bridge with the veth end (the stack's TAP devices join it later) and the
        // addresses of the Linux endpoint used to check the relay. In b: the veth end.
        let bridge_a = name(10);
        a.ip(&["link", "add", &bridge_a, "type", "bridge"]);
        a.ip(&["link", "set", &name(4), "master", &bridge_a]);
        a.ip(&["link", "set", &bridge_a, "up"]);
        a.ip(&["addr", "add", "10.93.0.1/24", "dev", &bridge_a]);
        a.ip(&[
            "-6",
            "addr",
            "add",
            "fd00:93::1/64",
            "dev",
            &bridge_a,
            "nodad",
        ]);
        let veth_b = name(7);
        b.ip(&["addr", "add", "10.93.0.2/24", "dev", &veth_b]);
        b.ip(&[
            "-6",
            "addr",
            "add",
            "fd00:93::2/64",
            "dev",
            &veth_b,
            "nodad",
        ]);
        Some(RelayLink {
            relay,
            _r: r,
            a,
            b,
            bridge_a,
        })
    }

    /// Adds a TAP device for the stack to the bridge in `a` (no addresses on the host side:
    /// the stack's peer is in `b`).
    fn stack_tap(&self, n: u32) -> String {
        let ifname = self.a.ifname(40 + n);
        self.a.ip(&["tuntap", "add", "dev", &ifname, "mode", "tap"]);
        self.a
            .ip(&["link", "set", &ifname, "master", &self.bridge_a]);
        self.a.ip(&["link", "set", &ifname, "up"]);
        ifname
    }

    /// Stops the relay and prints its counters.
    fn finish(mut self, test: &str) {
        self.relay.stop();
        for line in self.relay.stderr().lines() {
            eprintln!("tap-interop {test}: {line}");
        }
    }
}

/// Bytes each way through the relay. 8 MiB: with 25 % of the frames held back 10 ms the
/// stack's sender moves about 1 MB/s (the impaired tests above take about 70 s per 64 MiB),
/// so 8 MiB per direction keeps this test near half a minute.
const RELAY_BYTES: u64 = 8 * MIB;

/// (b) of the impairment tests: the same impairments applied by a relay between two TAP
/// devices, independently of the stack. First two Linux endpoints move data byte-exact
/// through it (a failure there is the harness's, not the stack's), then the stack's discard,
/// chargen and echo services run behind it against the Linux peer, over IPv4 and IPv6.
#[test]
fn impaired_relay_linux_to_linux_then_the_stack() {
    let test = "relay";
    let Some(link) = RelayLink::new(test, &IMPAIRMENT) else {
        return;
    };
    let n = RELAY_BYTES.to_string();
    let dl = "200";

    // 1. Linux to Linux: an echo server in a, the client in b, 8 MiB each way at once.
    for (i, host) in ["10.93.0.1", "fd00:93::1"].into_iter().enumerate() {
        let port = (5400 + i).to_string();
        let mut server = link
            .a
            .peer(&format!("linux-echo{i}"), &["serve-echo", &port]);
        wait_listening(&mut server);
        let t = Instant::now();
        let out = link
            .b
            .peer(
                &format!("linux-client{i}"),
                &["--deadline", dl, "echo", host, &port, &n],
            )
            .wait(Duration::from_secs(220));
        let client_log =
            std::fs::read_to_string(link.b.dir.join(format!("linux-client{i}.stdout")))
                .unwrap_or_default();
        assert!(
            out.success(),
            "the relay itself is broken: two Linux endpoints could not move {n} bytes \
             through it ({host}); this is not the stack's fault\n{client_log}\n{}",
            link.relay.dump()
        );
        server.success(Duration::from_secs(30));
        report(
            test,
            &format!("linux <-> linux through the impaired relay ({host}, each way)"),
            RELAY_BYTES,
            t.elapsed().as_secs_f64(),
        );
    }

    // 2. The stack behind the relay: each service on a TAP device of its own in a's bridge,
    // with addresses on both families; the Linux peer in b.
    let services: [(&str, &[&str]); 3] = [
        ("discard", &["discard", "--port", "9"]),
        ("chargen", &["chargen", "--port", "19", "--bytes", &n]),
        ("echo", &["echo", "--port", "7"]),
    ];
    let mut tools = Vec::new();
    for (i, (name, service)) in services.iter().enumerate() {
        let ifname = link.stack_tap(i as u32);
        let (v4, v6) = (
            format!("10.93.0.{}/24", 10 + i),
            format!("fd00:93::{}/64", 10 + i),
        );
        let mut args = vec!["tap", "--ifname", &ifname, "--addr", &v4, "--addr6", &v6];
        args.extend_from_slice(service);
        let mut tool = link.a.sanstcp(name, &args);
        tool.wait_for_log("listening on port", Duration::from_secs(10));
        tools.push(tool);
    }
    let deadline = Duration::from_secs(220);
    let mut sent_hashes = Vec::new();
    let mut chargen_hashes = Vec::new();
    for (v6, fam) in [(false, "IPv4"), (true, "IPv6")] {
        let host = |i: usize| {
            if v6 {
                format!("fd00:93::{}", 10 + i)
            } else {
                format!("10.93.0.{}", 10 + i)
            }
        };
        let t = Instant::now();
        let sent = link
            .b
            .peer(
                &format!("send-{fam}"),
                &["--deadline", dl, "send", &host(0), "9", &n],
            )
            .success(deadline);
        report(
            test,
            &format!("kernel -> relay -> discard ({fam})"),
            RELAY_BYTES,
            t.elapsed().as_secs_f64(),
        );
        sent_hashes.push(json_field(&sent, "sha256"));
        let t = Instant::now();
        let got = link
            .b
            .peer(
                &format!("recv-{fam}"),
                &["--deadline", dl, "recv", &host(1), "19", &n],
            )
            .success(deadline);
        report(
            test,
            &format!("chargen -> relay -> kernel ({fam})"),
            RELAY_BYTES,
            t.elapsed().as_secs_f64(),
        );
        chargen_hashes.push(json_field(&got, "sha256"));
        let t = Instant::now();
        link.b
            .peer(
                &format!("echo-{fam}"),
                &["--deadline", dl, "echo", &host(2), "7", &n],
            )
            .success(deadline);
        report(
            test,
            &format!("kernel <-> relay <-> echo ({fam}, each way)"),
            RELAY_BYTES,
            t.elapsed().as_secs_f64(),
        );
    }
    for tool in &mut tools {
        tool.stop();
    }
    let discard = tools[0].stdout();
    for h in &sent_hashes {
        assert!(
            discard.contains(&format!("{RELAY_BYTES} bytes sha256 {h}")),
            "{}",
            tools[0].dump()
        );
    }
    let chargen = tools[1].stdout();
    for h in &chargen_hashes {
        assert!(
            chargen.contains(&format!("{RELAY_BYTES} bytes sha256 {h}")),
            "{}",
            tools[1].dump()
        );
    }
    for tool in &tools {
        for line in tool.stderr().lines().filter(|l| l.contains("stack:")) {
            eprintln!("tap-interop {test}: {} {line}", tool.tag);
        }
    }
    link.finish(test);
}

// ---- the command line, without privileges ----------------------------------------------------

fn sanstcp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sanstcp"))
        .args(args)
        .output()
        .expect("cannot run sanstcp")
}

#[test]
fn every_command_has_help() {
    for cmd in [
        &["--help"][..],
        &["tap", "--help"],
        &["tap", "echo", "--help"],
        &["tap", "discard", "--help"],
        &["tap", "chargen", "--help"],
        &["tap", "http", "--help"],
        &["tap", "connect", "--help"],
        &["demo", "--help"],
    ] {
        let out = sanstcp(cmd);
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{cmd:?}"
        );
    }
    let help = String::from_utf8_lossy(&sanstcp(&["tap", "--help"]).stdout).into_owned();
    for flag in [
        "--ifname",
        "--addr6",
        "--gateway",
        "--pcap",
        "--create",
        "--loss",
        "--reorder",
        "--duplicate",
        "--corrupt",
        "--delay",
        "--offload",
    ] {
        assert!(help.contains(flag), "tap --help lacks {flag}");
    }
}

#[test]
fn bad_tap_arguments_are_refused() {
    for (args, msg) in [
        (&["tap", "--ifname", "t0", "echo"][..], "--addr"),
        (
            &["tap", "--ifname", "t0", "--addr", "10.0.0.2", "echo"],
            "ADDR/PREFIX",
        ),
        (
            &["tap", "--ifname", "t0", "--addr", "fd00::2/64", "echo"],
            "--addr takes an IPv4",
        ),
        (
            &[
                "tap",
                "--ifname",
                "t0",
                "--addr",
                "10.0.0.2/24",
                "--loss",
                "2",
                "echo",
            ],
            "probability",
        ),
        (
            &[
                "tap",
                "--ifname",
                "t0",
                "--addr",
                "10.0.0.2/24",
                "--gateway",
                "fd00::1",
                "echo",
            ],
            "no address of that family",
        ),
        (
            &[
                "tap",
                "--ifname",
                "much-too-long-name",
                "--addr",
                "10.0.0.2/24",
                "echo",
            ],
            "--ifname",
        ),
        (
            &[
                "tap",
                "--ifname",
                "t0",
                "--addr",
                "10.0.0.2/24",
                "--host-addr",
                "10.0.0.1/24",
                "echo",
            ],
            "--create",
        ),
    ] {
        let out = sanstcp(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
    }
}
