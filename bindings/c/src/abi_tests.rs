//! Tests of the exported functions through their C signatures: every error path, and a small
//! handshake-transfer-close between two stacks.

use core::ffi::c_int;
use core::mem::{size_of, MaybeUninit};
use core::ptr::{null, null_mut};

use libc::{sockaddr, sockaddr_in, sockaddr_storage};

use crate::addr::{sockaddr_from, sockaddr_len};
use crate::*;

/// A stack owned by a test; freed on drop.
struct Stack(*mut stcp_stack);

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the pointer came from stcp_stack_new and is freed once.
        unsafe { stcp_stack_free(self.0) }
    }
}

fn config(addr: &str) -> stcp_config {
    let mut c = MaybeUninit::<stcp_config>::uninit();
    // SAFETY: a pointer to writable memory for a stcp_config.
    assert_eq!(unsafe { stcp_config_default(c.as_mut_ptr()) }, STCP_OK);
    // SAFETY: stcp_config_default initialized every field.
    let mut c = unsafe { c.assume_init() };
    c.addresses[0] = sockaddr_from(
        addr.parse::<core::net::IpAddr>()
            .map(|ip| (ip, 0).into())
            .unwrap(),
    );
    c.address_count = 1;
    c.secret = [7; 16];
    c
}

impl Stack {
    fn new(addr: &str) -> Stack {
        let c = config(addr);
        // SAFETY: `c` is an initialized config.
        let s = unsafe { stcp_stack_new(&c) };
        assert!(!s.is_null());
        Stack(s)
    }

    fn listen(&self, local: &str) -> Result<u64, c_int> {
        let a = sockaddr_from(local.parse().unwrap());
        let mut id = 0u64;
        // SAFETY: live stack; `a` is a whole sockaddr_storage; `id` is writable.
        let r = unsafe {
            stcp_listen(
                self.0,
                ptr(&a),
                size_of::<sockaddr_storage>(),
                null(),
                &mut id,
            )
        };
        if r == STCP_OK {
            Ok(id)
        } else {
            Err(r)
        }
    }

    fn connect(&self, now: u64, remote: &str) -> Result<u64, c_int> {
        let a = sockaddr_from(remote.parse().unwrap());
        let mut id = 0u64;
        // SAFETY: live stack; `a` holds `sockaddr_len` bytes; `id` is writable.
        let r = unsafe {
            stcp_connect(
                self.0,
                now,
                ptr(&a),
                sockaddr_len(&remote.parse().unwrap()),
                null(),
                &mut id,
            )
        };
        if r == STCP_OK {
            Ok(id)
        } else {
            Err(r)
        }
    }

    fn accept(&self, listener: u64) -> Result<u64, c_int> {
        let mut id = 0u64;
        // SAFETY: live stack; `id` is writable.
        let r = unsafe { stcp_accept(self.0, listener, &mut id) };
        if r == STCP_OK {
            Ok(id)
        } else {
            Err(r)
        }
    }

    fn send(&self, conn: u64, data: &[u8]) -> isize {
        // SAFETY: live stack; `data` is readable.
        unsafe { stcp_send(self.0, conn, data.as_ptr(), data.len()) }
    }

    fn recv(&self, conn: u64, buf: &mut [u8]) -> isize {
        // SAFETY: live stack; `buf` is writable.
        unsafe { stcp_recv(self.0, conn, buf.as_mut_ptr(), buf.len()) }
    }

    fn events(&self) -> Vec<stcp_event> {
        let mut out = Vec::new();
        loop {
            let mut e = MaybeUninit::<stcp_event>::uninit();
            // SAFETY: live stack; `e` is writable.
            match unsafe { stcp_poll_event(self.0, e.as_mut_ptr()) } {
                // SAFETY: STCP_OK means the event was written.
                STCP_OK => out.push(unsafe { e.assume_init() }),
                r => {
                    assert_eq!(r, STCP_ERR_DONE);
                    return out;
                }
            }
        }
    }
}

