//! The host's end of `--forward` on QEMU's user network.
//!
//! QEMU's own forwarding (libslirp's `hostfwd`) listens with a backlog of
//! one connection. When many clients connect at once, the kernel drops
//! what does not fit (`ListenOverflows` in `nstat`); a client whose
//! handshake was dropped that way may wait many seconds for its answer or
//! never get one (ApacheBench with 50 clients lost 1 % of its requests).
//!
//! So the runner listens on the host's port itself, with a backlog of
//! [`BACKLOG`], and relays each connection to QEMU's forwarding, which
//! listens on [`QEMU_PORTS`] ports of 127.0.0.1 below the ephemeral range, all
//! forwarded to the same guest port. The relay connects to them in turn,
//! one connection at a time, and where a handshake is dropped all the
//! same, it gives up on it early and tries again.
//!
//! QEMU gives the guest each connection from the host's source port. The
//! guest's TCP (mirage-tcpip) answers a new connection from a port whose
//! last connection is in its TIME-WAIT with an acknowledgement of the old
//! one, and the client tries again only seconds later. Linux numbers the
//! ports of connections to one address in sequence, but to sixteen
//! addresses the sequences meet: the relay takes its source ports in
//! turn itself, the whole ephemeral range before it comes back to one.

use crate::boot::network::Forward;
use anyhow::{bail, Context as _, Result};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Connections the host's port holds until the relay accepts them (the
/// kernel caps it at `net.core.somaxconn`, 4096 on current Linux).
const BACKLOG: i32 = 4096;
/// QEMU's ports for each forward: each holds two connections until QEMU
/// accepts them, so these many make a dropped handshake rare (ApacheBench
/// with 50 clients on the website: 411 dropped of 3,000 with one port).
const QEMU_PORTS: usize = 16;
/// How long one connection attempt to QEMU's port may take: on loopback a
/// handshake takes microseconds, unless the kernel dropped it.
const ATTEMPT: Duration = Duration::from_millis(50);
/// How long a connection waits for QEMU's port before it is closed (QEMU
/// opens it as it starts).
const PATIENCE: Duration = Duration::from_secs(30);
/// Each connection is two threads that only copy.
const STACK_BYTES: usize = 64 * 1024;

/// The relays of a run's forwards; they stop when dropped.
pub(crate) struct Relays {
    stop: Arc<AtomicBool>,
    listeners: Vec<Arc<TcpListener>>,
    acceptors: Vec<JoinHandle<()>>,
    /// QEMU's side: its forwarding from these ports of 127.0.0.1,
    /// [`QEMU_PORTS`] for each forward.
    pub(crate) inner: Vec<Forward>,
}

impl Relays {
    /// Listens on each forward's host port and relays it to ports of
    /// 127.0.0.1 for QEMU to forward to the guest ([`Relays::inner`]).
    pub(crate) fn start(forwards: &[Forward]) -> Result<Relays> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut relays = Relays {
            stop: stop.clone(),
            listeners: Vec::new(),
            acceptors: Vec::new(),
            inner: Vec::new(),
        };
        for forward in forwards {
            let listener = Arc::new(listen(forward.host)?);
            let ports = free_ports(QEMU_PORTS)?;
            relays.inner.extend(ports.iter().map(|&port| Forward {
                host: port,
                guest: forward.guest,
            }));
            let qemu = Arc::new(QemuPorts {
                addresses: ports
                    .into_iter()
                    .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                    .collect(),
                next: AtomicUsize::new(0),
                sources: SourcePorts::new(),
                connecting: Mutex::new(()),
            });
            let (stop, accepting) = (stop.clone(), listener.clone());
            relays.acceptors.push(
                std::thread::Builder::new()
                    .name(format!("relay {}", forward.host))
                    .spawn(move || accept_all(&accepting, &qemu, &stop))?,
            );
            relays.listeners.push(listener);
        }
        Ok(relays)
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for listener in &self.listeners {
            // Wakes the acceptor's accept(2) (Linux) with an error; the
            // listener itself closes after the join, with the last Arc.
            // SAFETY: the descriptor is open: `self.listeners` holds it.
            unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
        }
        for acceptor in self.acceptors.drain(..) {
            let _ = acceptor.join();
        }
    }
}

