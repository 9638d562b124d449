//! The dns example (mirage-skeleton's applications/dns) and the resolver
//! it is tested with.
//!
//! The resolver listens on 127.0.0.1 (the guest reaches it at QEMU's
//! gateway address, which user networking maps to the host's loopback),
//! answers one name with one IPv4 address, says "no such name" to every
//! other question, and records what it was asked: plain DNS over UDP
//! (RFC 1035, section 4), the few fields a stub resolver's query and its
//! answer need. The guest gets its address by DHCP, asks for a name made
//! up for the run, and must log the address the resolver gave, then exit 0.

use super::vm::{ending_of, judged, Vm};
use crate::check::table::{Run, Verdict};
use anyhow::Result;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Boots the dns example `image` with our resolver as its DNS server and a
/// name only that resolver knows.
pub(crate) fn boot(
    runner: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    let (name, address) = made_up_name();
    let resolver = Resolver::start(&name, address)?;
    let args = [
        format!("--dns-servers=udp:10.0.2.2:{}", resolver.port()),
        format!("--domain-name={name}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let vm = Vm::start(
        runner,
        image,
        &["--net".into(), "user".into()],
        &args,
        timeout,
    )?;
    let (status, output) = vm.wait()?;
    let (verdict, run) = judge(status, &output, &resolver.asked(), &name, address);
    Ok((verdict, run, output))
}

/// A name made up for the run, and its address (one of TEST-NET-2, RFC
/// 5737), different from run to run.
pub(super) fn made_up_name() -> (String, Ipv4Addr) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        "probe-{}-{}.ocaml-unikraft.test",
        std::process::id(),
        nanos % 1_000_000
    );
    (name, Ipv4Addr::new(198, 51, 100, 1 + (nanos % 254) as u8))
}

/// A pass when nothing is wrong (see [`problems`]).
fn judge(
    status: Option<i32>,
    output: &str,
    asked: &[String],
    name: &str,
    address: Ipv4Addr,
) -> (Verdict, Option<Run>) {
    let problems = problems(status, output, asked, name, address);
    judged(&problems, output, ending_of(status))
}

/// What is wrong with a run of the dns example: it must have asked the
/// resolver for `name` (`asked`: the names the resolver was asked for),
/// logged `name: address` and exited 0.
pub(super) fn problems(
    status: Option<i32>,
    output: &str,
    asked: &[String],
    name: &str,
    address: Ipv4Addr,
) -> Vec<String> {
    let answer_line = format!("[INFO] [application] {name}: {address}");
    let mut problems = Vec::new();
    if status != Some(0) {
        problems.push(format!("{}, not 0", ending_of(status)));
    }
    if !asked.iter().any(|asked| asked == name) {
        problems.push(format!(
            "the resolver was not asked for {name} (asked: {})",
            if asked.is_empty() {
                "nothing".into()
            } else {
                asked.join(", ")
            }
        ));
    }
    if !output.lines().any(|line| line.ends_with(&answer_line)) {
        problems.push(format!("no `{answer_line}` line"));
    }
    problems
}

/// Record type A and class IN.
const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
/// Response codes.
const NO_ERROR: u8 = 0;
const NAME_ERROR: u8 = 3;