fn ptr(a: &sockaddr_storage) -> *const sockaddr {
    (a as *const sockaddr_storage).cast()
}

/// Moves packets both ways until both stacks are quiet; returns how many moved.
fn pump(a: &Stack, b: &Stack, now: u64) -> usize {
    let mut buf = vec![0u8; 1500];
    let mut moved = 0;
    loop {
        let mut any = false;
        for (from, to) in [(a, b), (b, a)] {
            loop {
                // SAFETY: live stack; `buf` is writable for its length.
                let n = unsafe { stcp_poll_transmit(from.0, now, buf.as_mut_ptr(), buf.len()) };
                if n == STCP_ERR_DONE as isize {
                    break;
                }
                assert!(n > 0, "poll_transmit: {n}");
                // SAFETY: live stack; the first `n` bytes of `buf` are readable.
                let r = unsafe { stcp_handle_packet(to.0, now, buf.as_ptr(), n as usize) };
                assert!(r >= 0);
                any = true;
                moved += 1;
            }
        }
        if !any {
            return moved;
        }
    }
}

/// Pumps and fires timers until `done` holds (at most `rounds` rounds); returns the time.
fn run(a: &Stack, b: &Stack, mut now: u64, rounds: usize, mut done: impl FnMut() -> bool) -> u64 {
    for _ in 0..rounds {
        pump(a, b, now);
        if done() {
            return now;
        }
        // SAFETY: live stacks.
        let next = unsafe { stcp_poll_timeout(a.0).min(stcp_poll_timeout(b.0)) };
        if next == u64::MAX {
            continue;
        }
        now = now.max(next);
        // SAFETY: live stacks.
        unsafe {
            stcp_handle_timeout(a.0, now);
            stcp_handle_timeout(b.0, now);
        }
    }
    panic!("not done after {rounds} rounds");
}

/// Client and server stacks with an established connection: (client, server, c, s, now).
fn connected() -> (Stack, Stack, u64, u64, u64) {
    let client = Stack::new("10.0.0.1");
    let server = Stack::new("10.0.0.2");
    let l = server.listen("10.0.0.2:80").unwrap();
    let c = client.connect(0, "10.0.0.2:80").unwrap();
    pump(&client, &server, 0);
    let s = server.accept(l).unwrap();
    assert!(client
        .events()
        .iter()
        .any(|e| e.kind == stcp_event_kind::STCP_EVENT_CONNECTED && e.conn == c));
    (client, server, c, s, 0)
}

#[test]
fn a_null_stack_is_an_error_everywhere() {
    let n: *mut stcp_stack = null_mut();
    let a = sockaddr_from("10.0.0.1:80".parse().unwrap());
    let mut id = 0u64;
    let mut buf = [0u8; 1500];
    let mut ev = MaybeUninit::<stcp_event>::uninit();
    let mut info = MaybeUninit::<stcp_tcp_info>::uninit();
    let mut stats = MaybeUninit::<stcp_stack_counters>::uninit();
    let len = size_of::<sockaddr_storage>();
    // SAFETY: every function checks the NULL stack before touching anything else; the other
    // pointers are valid anyway.
    unsafe {
        assert!(stcp_stack_new(null()).is_null());
        stcp_stack_free(n);
        assert_eq!(stcp_listen(n, ptr(&a), len, null(), &mut id), STCP_ERR_NULL);
        assert_eq!(stcp_accept(n, 0, &mut id), STCP_ERR_NULL);
        assert_eq!(stcp_close_listener(n, 0), STCP_ERR_NULL);
        assert_eq!(
            stcp_connect(n, 0, ptr(&a), len, null(), &mut id),
            STCP_ERR_NULL
        );
        assert_eq!(stcp_handle_packet(n, 0, buf.as_ptr(), 20), STCP_ERR_NULL);
        assert_eq!(stcp_handle_timeout(n, 0), STCP_ERR_NULL);
        assert_eq!(
            stcp_poll_transmit(n, 0, buf.as_mut_ptr(), buf.len()),
            STCP_ERR_NULL as isize
        );
        assert_eq!(stcp_poll_timeout(n), u64::MAX);
        assert_eq!(stcp_poll_event(n, ev.as_mut_ptr()), STCP_ERR_NULL);
        assert_eq!(stcp_send(n, 0, buf.as_ptr(), 1), STCP_ERR_NULL as isize);
        assert_eq!(stcp_recv(n, 0, buf.as_mut_ptr(), 1), STCP_ERR_NULL as isize);
        assert_eq!(stcp_shutdown(n, 0), STCP_ERR_NULL);
        assert_eq!(stcp_close(n, 0), STCP_ERR_NULL);
        assert_eq!(stcp_abort(n, 0), STCP_ERR_NULL);
        assert_eq!(stcp_set_nodelay(n, 0, true), STCP_ERR_NULL);
        assert_eq!(stcp_set_keepalive(n, 0, 1), STCP_ERR_NULL);
        assert_eq!(stcp_conn_info(n, 0, info.as_mut_ptr()), STCP_ERR_NULL);
        assert_eq!(stcp_stats(n, stats.as_mut_ptr()), STCP_ERR_NULL);
        assert_eq!(stcp_connection_count(n), STCP_ERR_NULL as isize);
        assert_eq!(stcp_mtu(n), STCP_ERR_NULL as isize);
    }
}