/// A listening socket on 127.0.0.1:`port` with a backlog of [`BACKLOG`].
fn listen(port: u16) -> Result<TcpListener> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).with_context(|| {
        format!(
            "cannot listen on 127.0.0.1:{port} for --forward\nhelp: choose a free host port (`ss -ltn` lists those in use)"
        )
    })?;
    // listen(2) again on a listening socket sets its backlog (Linux).
    // SAFETY: a plain call on a descriptor `listener` owns.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(std::io::Error::last_os_error()).context("listen(2)");
    }
    Ok(listener)
}

/// Where QEMU's ports are drawn from: below the ephemeral range, so that
/// between the draw and QEMU's listening neither the kernel (for any
/// process's connections) nor the relay's own source ports take them.
const QEMU_PORTS_FROM: u16 = 10_000;

/// `count` different ports of 127.0.0.1 free now, for QEMU to listen on
/// (see [`QEMU_PORTS_FROM`]).
fn free_ports(count: usize) -> Result<Vec<u16>> {
    let (ephemeral, _) = ephemeral_range();
    let span = u64::from(ephemeral.saturating_sub(QEMU_PORTS_FROM).max(1));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut draw = u64::from(std::process::id()) << 32 | u64::from(nanos);
    let mut ports = Vec::new();
    for _ in 0..count * 100 {
        if ports.len() == count {
            break;
        }
        // A linear congruential step (Knuth's MMIX constants): spread, not secret.
        draw = draw
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let port = QEMU_PORTS_FROM + ((draw >> 33) % span) as u16;
        if !ports.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            ports.push(port);
        }
    }
    if ports.len() < count {
        bail!(
            "cannot find {count} free ports of 127.0.0.1 between {QEMU_PORTS_FROM} and {ephemeral} for QEMU's forwarding"
        );
    }
    Ok(ports)
}

/// `net.ipv4.ip_local_port_range`: where the kernel takes the source ports
/// of connections.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut ends = text.split_whitespace().map(str::parse::<u16>);
            Some((ends.next()?.ok()?, ends.next()?.ok()?))
        })
        .filter(|(first, last)| first < last)
        .unwrap_or((32768, 60999))
}

/// QEMU's ports of one forward, and whose turn it is.
struct QemuPorts {
    addresses: Vec<SocketAddr>,
    next: AtomicUsize,
    sources: SourcePorts,
    /// Connecting one at a time keeps their backlogs from overflowing.
    connecting: Mutex<()>,
}

impl QemuPorts {
    /// One attempt at a connection to the next of QEMU's ports, from the
    /// next source port free.
    fn attempt(&self) -> std::io::Result<TcpStream> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.addresses.len();
        let address = SockAddr::from(self.addresses[turn]);
        for _ in 0..self.sources.count {
            let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
            let source = SocketAddr::from((Ipv4Addr::LOCALHOST, self.sources.next()));
            match socket.bind(&source.into()) {
                Ok(()) => {
                    socket.connect_timeout(&address, ATTEMPT)?;
                    return Ok(socket.into());
                }
                // Another socket has it: on to the next.
                Err(e) if e.kind() == ErrorKind::AddrInUse => {}
                Err(e) => return Err(e),
            }
        }
        Err(ErrorKind::AddrInUse.into())
    }
}

/// The ephemeral port range (`net.ipv4.ip_local_port_range`), taken in
/// turn from a point that differs from one run to the next.
struct SourcePorts {
    first: u16,
    count: u16,
    next: AtomicUsize,
}

impl SourcePorts {
    fn new() -> SourcePorts {
        let (first, last) = ephemeral_range();
        let start = std::process::id() as usize;
        SourcePorts {
            first,
            count: last - first + 1,
            next: AtomicUsize::new(start),
        }
    }

    fn next(&self) -> u16 {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % usize::from(self.count);
        self.first + turn as u16
    }
}