pub(crate) struct Resolver {
    port: u16,
    asked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Resolver {
    /// Starts answering `name` (lowercase, no final dot) with `address`.
    pub(crate) fn start(name: &str, address: Ipv4Addr) -> std::io::Result<Resolver> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let port = socket.local_addr()?.port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (name, log, done) = (name.to_owned(), asked.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !done.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(query) = Query::parse(&buf[..len]) else {
                    continue;
                };
                log.lock().unwrap().push(query.name.clone());
                let _ = socket.send_to(&query.answer(&name, address), from);
            }
        });
        Ok(Resolver {
            port,
            asked,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The names asked so far, in order.
    pub(crate) fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A query's header fields that the answer repeats, and its question.
struct Query<'a> {
    id: [u8; 2],
    recursion_desired: bool,
    /// The question as it came (name, type, class), for the answer.
    question: &'a [u8],
    name: String,
    qtype: u16,
    qclass: u16,
}

impl<'a> Query<'a> {
    /// A standard query with one question; `None` for anything else.
    fn parse(packet: &'a [u8]) -> Option<Query<'a>> {
        let header = packet.get(..12)?;
        let flags = u16::from_be_bytes([header[2], header[3]]);
        let is_query = flags & 0x8000 == 0 && (flags >> 11) & 0xf == 0;
        let questions = u16::from_be_bytes([header[4], header[5]]);
        if !is_query || questions != 1 {
            return None;
        }
        let mut labels = Vec::new();
        let mut at = 12;
        loop {
            let len = usize::from(*packet.get(at)?);
            at += 1;
            if len == 0 {
                break;
            }
            // A query's name is never compressed: a pointer is malformed.
            if len > 63 {
                return None;
            }
            let label = packet.get(at..at + len)?;
            labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
            at += len;
        }
        let fixed = packet.get(at..at + 4)?;
        Some(Query {
            id: [header[0], header[1]],
            recursion_desired: flags & 0x0100 != 0,
            question: &packet[12..at + 4],
            name: labels.join("."),
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
        })
    }

    /// The answer: `address` for an A question about `name`; no record
    /// (but no error) for another type of that name; a name error else.
    fn answer(&self, name: &str, address: Ipv4Addr) -> Vec<u8> {
        let ours = self.name == name && self.qclass == CLASS_IN;
        let record = ours && self.qtype == TYPE_A;
        let code = if ours { NO_ERROR } else { NAME_ERROR };
        // QR, authoritative, RD as asked, recursion available.
        let flags_high = 0x84 | u8::from(self.recursion_desired);
        let mut out = vec![self.id[0], self.id[1], flags_high, 0x80 | code];
        for count in [1u16, u16::from(record), 0, 0] {
            out.extend(count.to_be_bytes());
        }
        out.extend(self.question);
        if record {
            // The name by a pointer to the question's (offset 12).
            out.extend([0xc0, 12]);
            out.extend(TYPE_A.to_be_bytes());
            out.extend(CLASS_IN.to_be_bytes());
            out.extend(60u32.to_be_bytes());
            out.extend(4u16.to_be_bytes());
            out.extend(address.octets());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as a stub resolver sends it: id 0x1234, RD, one question,
    /// and an EDNS record in the additional section.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        for label in name.split('.') {
            packet.push(label.len() as u8);
            packet.extend(label.as_bytes());
        }
        packet.push(0);
        packet.extend(qtype.to_be_bytes());
        packet.extend(CLASS_IN.to_be_bytes());
        packet.extend([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        packet
    }

    #[test]
    fn a_question_about_our_name_gets_its_address() {
        let packet = query("Probe.Example.test", TYPE_A);
        let parsed = Query::parse(&packet).unwrap();
        assert_eq!(parsed.name, "probe.example.test");
        let answer = parsed.answer("probe.example.test", Ipv4Addr::new(198, 51, 100, 7));
        // Same id, a response with RD and RA, no error, 1 question, 1 answer.
        assert_eq!(
            answer[..12],
            [0x12, 0x34, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        );
        let question_end = 12 + "Probe.Example.test".len() + 2 + 4;
        assert_eq!(answer[12..question_end], packet[12..question_end]);
        assert_eq!(
            answer[question_end..],
            [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]
        );
    }

    #[test]
    fn other_names_and_types_get_no_address() {
        let address = Ipv4Addr::new(198, 51, 100, 7);
        let other = query("other.test", TYPE_A);
        let answer = Query::parse(&other).unwrap().answer("probe.test", address);
        assert_eq!(answer[3] & 0xf, NAME_ERROR);
        assert_eq!(answer[6..8], [0, 0]);
        let aaaa = query("probe.test", 28);
        let answer = Query::parse(&aaaa).unwrap().answer("probe.test", address);
        assert_eq!(answer[3] & 0xf, NO_ERROR);
        assert_eq!(answer[6..8], [0, 0]);
        // Not a query: a response, or a truncated packet.
        let mut response = query("probe.test", TYPE_A);
        response[2] |= 0x80;
        assert!(Query::parse(&response).is_none());
        assert!(Query::parse(&other[..14]).is_none());
    }

    #[test]
    fn the_guest_must_ask_and_log_the_answer() {
        let address = Ipv4Addr::new(198, 51, 100, 9);
        let asked = vec!["probe.test".to_owned()];
        let logged = "2026-12-05T10:00:00Z: [INFO] [application] probe.test: 198.51.100.9\n";
        assert!(matches!(
            judge(Some(0), logged, &asked, "probe.test", address).0,
            Verdict::Pass
        ));
        // Another address logged, nothing asked, or a failed exit: a fail.
        let other = logged.replace(".9\n", ".10\n");
        for (status, output, asked) in [
            (Some(0), other.as_str(), &asked[..]),
            (Some(0), logged, &[][..]),
            (Some(1), logged, &asked[..]),
        ] {
            let (verdict, _) = judge(status, output, asked, "probe.test", address);
            assert!(matches!(verdict, Verdict::Fail(_)), "{output} {asked:?}");
        }
    }

    #[test]
    fn it_answers_over_udp_and_records_the_question() {
        let resolver = Resolver::start("probe.test", Ipv4Addr::new(192, 0, 2, 1)).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
            .send_to(&query("probe.test", TYPE_A), ("127.0.0.1", resolver.port()))
            .unwrap();
        let mut buf = [0u8; 512];
        let len = client.recv(&mut buf).unwrap();
        assert_eq!(buf[len - 4..len], [192, 0, 2, 1]);
        assert_eq!(resolver.asked(), ["probe.test"]);
    }
}