#[test]
fn null_arguments_on_a_live_stack() {
    let (client, server, c, _s, _) = connected();
    let a = sockaddr_from("10.0.0.2:81".parse().unwrap());
    let len = size_of::<sockaddr_storage>();
    let mut id = 0u64;
    // SAFETY: live stacks; the NULL pointers are checked before use.
    unsafe {
        assert_eq!(
            stcp_listen(server.0, null(), len, null(), &mut id),
            STCP_ERR_NULL
        );
        assert_eq!(
            stcp_listen(server.0, ptr(&a), len, null(), null_mut()),
            STCP_ERR_NULL
        );
        assert_eq!(
            stcp_connect(client.0, 0, null(), len, null(), &mut id),
            STCP_ERR_NULL
        );
        assert_eq!(
            stcp_connect(client.0, 0, ptr(&a), len, null(), null_mut()),
            STCP_ERR_NULL
        );
        assert_eq!(stcp_handle_packet(client.0, 0, null(), 20), STCP_ERR_NULL);
        // An empty packet is a packet: dropped with a reason, not an argument error.
        let r = stcp_handle_packet(client.0, 0, null(), 0);
        assert_eq!(r, stcp_drop_reason::STCP_DROP_BAD_IP_HEADER as c_int);
        assert_eq!(
            stcp_poll_transmit(client.0, 0, null_mut(), 1500),
            STCP_ERR_NULL as isize
        );
        assert_eq!(stcp_poll_event(client.0, null_mut()), STCP_ERR_NULL);
        assert_eq!(stcp_send(client.0, c, null(), 1), STCP_ERR_NULL as isize);
        assert_eq!(stcp_send(client.0, c, null(), 0), 0);
        assert_eq!(
            stcp_recv(client.0, c, null_mut(), 1),
            STCP_ERR_NULL as isize
        );
        assert_eq!(stcp_conn_info(client.0, c, null_mut()), STCP_ERR_NULL);
        assert_eq!(stcp_stats(client.0, null_mut()), STCP_ERR_NULL);
        assert_eq!(stcp_accept(server.0, 0, null_mut()), STCP_ERR_NULL);
    }
}

#[test]
fn a_null_output_loses_nothing() {
    let client = Stack::new("10.0.0.1");
    let server = Stack::new("10.0.0.2");
    let l = server.listen("10.0.0.2:80").unwrap();
    client.connect(0, "10.0.0.2:80").unwrap();
    pump(&client, &server, 0);
    // SAFETY: live stack; NULL outputs are checked before anything is taken.
    unsafe {
        assert_eq!(stcp_accept(server.0, l, null_mut()), STCP_ERR_NULL);
        assert_eq!(stcp_poll_event(server.0, null_mut()), STCP_ERR_NULL);
    }
    assert_eq!(
        server.events().len(),
        1,
        "the Incoming event is still there"
    );
    assert!(
        server.accept(l).is_ok(),
        "the connection is still in the queue"
    );
    assert_eq!(server.accept(l), Err(STCP_ERR_DONE));
}

