//! The async adapter on a real TAP device, against the Linux kernel's TCP, in a network
//! namespace of its own (named after the process and the test; removed with everything in
//! it when the test ends, also when it fails).
//!
//! A TAP device attaches in the network namespace of the process that opens it, so the
//! stack runs in a child process started with `ip netns exec`: the examples `tap_echo` and
//! `http_get`. The kernel's side is Python (`socket`, `http.server`). When the `sanstcp`
//! tool of io-mio is built, `http_get` also downloads from `sanstcp tap http` through a
//! bridge. Needs root, `/dev/net/tun`, `ip netns` and python3: without them the tests are
//! skipped with a message, unless `CI` is set: then they fail.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why these tests cannot run here, if they cannot.
fn missing() -> Option<String> {
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
        return Some("/dev/net/tun does not exist".into());
    }
    for tool in ["ip", "python3"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// Skips (after saying why) or, with `CI` set, fails; otherwise creates the namespace.
fn setup(test: &str) -> Option<Netns> {
    let why = match missing() {
        None => match Netns::create(test) {
            Ok(ns) => return Some(ns),
            Err(e) => format!("`ip netns` does not work: {e}"),
        },
        Some(why) => why,
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {test} cannot run: {why}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {why} (needs root, /dev/net/tun, ip netns, python3)"
    );
    None
}

/// A network namespace deleted, with every process in it, on drop.
struct Netns {
    name: String,
    dir: PathBuf,
}

impl Netns {
    fn create(test: &str) -> Result<Netns, String> {
        let name = format!("stcpa-{}-{test}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
        let ns = Netns { name, dir };
        std::fs::create_dir_all(&ns.dir).map_err(|e| e.to_string())?;
        ns.ip(&["link", "set", "lo", "up"]);
        Ok(ns)
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip -n {} {}: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A TAP device unique to this process, link up, with `host` (ADDR/PREFIX) if any.
    fn tap(&self, n: u32, host: Option<&str>) -> String {
        let ifname = format!("sa{}x{n}", std::process::id() % 100_000);
        self.ip(&["tuntap", "add", "dev", &ifname, "mode", "tap"]);
        self.ip(&["link", "set", &ifname, "up"]);
        if let Some(host) = host {
            self.ip(&["addr", "add", host, "dev", &ifname]);
        }
        ifname
    }

    /// Starts `program args` in the namespace, output to files named after `tag`.
    fn spawn(&self, tag: &str, program: &Path, args: &[&str]) -> Proc {
        let out = self.dir.join(format!("{tag}.stdout"));
        let err = self.dir.join(format!("{tag}.stderr"));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {tag}: {e}"));
        Proc {
            child,
            tag: tag.into(),
            out,
            err,
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
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
        }
    }
}

/// A child process, killed on drop.
struct Proc {
    child: Child,
    tag: String,
    out: PathBuf,
    err: PathBuf,
}

impl Proc {
    fn dump(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- {0} stdout\n{1}\n--- {0} stderr\n{2}",
            self.tag,
            read(&self.out),
            read(&self.err)
        )
    }

    /// Waits for a successful exit within `limit`, or panics with the output.
    fn success(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                assert!(s.success(), "{} failed ({s})\n{}", self.tag, self.dump());
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "{} did not finish within {limit:?}\n{}",
                    self.tag,
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until its output contains `needle`.
    fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        let said = |p: &Path| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains(needle)
        };
        while !said(&self.err) && !said(&self.out) {
            if let Some(s) = self.child.try_wait().unwrap() {
                panic!("{} exited ({s})\n{}", self.tag, self.dump());
            }
            assert!(
                Instant::now() < deadline,
                "{} never said {needle:?}\n{}",
                self.tag,
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The target directory of this build (`target/debug`), from the test binary's path.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The path of an example of this crate, built if `cargo test` did not build it.
fn example(name: &str) -> PathBuf {
    let path = profile_dir().join("examples").join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "sanstcp-async", "--example", name])
            .status()
            .expect("cargo build");
        assert!(status.success(), "cannot build the example {name}");
    }
    path
}

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64 ^ len as u64;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

/// Python, run by the kernel's TCP: connect, send the file and half-close while reading the
/// echo back.
const ECHO_CLIENT: &str = r#"
import socket, sys, threading
data = open(sys.argv[1], "rb").read()
s = socket.create_connection((sys.argv[2], 7), timeout=30)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
# Send and receive at once: the echo comes back while we send.
threading.Thread(target=send).start()
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
s.close()
assert got == data, "echo differs: %d of %d bytes" % (len(got), len(data))
print("echoed", len(got))
"#;

#[test]
fn tap_echo_serves_the_linux_kernel() {
    let Some(ns) = setup("echo") else { return };
    let ifname = ns.tap(0, Some("10.77.0.1/24"));
    let mut server = ns.spawn(
        "tap_echo",
        &example("tap_echo"),
        &[&ifname, "10.77.0.2/24", "7"],
    );
    server.wait_for("listening", Duration::from_secs(30));
    let file = ns.dir.join("data");
    random_file(&file, 4 << 20);
    let start = Instant::now();
    let mut client = ns.spawn(
        "client",
        Path::new("python3"),
        &["-c", ECHO_CLIENT, file.to_str().unwrap(), "10.77.0.2"],
    );
    client.success(Duration::from_secs(60));
    eprintln!("tap: 4 MiB echoed with Linux in {:.2?}", start.elapsed());
}

#[test]
fn http_get_downloads_from_linux_and_from_sanstcp_tap_http() {
    let Some(ns) = setup("http") else { return };
    let root = ns.dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    let data = random_file(&root.join("file.bin"), 2 << 20);

    // From the kernel: Python's HTTP server on the device's host side.
    let ifname = ns.tap(10, Some("10.77.1.1/24"));
    let mut web = ns.spawn(
        "http.server",
        Path::new("python3"),
        &[
            "-m",
            "http.server",
            "--bind",
            "10.77.1.1",
            "--directory",
            root.to_str().unwrap(),
            "8080",
        ],
    );
    web.wait_for("Serving HTTP", Duration::from_secs(30));
    let mut get = ns.spawn(
        "http_get",
        &example("http_get"),
        &[&ifname, "10.77.1.3/24", "http://10.77.1.1:8080/file.bin"],
    );
    get.success(Duration::from_secs(60));
    assert!(
        std::fs::read(&get.out).unwrap() == data,
        "download from Linux differs\n{}",
        get.dump()
    );

    // From `sanstcp tap http` (io-mio's tool), over a bridge joining the two devices.
    let tool = profile_dir().join("sanstcp");
    if !tool.exists() {
        eprintln!(
            "(no {}: the sanstcp tap http half is skipped)",
            tool.display()
        );
        return;
    }
    ns.ip(&["link", "add", "br0", "type", "bridge"]);
    ns.ip(&["link", "set", "br0", "up"]);
    let (t1, t2) = (ns.tap(11, None), ns.tap(12, None));
    ns.ip(&["link", "set", &t1, "master", "br0"]);
    ns.ip(&["link", "set", &t2, "master", "br0"]);
    let mut http = ns.spawn(
        "sanstcp-tap-http",
        &tool,
        &[
            "tap",
            "--ifname",
            &t1,
            "--addr",
            "10.77.2.2/24",
            "http",
            "--port",
            "80",
            "--root",
            root.to_str().unwrap(),
        ],
    );
    http.wait_for("http: serving", Duration::from_secs(30));
    let mut get = ns.spawn(
        "http_get2",
        &example("http_get"),
        &[&t2, "10.77.2.3/24", "http://10.77.2.2/file.bin"],
    );
    get.success(Duration::from_secs(60));
    assert!(
        std::fs::read(&get.out).unwrap() == data,
        "download from sanstcp differs\n{}",
        get.dump()
    );
}
