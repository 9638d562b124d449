//! The guest's console as the VMM gives it: the serial line (its stdout)
//! and the virtio console's socket, read as the bytes come, kept whole or
//! as a tail, and echoed through the console filter.

use super::TAIL_BYTES;
use crate::boot::console::ConsoleFilter;
use std::io::{Read, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ChildStdout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The console as it was read: all of it or its tail, and when it began.
pub(super) struct Record {
    keep_all: bool,
    start: Instant,
    pub(super) kept: Vec<u8>,
    /// Bytes dropped from the front (only when not keeping all).
    pub(super) dropped: u64,
    pub(super) first_output: Option<Duration>,
}

impl Record {
    pub(super) fn new(keep_all: bool, start: Instant) -> Record {
        Record {
            keep_all,
            start,
            kept: Vec::new(),
            dropped: 0,
            first_output: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.first_output.is_none() && !bytes.is_empty() {
            self.first_output = Some(self.start.elapsed());
        }
        self.kept.extend_from_slice(bytes);
        // Trim to the tail now and then, not at every read.
        if self.kept.len() > 2 * TAIL_BYTES {
            self.trim();
        }
    }

    /// Keeps only the last [`TAIL_BYTES`], unless keeping all.
    fn trim(&mut self) {
        if !self.keep_all && self.kept.len() > TAIL_BYTES {
            let cut = self.kept.len() - TAIL_BYTES;
            self.kept.drain(..cut);
            self.dropped += cut as u64;
        }
    }
}

/// How long the console reader lets output gather after a read of fewer
/// than [`DRIBBLE`] bytes before reading again: the serial line brings a
/// byte at a time, and reading (and echoing) each on its own would cost
/// two system calls per byte. Output is delayed by at most this much.
/// Larger reads (the virtio console's 4 KiB chunks, a full pipe) are
/// followed by the next read at once: sleeping after them would cap the
/// rate at what a pipe holds per sleep.
const GATHER: Duration = Duration::from_millis(2);
const DRIBBLE: usize = 1024;

/// Reads a VMM's console to its end into `record`, echoing it through
/// `filter` when there is one: the serial line (the VMM's stdout) and, with
/// `listener`, the virtio console's socket, in the order their bytes come.
pub(super) fn read_console(
    serial: ChildStdout,
    listener: Option<UnixListener>,
    mut record: Record,
    filter: Option<ConsoleFilter>,
) -> Record {
    // Bounded: a reader waits for the echo rather than piling up chunks
    // (the VMM then waits too, and QEMU holds the guest back).
    let (chunks, received) = mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let serial_closed = Arc::new(AtomicBool::new(false));
    {
        let chunks = chunks.clone();
        let serial_closed = Arc::clone(&serial_closed);
        std::thread::spawn(move || {
            forward(serial, &chunks);
            serial_closed.store(true, Ordering::SeqCst);
        });
    }
    if let Some(listener) = listener {
        std::thread::spawn(move || {
            if let Some(stream) = accept_console(&listener, &serial_closed) {
                forward(stream, &chunks);
            }
        });
    } else {
        drop(chunks);
    }
    let mut echo = filter.map(|filter| (filter, std::io::stdout()));
    for chunk in received {
        record.push(&chunk);
        if let Some((filter, out)) = echo.as_mut() {
            let mut out = out.lock();
            let _ = out.write_all(&filter.feed(&chunk));
            let _ = out.flush();
        }
    }
    record.trim();
    if let Some((filter, out)) = echo {
        let mut out = out.lock();
        let _ = out.write_all(&filter.finish());
        let _ = out.flush();
    }
    record
}

/// Console chunks read but not yet echoed, at most (each up to 64 KiB).
const CHUNKS_IN_FLIGHT: usize = 16;

/// Sends what `source` gives, chunk by chunk, until it ends.
fn forward(mut source: impl Read, chunks: &mpsc::SyncSender<Vec<u8>>) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = source.read(&mut buf) {
        if n == 0 || chunks.send(buf[..n].to_vec()).is_err() {
            break;
        }
        if n < DRIBBLE {
            std::thread::sleep(GATHER);
        }
    }
}

/// The VMM's connection to the virtio console's socket; `None` if the VMM
/// ended (its serial line closed) without making one.
fn accept_console(listener: &UnixListener, serial_closed: &AtomicBool) -> Option<UnixStream> {
    listener.set_nonblocking(true).ok()?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if serial_closed.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}