#[test]
fn stale_and_unknown_connection_ids() {
    let (client, server, c, s, now) = connected();
    let bogus = 0xdead_beef_0000_0042u64;
    let mut buf = [0u8; 64];
    for id in [bogus, c ^ (1 << 40)] {
        assert_eq!(client.send(id, b"x"), STCP_ERR_INVALID_CONNECTION as isize);
        assert_eq!(
            client.recv(id, &mut buf),
            STCP_ERR_INVALID_CONNECTION as isize
        );
        let mut info = MaybeUninit::<stcp_tcp_info>::uninit();
        // SAFETY: live stack, valid output pointer.
        unsafe {
            assert_eq!(stcp_shutdown(client.0, id), STCP_ERR_INVALID_CONNECTION);
            assert_eq!(stcp_close(client.0, id), STCP_ERR_INVALID_CONNECTION);
            assert_eq!(stcp_abort(client.0, id), STCP_ERR_INVALID_CONNECTION);
            assert_eq!(
                stcp_set_nodelay(client.0, id, true),
                STCP_ERR_INVALID_CONNECTION
            );
            assert_eq!(
                stcp_set_keepalive(client.0, id, 0),
                STCP_ERR_INVALID_CONNECTION
            );
            assert_eq!(
                stcp_conn_info(client.0, id, info.as_mut_ptr()),
                STCP_ERR_INVALID_CONNECTION
            );
        }
    }
    // Use after free of a connection: close it, then every call with its id fails, even after
    // a new connection may have reused its slot.
    assert_eq!(client.send(c, b"bye"), 3);
    // SAFETY: live stack.
    assert_eq!(unsafe { stcp_close(client.0, c) }, STCP_OK);
    let now = run(&client, &server, now, 1000, || {
        server
            .events()
            .iter()
            .any(|e| e.kind == stcp_event_kind::STCP_EVENT_PEER_CLOSED)
    });
    assert_eq!(client.send(c, b"x"), STCP_ERR_INVALID_CONNECTION as isize);
    assert_eq!(
        client.recv(c, &mut buf),
        STCP_ERR_INVALID_CONNECTION as isize
    );
    // SAFETY: live stack.
    unsafe {
        assert_eq!(stcp_close(client.0, c), STCP_ERR_INVALID_CONNECTION);
        assert_eq!(stcp_abort(client.0, c), STCP_ERR_INVALID_CONNECTION);
        assert_eq!(stcp_shutdown(client.0, c), STCP_ERR_INVALID_CONNECTION);
    }
    let c2 = client.connect(now, "10.0.0.2:80").unwrap();
    assert_ne!(c2, c);
    assert_eq!(client.send(c, b"x"), STCP_ERR_INVALID_CONNECTION as isize);
    // The server still reads the data and the end of stream.
    assert_eq!(server.recv(s, &mut buf), 3);
    assert_eq!(&buf[..3], b"bye");
    assert_eq!(server.recv(s, &mut buf), 0);
    // Abort makes the id stale at once.
    // SAFETY: live stack.
    assert_eq!(unsafe { stcp_abort(server.0, s) }, STCP_OK);
    assert_eq!(
        server.recv(s, &mut buf),
        STCP_ERR_INVALID_CONNECTION as isize
    );
}

