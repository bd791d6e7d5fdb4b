//! The process's CPU time, for the line kafkit-perf prints after its summary: CPU seconds per
//! million records, user and system, and how many produce requests and batches carried them.
//! Kafka's tool has no such line; it is how settings compare in cost, not only in speed.

use std::time::Duration;

/// User and system CPU time the process has used so far, from `/proc/self/stat` (Linux);
/// `None` elsewhere.
pub(crate) fn process_cpu() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name, in clock ticks
    // of USER_HZ, which Linux fixes at 100 for this interface.
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let tick = Duration::from_millis(10);
    Some((tick * ticks(11)? as u32, tick * ticks(12)? as u32))
}

/// The CPU line: `CPU per million records: 0.52 s user + 0.11 s sys = 0.63 s (over 1000000
/// records); 1234 produce requests, 5678 batches`.
pub(crate) fn cpu_line(
    start: Option<(Duration, Duration)>,
    end: Option<(Duration, Duration)>,
    records: u64,
    requests: u64,
    batches: u64,
    batch_bytes: u64,
    embedded_broker: bool,
) -> String {
    // Bytes per request show how full each request went out (item 5 of the efficiency work:
    // with one partition and 16 KiB batches, one batch per request).
    let per_request = batch_bytes.checked_div(requests).unwrap_or(0);
    let counts =
        format!("{requests} produce requests, {batches} batches, {per_request} batch bytes per request");
    let (Some((u0, s0)), Some((u1, s1))) = (start, end) else {
        return format!("CPU: not measured on this platform; {counts}");
    };
    let per_million = |d: Duration| d.as_secs_f64() * 1e6 / records.max(1) as f64;
    let (user, sys) = (
        per_million(u1.saturating_sub(u0)),
        per_million(s1.saturating_sub(s0)),
    );
    format!(
        "CPU per million records: {user:.2} s user + {sys:.2} s sys = {:.2} s (over {records} records{}); {counts}",
        user + sys,
        if embedded_broker { ", the embedded broker included" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_scales_to_a_million_records() {
        let line = cpu_line(
            Some((Duration::from_millis(100), Duration::from_millis(50))),
            Some((Duration::from_millis(600), Duration::from_millis(150))),
            500_000,
            120,
            480,
            120 * 65_536,
            false,
        );
        assert_eq!(
            line,
            "CPU per million records: 1.00 s user + 0.20 s sys = 1.20 s (over 500000 records); 120 produce requests, 480 batches, 65536 batch bytes per request"
        );
    }

    #[test]
    fn this_process_has_a_cpu_time_on_linux() {
        if cfg!(target_os = "linux") {
            let (user, sys) = process_cpu().expect("readable");
            assert!(user + sys < Duration::from_secs(3600));
        }
    }
}
