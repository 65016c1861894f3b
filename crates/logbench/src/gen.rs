//! Realistic generated logs, seeded and reproducible: a few hundred message
//! templates with variables (ids, numbers, IPs, paths, user names,
//! durations), a level mix (mostly INFO, some WARNING, a few percent
//! ERROR/CRITICAL), dozens of services and sources, metadata objects, and
//! messages from about 60 bytes to 2 KB.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// SplitMix64: small, fast, and the same sequence on every platform and release.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SUBJECTS: [&str; 20] = [
    "request",
    "connection",
    "job",
    "payment",
    "session",
    "upload",
    "query",
    "cache entry",
    "message",
    "order",
    "invoice",
    "token",
    "replica",
    "shard",
    "container",
    "backup",
    "webhook",
    "report",
    "user profile",
    "index",
];
const ACTIONS: [&str; 15] = [
    "completed in {dur}ms",
    "failed after {n} attempts: {err}",
    "timed out after {dur}ms waiting for {ip}:{port}",
    "accepted from {ip} for user {user}",
    "retried ({n}/5) because {err}",
    "not found at {path}",
    "created with id {uuid}",
    "evicted, size {n} bytes",
    "rejected: quota of {n} exceeded for {user}",
    "moved from {path} to {path}",
    "started by {user} on node-{n}",
    "processed {n} records in {dur}ms",
    "checksum mismatch 0x{hex} != 0x{hex}",
    "lock held by {user} for {dur}ms",
    "queued behind {n} others",
];
const ERRORS: [&str; 8] = [
    "connection reset by peer",
    "deadline exceeded",
    "no route to host",
    "permission denied",
    "disk quota exceeded",
    "invalid argument",
    "service unavailable",
    "too many open files",
];
const USERS: [&str; 12] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "oscar",
];
const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"];

/// The number of distinct message templates: subjects x actions.
pub const TEMPLATES: usize = SUBJECTS.len() * ACTIONS.len();

fn fill(rng: &mut Rng, action: &str) -> String {
    let mut out = String::with_capacity(action.len() + 32);
    let mut rest = action;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let var = &rest[start + 1..end];
        match var {
            "dur" => out.push_str(&rng.below(5000).to_string()),
            "n" => out.push_str(&rng.below(100_000).to_string()),
            "err" => out.push_str(rng.pick::<&str>(&ERRORS)),
            "ip" => out.push_str(&format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                rng.below(256)
            )),
            "port" => out.push_str(&(1024 + rng.below(60000)).to_string()),
            "user" => out.push_str(rng.pick::<&str>(&USERS)),
            "path" => out.push_str(&format!(
                "/data/{}/{}.bin",
                rng.pick(&USERS),
                rng.below(10_000)
            )),
            "uuid" => out.push_str(&format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                rng.next_u64() as u32,
                rng.below(0x10000),
                rng.below(0x1000),
                rng.below(0x1000),
                rng.next_u64() & 0xffff_ffff_ffff
            )),
            "hex" => out.push_str(&format!("{:08x}", rng.next_u64() as u32)),
            _ => out.push_str(var),
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// One generated log, as a client sends it.
pub fn log(rng: &mut Rng, at: DateTime<Utc>) -> Value {
    let subject = rng.pick(&SUBJECTS);
    let action = rng.pick(&ACTIONS);
    let mut message = format!("{subject} {}", fill(rng, action));
    let roll = rng.below(100);
    let level = match roll {
        0 => "CRITICAL",
        1..=4 => "ERROR",
        5..=14 => "WARNING",
        15..=19 => "DEBUG",
        _ => "INFO",
    };
    // About 2% carry a stack trace, up to ~2 KB.
    if rng.below(50) == 0 {
        let frames = 5 + rng.below(25);
        for i in 0..frames {
            message.push_str(&format!(
                " at com.example.{}.Handler{}.call(Handler.java:{})",
                subject.replace(' ', "_"),
                i,
                rng.below(900)
            ));
        }
    }
    // Short messages get a trace reference, so that every message is 60 B or more.
    if message.len() < 60 {
        message.push_str(&format!(" trace={:016x}", rng.next_u64()));
    }
    if message.len() < 60 {
        message.push_str(&format!(" span={:016x}", rng.next_u64()));
    }
    json!({
        "timestamp": at.to_rfc3339(),
        "level": level,
        "message": message,
        "source": format!("host-{:02}", rng.below(60)),
        "service": format!("svc-{:02}", rng.below(40)),
        "metadata": {"request_id": format!("{:016x}", rng.next_u64()), "user": rng.pick(&USERS), "region": rng.pick(&REGIONS), "attempt": rng.below(4)},
    })
}

/// A log from a line of a real log file (a Loghub `.log` file, say): the
/// level is guessed from the words the line holds.
pub fn replayed(line: &str, rng: &mut Rng, at: DateTime<Utc>) -> Value {
    let upper = line.to_ascii_uppercase();
    let level = ["FATAL", "CRITICAL", "ERROR", "WARN", "DEBUG"]
        .iter()
        .find(|l| upper.contains(*l))
        .map_or("INFO", |l| if *l == "FATAL" { "CRITICAL" } else { l });
    json!({
        "timestamp": at.to_rfc3339(),
        "level": level,
        "message": line,
        "source": format!("replay-{:02}", rng.below(8)),
        "service": "replay",
    })
}

/// `n` logs with timestamps spread evenly over the `spread` before `end`.
pub fn batch(rng: &mut Rng, n: usize, end: DateTime<Utc>, spread: Duration) -> Vec<Value> {
    (0..n)
        .map(|_| {
            let back = if spread.is_zero() {
                0
            } else {
                rng.below(spread.num_milliseconds().max(1) as u64) as i64
            };
            log(rng, end - Duration::milliseconds(back))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_reproducible_with_realistic_shape() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        let a = batch(&mut Rng::new(7), 2000, now, Duration::hours(1));
        let b = batch(&mut Rng::new(7), 2000, now, Duration::hours(1));
        assert_eq!(a, b);
        assert_ne!(a, batch(&mut Rng::new(8), 2000, now, Duration::hours(1)));
        let sizes: Vec<usize> = a
            .iter()
            .map(|l| l["message"].as_str().unwrap().len())
            .collect();
        assert!(*sizes.iter().min().unwrap() >= 60);
        assert!(*sizes.iter().max().unwrap() <= 2500);
        assert!(sizes.iter().any(|s| *s > 600), "some long messages");
        let errors = a
            .iter()
            .filter(|l| matches!(l["level"].as_str(), Some("ERROR" | "CRITICAL")))
            .count();
        assert!((40..=200).contains(&errors), "{errors} errors of 2000");
        let templates: std::collections::HashSet<String> = a
            .iter()
            .map(|l| log_patterns::template_of(l["message"].as_str().unwrap()))
            .collect();
        assert!(templates.len() > 200, "{} templates", templates.len());
    }
}