#[test]
fn stale_and_unknown_listener_ids() {
    let server = Stack::new("10.0.0.2");
    let l = server.listen("10.0.0.2:80").unwrap();
    assert_eq!(server.accept(l), Err(STCP_ERR_DONE));
    assert_eq!(server.accept(l ^ 1), Err(STCP_ERR_INVALID_LISTENER));
    // SAFETY: live stack.
    unsafe {
        assert_eq!(
            stcp_close_listener(server.0, l ^ 1),
            STCP_ERR_INVALID_LISTENER
        );
        assert_eq!(stcp_close_listener(server.0, l), STCP_OK);
        assert_eq!(stcp_close_listener(server.0, l), STCP_ERR_INVALID_LISTENER);
    }
    assert_eq!(server.accept(l), Err(STCP_ERR_INVALID_LISTENER));
    // The port is free again, under a new id.
    let l2 = server.listen("10.0.0.2:80").unwrap();
    assert_ne!(l2, l);
    assert_eq!(server.accept(l), Err(STCP_ERR_INVALID_LISTENER));
    assert_eq!(server.accept(l2), Err(STCP_ERR_DONE));
}

#[test]
fn buffers_too_small_lose_nothing() {
    let client = Stack::new("10.0.0.1");
    client.connect(0, "10.0.0.2:80").unwrap();
    let mut buf = vec![0u8; 1500];
    // SAFETY: live stack; `buf` is writable for every capacity used.
    unsafe {
        assert_eq!(stcp_mtu(client.0), 1500);
        let r = stcp_poll_transmit(client.0, 0, buf.as_mut_ptr(), 1499);
        assert_eq!(r, STCP_ERR_BUFFER_TOO_SMALL as isize);
        assert_eq!(
            stcp_poll_transmit(client.0, 0, buf.as_mut_ptr(), 0),
            STCP_ERR_BUFFER_TOO_SMALL as isize
        );
        let n = stcp_poll_transmit(client.0, 0, buf.as_mut_ptr(), 1500);
        assert!(n >= 40, "the SYN is still there: {n}");
        assert_eq!(
            stcp_poll_transmit(client.0, 0, buf.as_mut_ptr(), 1500),
            STCP_ERR_DONE as isize
        );
    }
    let (client, _server, c, _s, _) = connected();
    let mut one = [0u8; 1];
    // SAFETY: live stack; a zero capacity is checked before use.
    let r = unsafe { stcp_recv(client.0, c, one.as_mut_ptr(), 0) };
    assert_eq!(r, STCP_ERR_BUFFER_TOO_SMALL as isize);
    assert_eq!(client.recv(c, &mut one), STCP_ERR_WOULD_BLOCK as isize);
    // Lengths beyond PTRDIFF_MAX are refused before any access.
    // SAFETY: as above.
    let r = unsafe { stcp_send(client.0, c, one.as_ptr(), usize::MAX) };
    assert_eq!(r, STCP_ERR_INVALID as isize);
}