fn accept_all(listener: &TcpListener, qemu: &Arc<QemuPorts>, stop: &AtomicBool) {
    loop {
        match listener.accept() {
            Ok((client, _)) => {
                let qemu = qemu.clone();
                let spawned = std::thread::Builder::new()
                    .stack_size(STACK_BYTES)
                    .spawn(move || relay(client, &qemu));
                if spawned.is_err() {
                    // Out of threads: that client is closed, the rest go on.
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Err(_) if stop.load(Ordering::SeqCst) => return,
            // Out of descriptors, or a client gone before it was accepted.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Copies between `client` and one of QEMU's ports both ways until both
/// sides have finished sending.
fn relay(client: TcpStream, qemu: &QemuPorts) {
    let Some(server) = connect(qemu) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_reader), Ok(server_reader)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || pipe(client_reader, server));
    pipe(server_reader, client);
    if let Ok(upstream) = upstream {
        let _ = upstream.join();
    }
}

/// Copies `from` to `to` until `from` ends, then ends `to`'s sending side
/// (a half close, as the peer did).
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// A connection to one of QEMU's ports, tried again (on the next port)
/// while QEMU is not listening yet (refused) or the kernel dropped the
/// handshake (no answer in [`ATTEMPT`]); `None` after [`PATIENCE`].
fn connect(qemu: &QemuPorts) -> Option<TcpStream> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let attempt = {
            let _one_at_a_time = qemu.connecting.lock().unwrap_or_else(|e| e.into_inner());
            qemu.attempt()
        };
        match attempt {
            Ok(stream) => return Some(stream),
            Err(_) if Instant::now() > deadline => return None,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    /// A stand-in for QEMU's forwarding as libslirp listens (a backlog of
    /// one) that answers each connection with what it read, reversed,
    /// after the client's half close, and sends each one's source port
    /// (the guest sees it) to `sources`.
    fn slirp_like(port: u16, sources: std::sync::mpsc::Sender<u16>) -> JoinHandle<()> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        unsafe { libc::listen(listener.as_raw_fd(), 1) };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let _ = sources.send(stream.peer_addr().unwrap().port());
                std::thread::spawn(move || {
                    let mut asked = Vec::new();
                    stream.read_to_end(&mut asked).unwrap();
                    asked.reverse();
                    stream.write_all(&asked).unwrap();
                });
            }
        })
    }

    fn ask(port: u16, text: &[u8]) -> Vec<u8> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(text).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        answer
    }

    /// 3,000 connections in all: enough for Linux's own choice of source
    /// ports to sixteen addresses to repeat some (379 did, in one run).
    const WAVES: usize = 15;
    const CLIENTS_AT_ONCE: usize = 200;

    #[test]
    fn many_clients_at_once_are_all_answered_each_from_a_source_port_of_its_own() {
        let host = free_ports(1).unwrap()[0];
        let relays = Relays::start(&[Forward { host, guest: 80 }]).unwrap();
        let ask_all = |numbers: std::ops::Range<usize>| {
            let clients: Vec<_> = numbers
                .map(|i| {
                    std::thread::spawn(move || (i, ask(host, format!("request {i}").as_bytes())))
                })
                .collect();
            move || {
                for client in clients {
                    let (i, answer) = client.join().unwrap();
                    let mut expected = format!("request {i}").into_bytes();
                    expected.reverse();
                    assert_eq!(answer, expected);
                }
            }
        };
        // The first clients come before QEMU listens: they wait.
        let first = ask_all(0..CLIENTS_AT_ONCE);
        std::thread::sleep(Duration::from_millis(300));
        let (sources, seen) = std::sync::mpsc::channel();
        let _servers: Vec<_> = relays
            .inner
            .iter()
            .map(|f| slirp_like(f.host, sources.clone()))
            .collect();
        first();
        // Then more, as many at once, until thousands came through.
        for wave in 1..WAVES {
            ask_all(wave * CLIENTS_AT_ONCE..(wave + 1) * CLIENTS_AT_ONCE)();
        }
        // No source port twice: a guest would take the second connection
        // for the first.
        let mut ports: Vec<u16> = seen.try_iter().collect();
        assert_eq!(ports.len(), WAVES * CLIENTS_AT_ONCE);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), WAVES * CLIENTS_AT_ONCE);
        assert_eq!(relays.inner.len(), QEMU_PORTS);
        assert!(relays.inner.iter().all(|f| f.guest == 80));
    }

    #[test]
    fn the_host_port_is_free_again_once_the_relays_are_dropped() {
        let host = free_ports(1).unwrap()[0];
        let relays = Relays::start(&[Forward { host, guest: 80 }]).unwrap();
        let taken = Relays::start(&[Forward { host, guest: 80 }]);
        let message = format!("{:#}", taken.err().unwrap());
        assert!(
            message.contains("help: choose a free host port"),
            "{message}"
        );
        drop(relays);
        TcpListener::bind((Ipv4Addr::LOCALHOST, host)).unwrap();
    }
}
