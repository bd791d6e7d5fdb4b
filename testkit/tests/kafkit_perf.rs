//! The `kafkit-perf` binary, run as a user runs it: against its embedded broker, against a
//! broker given by `--bootstrap`, and with bad producer properties.

use std::process::{Command, Output};

use kafkit_broker::cluster::lock_log;
use kafkit_broker::config::TopicConfig;
use kafkit_broker::{Cluster, ClusterConfig};

fn perf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafkit-perf"))
        .args(args)
        .output()
        .expect("run kafkit-perf")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The summary line: the one before the CPU line, which ends the output.
fn summary_line(lines: &[String]) -> &str {
    let cpu = lines.last().expect("output");
    assert!(
        cpu.starts_with("CPU per million records: ") && cpu.contains(" produce requests, "),
        "the CPU line ends the output: {cpu:?}"
    );
    lines.get(lines.len().wrapping_sub(2)).expect("a summary line")
}

/// The numbers of a summary line.
#[derive(Debug, PartialEq)]
struct Summary {
    records: u64,
    steady_state: bool,
    records_per_sec: f64,
    mb_per_sec: f64,
    avg_ms: f64,
    max_ms: f64,
    percentiles_ms: [u64; 4],
}

/// Parses `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency,
/// P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.`, checking every literal and the
/// number of decimals of each number (Kafka's `%d`, `%f`, `%.2f`).
fn parse_summary(line: &str) -> Option<Summary> {
    fn decimal(s: &str, places: usize) -> Option<f64> {
        let (int, frac) = s.split_once('.')?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        (digits(int) && digits(frac) && frac.len() == places).then(|| s.parse().ok())?
    }
    fn integer(s: &str) -> Option<u64> {
        s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse().ok())?
    }
    let (records, rest) = line.split_once(' ')?;
    let (steady_state, rest) = match rest.strip_prefix("steady state ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix("records sent, ")?;
    let (rate, rest) = rest.split_once(" records/sec (")?;
    let (mb, rest) = rest.split_once(" MB/sec), ")?;
    let (avg, rest) = rest.split_once(" ms avg latency, ")?;
    let (max, rest) = rest.split_once(" ms max latency, ")?;
    let (p50, rest) = rest.split_once(" ms 50th, ")?;
    let (p95, rest) = rest.split_once(" ms 95th, ")?;
    let (p99, rest) = rest.split_once(" ms 99th, ")?;
    let (p999, rest) = rest.split_once(" ms 99.9th.")?;
    if !rest.is_empty() {
        return None;
    }
    Some(Summary {
        records: integer(records)?,
        steady_state,
        records_per_sec: decimal(rate, 6)?,
        mb_per_sec: decimal(mb, 2)?,
        avg_ms: decimal(avg, 2)?,
        max_ms: decimal(max, 2)?,
        percentiles_ms: [integer(p50)?, integer(p95)?, integer(p99)?, integer(p999)?],
    })
}

fn assert_succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn summary_parser_follows_kafkas_format() {
    let line = "100000 records sent, 24271.844660 records/sec (2.31 MB/sec), 1099.58 ms avg latency, \
                1603.00 ms max latency, 1163 ms 50th, 1534 ms 95th, 1580 ms 99th, 1598 ms 99.9th.";
    let s = parse_summary(line).expect("Kafka's own line parses");
    assert_eq!((s.records, s.percentiles_ms), (100_000, [1163, 1534, 1580, 1598]));
    assert_eq!(parse_summary(&line.replace("24271.844660", "24271.84")), None);
    assert_eq!(parse_summary(&line.replace("99.9th.", "99.9th")), None);
}

/// Without --bootstrap the tool starts its embedded broker, produces every record, and ends
/// with Kafka's summary line.
#[test]
fn embedded_broker_run_ends_with_kafkas_summary_line() {
    let output = perf(&[
        "--topic",
        "perf-embedded",
        "--num-records",
        "3000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--partitions",
        "3",
        "--producer-props",
        "acks=all",
        "linger.ms=1",
    ]);
    assert_succeeded(&output);
    let lines = stdout_lines(&output);
    let last = summary_line(&lines);
    let summary = parse_summary(last).unwrap_or_else(|| panic!("not Kafka's format: {last:?}"));
    assert_eq!(summary.records, 3000);
    assert!(!summary.steady_state);
    assert!(summary.records_per_sec > 0.0 && summary.mb_per_sec >= 0.0);
    assert!(summary.avg_ms <= summary.max_ms);
    let p = summary.percentiles_ms;
    assert!(p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3], "{p:?}");
    assert!(p[3] as f64 <= summary.max_ms + 0.5, "{summary:?}");
    let cpu = lines.last().expect("the CPU line");
    assert!(
        cpu.contains("(over 3000 records, the embedded broker included)"),
        "{cpu}"
    );
}

/// With --warmup-records the last line is the steady-state summary of the records after the
/// warmup.
#[test]
fn warmup_adds_a_steady_state_summary() {
    let output = perf(&[
        "--topic",
        "perf-warmup",
        "--num-records",
        "1000",
        "--record-size",
        "10",
        "--throughput",
        "-1",
        "--warmup-records",
        "400",
    ]);
    assert_succeeded(&output);
    let lines = stdout_lines(&output);
    assert!(lines[0].starts_with("Warmup first 400 records."), "{lines:?}");
    let summaries: Vec<Summary> = lines.iter().filter_map(|l| parse_summary(l)).collect();
    assert_eq!(summaries.len(), 2, "{lines:?}");
    assert_eq!((summaries[0].records, summaries[0].steady_state), (1000, false));
    assert_eq!((summaries[1].records, summaries[1].steady_state), (600, true));
    assert!(summary_line(&lines).contains("steady state records sent"));
}