#[test]
fn address_and_option_errors() {
    let s = Stack::new("10.0.0.1");
    assert_eq!(s.listen("10.0.0.1:0"), Err(STCP_ERR_PORT_ZERO));
    assert_eq!(s.listen("10.9.9.9:80"), Err(STCP_ERR_ADDRESS_NOT_LOCAL));
    assert!(s.listen("0.0.0.0:80").is_ok());
    assert_eq!(s.listen("0.0.0.0:80"), Err(STCP_ERR_ADDRESS_IN_USE));
    assert_eq!(s.connect(0, "0.0.0.0:80"), Err(STCP_ERR_BAD_REMOTE));
    assert_eq!(s.connect(0, "10.0.0.2:0"), Err(STCP_ERR_BAD_REMOTE));
    assert_eq!(s.connect(0, "[::2]:80"), Err(STCP_ERR_NO_LOCAL_ADDRESS));
    let a = sockaddr_from("10.0.0.1:81".parse().unwrap());
    let mut id = 0;
    let opts = stcp_listen_options {
        backlog: 0,
        syn_backlog: 1,
    };
    let mut unix = a;
    unix.ss_family = libc::AF_UNIX as libc::sa_family_t;
    // SAFETY: live stack; `a` and `unix` are whole sockaddr_storage values, every length used
    // is at most their size.
    unsafe {
        let short = size_of::<sockaddr_in>() - 1;
        assert_eq!(
            stcp_listen(s.0, ptr(&a), short, null(), &mut id),
            STCP_ERR_BAD_ADDRESS
        );
        assert_eq!(
            stcp_listen(
                s.0,
                ptr(&unix),
                size_of::<sockaddr_storage>(),
                null(),
                &mut id
            ),
            STCP_ERR_BAD_ADDRESS
        );
        assert_eq!(
            stcp_listen(s.0, ptr(&a), size_of::<sockaddr_in>(), &opts, &mut id),
            STCP_ERR_BAD_BACKLOG
        );
        let mut d = MaybeUninit::<stcp_listen_options>::uninit();
        assert_eq!(stcp_listen_options_default(d.as_mut_ptr()), STCP_OK);
        assert_eq!(
            stcp_listen(s.0, ptr(&a), size_of::<sockaddr_in>(), d.as_ptr(), &mut id),
            STCP_OK
        );
        // Connect options: a local address that is not ours.
        let mut o: stcp_connect_options = core::mem::zeroed();
        o.local = sockaddr_from("10.7.7.7:0".parse().unwrap());
        let r = sockaddr_from("10.0.0.2:80".parse().unwrap());
        let rl = size_of::<sockaddr_in>();
        assert_eq!(
            stcp_connect(s.0, 0, ptr(&r), rl, &o, &mut id),
            STCP_ERR_ADDRESS_NOT_LOCAL
        );
        o.local = sockaddr_from("10.0.0.1:5000".parse().unwrap());
        o.nodelay = true;
        o.send_buffer = 4096;
        assert_eq!(stcp_connect(s.0, 0, ptr(&r), rl, &o, &mut id), STCP_OK);
        let mut info = MaybeUninit::<stcp_tcp_info>::uninit();
        assert_eq!(stcp_conn_info(s.0, id, info.as_mut_ptr()), STCP_OK);
        let info = info.assume_init();
        assert_eq!(info.state, stcp_tcp_state::STCP_STATE_SYN_SENT);
        assert!(!info.nagle);
        let local = crate::addr::storage_addr(&info.local).unwrap();
        assert_eq!(local, Some("10.0.0.1:5000".parse().unwrap()));
        assert_eq!(
            stcp_connect(s.0, 0, ptr(&r), rl, &o, &mut id),
            STCP_ERR_ADDRESS_IN_USE
        );
    }
    // A stack whose configuration is invalid is not created.
    let mut c = config("10.0.0.1");
    c.mtu = 10;
    // SAFETY: `c` is an initialized config.
    unsafe {
        assert!(stcp_stack_new(&c).is_null());
        assert_eq!(stcp_config_validate(&c), STCP_ERR_BAD_MTU);
    }
}

#[test]
fn handshake_transfer_and_close() {
    let (client, server, c, s, now) = connected();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut now = now;
    let mut eof = false;
    for _ in 0..100_000 {
        if sent < data.len() {
            let n = client.send(c, &data[sent..]);
            if n > 0 {
                sent += n as usize;
                if sent == data.len() {
                    // SAFETY: live stack.
                    assert_eq!(unsafe { stcp_shutdown(client.0, c) }, STCP_OK);
                }
            } else {
                assert_eq!(n, STCP_ERR_WOULD_BLOCK as isize);
            }
        }
        pump(&client, &server, now);
        loop {
            let n = server.recv(s, &mut buf);
            if n > 0 {
                got.extend_from_slice(&buf[..n as usize]);
            } else {
                eof = n == 0;
                break;
            }
        }
        if eof {
            break;
        }
        // SAFETY: live stacks.
        let next = unsafe { stcp_poll_timeout(client.0).min(stcp_poll_timeout(server.0)) };
        if next != u64::MAX {
            now = now.max(next);
            // SAFETY: live stacks.
            unsafe {
                stcp_handle_timeout(client.0, now);
                stcp_handle_timeout(server.0, now);
            }
        }
    }
    assert!(eof);
    assert_eq!(got, data);
    // SAFETY: live stacks.
    unsafe {
        assert_eq!(stcp_shutdown(client.0, c), STCP_ERR_ALREADY_SHUTDOWN);
        assert_eq!(stcp_close(server.0, s), STCP_OK);
        assert_eq!(stcp_close(client.0, c), STCP_OK);
    }
    run(&client, &server, now, 100, || {
        // SAFETY: live stacks.
        unsafe { stcp_connection_count(server.0) == 0 && stcp_connection_count(client.0) <= 1 }
    });
    let mut st = MaybeUninit::<stcp_stack_counters>::uninit();
    // SAFETY: live stack, writable output.
    assert_eq!(unsafe { stcp_stats(server.0, st.as_mut_ptr()) }, STCP_OK);
    // SAFETY: written on STCP_OK.
    let st = unsafe { st.assume_init() };
    assert_eq!(st.bytes_received, data.len() as u64);
    assert_eq!(st.passive_opens, 1);
}

#[test]
fn a_panic_poisons_the_stack() {
    let s = Stack::new("10.0.0.1");
    // SAFETY: a live stack.
    let r: c_int = unsafe {
        crate::stack::with_stack(s.0, |_| -> Result<c_int, c_int> { panic!("test panic") })
    };
    assert_eq!(r, STCP_ERR_PANIC);
    let mut buf = [0u8; 1500];
    // SAFETY: a live (poisoned) stack.
    unsafe {
        assert_eq!(stcp_handle_timeout(s.0, 0), STCP_ERR_PANIC);
        assert_eq!(
            stcp_poll_transmit(s.0, 0, buf.as_mut_ptr(), buf.len()),
            STCP_ERR_PANIC as isize
        );
        assert_eq!(stcp_poll_timeout(s.0), u64::MAX);
    }
    // Freeing a poisoned stack is fine (Drop).
}

// ---- the link -----------------------------------------------------------------------------

struct Link(*mut stcp_link);

impl Drop for Link {
    fn drop(&mut self) {
        // SAFETY: from stcp_link_new, freed once.
        unsafe { stcp_link_free(self.0) }
    }
}

fn link_config(mac: [u8; 6]) -> stcp_link_config {
    let mut c = MaybeUninit::<stcp_link_config>::uninit();
    // SAFETY: writable memory for a stcp_link_config.
    assert_eq!(unsafe { stcp_link_config_default(c.as_mut_ptr()) }, STCP_OK);
    // SAFETY: initialized by stcp_link_config_default.
    let mut c = unsafe { c.assume_init() };
    c.hardware_addr = mac;
    c
}