/// --bootstrap sends to the given broker (here one the test started), which stores every
/// record; --throughput paces the sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_runs_against_a_given_broker_and_paces() {
    let cluster = Cluster::start(ClusterConfig::default()).await.expect("cluster");
    cluster
        .state()
        .create_topic("perf-external", 2, TopicConfig::default())
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let output = tokio::task::spawn_blocking(move || {
        perf(&[
            "--topic",
            "perf-external",
            "--num-records",
            "600",
            "--record-size",
            "50",
            "--throughput",
            "2000",
            "--bootstrap",
            &bootstrap,
        ])
    })
    .await
    .expect("join");
    assert_succeeded(&output);
    let lines = stdout_lines(&output);
    let summary = parse_summary(summary_line(&lines)).expect("summary line");
    assert_eq!(summary.records, 600);
    // The pacing keeps the average rate at or below the target (the summary's interval also
    // includes the final flush, so it is lower still).
    assert!(summary.records_per_sec <= 2000.0 * 1.05, "{summary:?}");

    let metadata = cluster.state().metadata();
    let stored: i64 = metadata.topics["perf-external"]
        .partitions
        .iter()
        .map(|p| lock_log(&p.log).log_end_offset())
        .sum();
    assert_eq!(stored, 600);
}

/// A producer property kafkit does not know fails the run with an error naming the key.
#[test]
fn unknown_producer_property_is_an_error_naming_the_key() {
    let output = perf(&[
        "--topic",
        "perf-bad",
        "--num-records",
        "10",
        "--record-size",
        "10",
        "--throughput",
        "-1",
        "--producer-props",
        "acks=all",
        "linger.msec=5",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`linger.msec`"), "{stderr}");
    assert!(stdout_lines(&output).iter().all(|l| parse_summary(l).is_none()));

    let output = perf(&[
        "--topic",
        "perf-bad",
        "--num-records",
        "10",
        "--record-size",
        "10",
        "--throughput",
        "-1",
        "--producer-props",
        "linger.ms",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"linger.ms\""));
}

/// --throughput 0 (which would block forever in Kafka's tool) and a warmup as long as the run
/// are refused before anything starts.
#[test]
fn invalid_arguments_are_refused() {
    for (args, expected) in [
        (["--throughput", "0", "--warmup-records", "0"], "--throughput"),
        (
            ["--throughput", "-1", "--warmup-records", "10"],
            "--warmup-records",
        ),
    ] {
        let mut all = vec!["--topic", "t", "--num-records", "10", "--record-size", "1"];
        all.extend(args);
        let output = perf(&all);
        assert_eq!(output.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&output.stderr).contains(expected));
    }
}

/// Records the broker rejects (larger than its max.message.bytes) make the exit status
/// non-zero, with how many failed and the first error.
#[test]
fn failed_records_make_the_exit_status_non_zero() {
    let output = perf(&[
        "--topic",
        "perf-too-large",
        "--num-records",
        "3",
        "--record-size",
        "1100000",
        "--throughput",
        "-1",
        "--producer-props",
        "max.request.size=2000000",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 records failed") && stderr.contains("MESSAGE_TOO_LARGE"),
        "{stderr}"
    );
    let summary = parse_summary(summary_line(&stdout_lines(&output))).expect("summary");
    assert_eq!(summary.records, 0, "failed records are not counted as sent");
}

/// `--transactional-id` and `--transaction-duration-ms`, as Kafka's tool takes them: paced to
/// about 2 s of sending with 300 ms transactions, the records are stored in several committed
/// transactions (one COMMIT marker each), nothing is left open, and the CPU line counts the
/// transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_runs_commit_every_transaction_duration() {
    let cluster = Cluster::start(ClusterConfig::default()).await.expect("cluster");
    cluster
        .state()
        .create_topic("perf-txn", 1, TopicConfig::default())
        .expect("topic");
    let bootstrap = cluster.bootstrap_servers();
    let output = tokio::task::spawn_blocking(move || {
        perf(&[
            "--topic",
            "perf-txn",
            "--num-records",
            "2000",
            "--record-size",
            "50",
            "--throughput",
            "1000",
            "--bootstrap",
            &bootstrap,
            "--transactional-id",
            "perf-tx",
            "--transaction-duration-ms",
            "300",
        ])
    })
    .await
    .expect("join");
    assert_succeeded(&output);
    let lines = stdout_lines(&output);
    let summary = parse_summary(summary_line(&lines)).expect("summary line");
    assert_eq!(summary.records, 2000);
    let cpu = lines.last().expect("cpu line");
    let committed: u64 = cpu
        .rsplit_once(", ")
        .and_then(|(_, tail)| tail.strip_suffix(" transactions committed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a transaction count in {cpu:?}"));
    assert!(
        (4..=9).contains(&committed),
        "about 2 s / 300 ms transactions: {cpu}"
    );

    let metadata = cluster.state().metadata();
    let partition = &metadata.topics["perf-txn"].partitions[0];
    let log = lock_log(&partition.log);
    assert_eq!(
        log.log_end_offset(),
        2000 + committed as i64,
        "every record and one marker per transaction"
    );
    assert_eq!(
        log.last_stable_offset(),
        log.high_watermark(),
        "nothing left open"
    );
}