#[test]
fn link_errors_and_arp() {
    let stack = Stack::new("10.0.0.2");
    let n: *mut stcp_link = null_mut();
    let mut frame = vec![0u8; 1514];
    // SAFETY: the NULL link / stack / config / outputs are checked before use; the other
    // pointers are valid.
    unsafe {
        assert!(stcp_link_new(null()).is_null());
        stcp_link_free(n);
        assert_eq!(stcp_link_config_default(null_mut()), STCP_ERR_NULL);
        assert_eq!(stcp_link_config_validate(null()), STCP_ERR_NULL);
        let zero = link_config([0; 6]);
        assert_eq!(stcp_link_config_validate(&zero), STCP_ERR_INVALID);
        assert!(stcp_link_new(&zero).is_null());
        let multicast = link_config([1, 0, 0, 0, 0, 1]);
        assert_eq!(stcp_link_config_validate(&multicast), STCP_ERR_INVALID);
        let mut bad = link_config([2, 0, 0, 0, 0, 1]);
        bad.gateway_v4 = sockaddr_from("[::1]:0".parse().unwrap());
        assert_eq!(stcp_link_config_validate(&bad), STCP_ERR_BAD_ADDRESS);
        let mut bad = link_config([2, 0, 0, 0, 0, 1]);
        bad.prefix_count = STCP_MAX_PREFIXES + 1;
        assert_eq!(stcp_link_config_validate(&bad), STCP_ERR_INVALID);
        let mut bad = link_config([2, 0, 0, 0, 0, 1]);
        bad.prefixes[0] = stcp_prefix {
            addr: sockaddr_from("10.0.0.0:0".parse().unwrap()),
            prefix_len: 33,
        };
        bad.prefix_count = 1;
        assert_eq!(stcp_link_config_validate(&bad), STCP_ERR_INVALID);
        bad.prefixes[0].prefix_len = 24;
        assert_eq!(stcp_link_config_validate(&bad), STCP_OK);

        assert_eq!(stcp_link_announce(n, stack.0), STCP_ERR_NULL);
        assert_eq!(
            stcp_link_handle_frame(n, stack.0, 0, frame.as_ptr(), 60),
            STCP_ERR_NULL
        );
        assert_eq!(
            stcp_link_poll_frame(n, stack.0, 0, frame.as_mut_ptr(), 1514),
            STCP_ERR_NULL as isize
        );
        assert_eq!(stcp_link_poll_timeout(n, stack.0), u64::MAX);
        assert_eq!(stcp_link_handle_timeout(n, stack.0, 0), STCP_ERR_NULL);
        assert_eq!(
            stcp_link_frame_buffer_len(n, stack.0),
            STCP_ERR_NULL as isize
        );
        let mut ls = MaybeUninit::<stcp_link_counters>::uninit();
        assert_eq!(stcp_link_stats(n, ls.as_mut_ptr()), STCP_ERR_NULL);
    }
    let cfg = link_config([2, 0, 0, 0, 0, 2]);
    // SAFETY: an initialized config.
    let link = Link(unsafe { stcp_link_new(&cfg) });
    assert!(!link.0.is_null());
    // SAFETY: live link and stack; NULL stack / outputs are checked; buffers are valid.
    unsafe {
        assert_eq!(stcp_link_announce(link.0, null_mut()), STCP_ERR_NULL);
        assert_eq!(stcp_link_frame_buffer_len(link.0, stack.0), 1514);
        assert_eq!(
            stcp_link_poll_frame(link.0, stack.0, 0, frame.as_mut_ptr(), 1513),
            STCP_ERR_BUFFER_TOO_SMALL as isize
        );
        assert_eq!(
            stcp_link_poll_frame(link.0, stack.0, 0, null_mut(), 1514),
            STCP_ERR_NULL as isize
        );
        assert_eq!(
            stcp_link_poll_frame(link.0, stack.0, 0, frame.as_mut_ptr(), 1514),
            STCP_ERR_DONE as isize
        );
        // Garbage is dropped with a reason.
        let r = stcp_link_handle_frame(link.0, stack.0, 0, frame.as_ptr(), 5);
        assert_eq!(r, stcp_link_drop_reason::STCP_LINK_DROP_BAD_FRAME as c_int);
        // An ARP request for 10.0.0.2 from 10.0.0.1 (02:00:00:00:00:01) is answered.
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        arp.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        arp.resize(60, 0);
        assert_eq!(
            stcp_link_handle_frame(link.0, stack.0, 0, arp.as_ptr(), arp.len()),
            0
        );
        let n = stcp_link_poll_frame(link.0, stack.0, 0, frame.as_mut_ptr(), frame.len());
        assert!(n >= 42, "an ARP reply: {n}");
        assert_eq!(&frame[..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&frame[12..14], &[0x08, 0x06]);
        assert_eq!(&frame[20..22], &[0, 2], "ARP reply");
        let mut ls = MaybeUninit::<stcp_link_counters>::uninit();
        assert_eq!(stcp_link_stats(link.0, ls.as_mut_ptr()), STCP_OK);
        let ls = ls.assume_init();
        assert_eq!(ls.frames_in, 2);
        assert_eq!(ls.arp_requests_in, 1);
        assert_eq!(
            ls.drops[stcp_link_drop_reason::STCP_LINK_DROP_BAD_FRAME as usize],
            1
        );
    }
}
