//! Crash recovery under load: the `kafkit-broker` binary is killed with SIGKILL while kafkit's
//! producer (acks=all, idempotence) writes to it, restarted on the same data directory and
//! port while the producer keeps running, and what the producer was told is checked against
//! what is stored.
//!
//! Each seed chooses the payloads, the sticky partitioner's draws, how many acknowledgements
//! to wait for before each of two kills, and how long the broker stays down.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafkit_broker::cluster::CLEAN_SHUTDOWN_FILE;
use kafkit_broker::dump_log::dump_file;
use kafkit_broker::storage::{LogConfig, PartitionLog};
use kafkit_producer::{Acks, Error, Producer, ProducerConfig, ProducerRecord};
use kafkit_protocol::RecordBatch;

const TOPIC: &str = "crash";
const PARTITIONS: usize = 3;
const RECORDS: u64 = 20_000;
const SEGMENT_BYTES: usize = 64 * 1024;

/// SplitMix64: the seeded choices of a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The value of record `index`: its seed and index, then letters, 40..=160 bytes in all.
fn value(seed: u64, index: u64, rng: &mut Rng) -> Vec<u8> {
    let mut v = format!("{seed}:{index:08}:").into_bytes();
    let len = 40 + rng.below(121) as usize;
    while v.len() < len {
        v.push(b'a' + rng.below(26) as u8);
    }
    v
}

/// The record index a stored value carries.
fn index_of(seed: u64, value: &[u8]) -> u64 {
    let text = std::str::from_utf8(value).expect("utf8 value");
    let mut parts = text.split(':');
    assert_eq!(
        parts.next(),
        Some(seed.to_string().as_str()),
        "a value of another run: {text}"
    );
    parts.next().and_then(|i| i.parse().ok()).expect("index")
}

/// A `kafkit-broker` process.
struct Broker {
    child: Child,
}

impl Broker {
    /// Starts the binary on `port` with `data_dir`, and waits for its bootstrap line.
    fn start(data_dir: &Path, port: u16, stderr: &Path) -> Broker {
        let stderr = std::fs::File::create(stderr).expect("stderr file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafkit-broker"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--partitions")
            .arg(PARTITIONS.to_string())
            // Small segments: the load rolls several, so recovery spans rolled segments too.
            .arg("--segment-bytes")
            .arg(SEGMENT_BYTES.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn kafkit-broker");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        assert_eq!(
            line.trim(),
            format!("127.0.0.1:{port}"),
            "the broker did not start"
        );
        Broker { child }
    }

    /// SIGKILL: no clean shutdown, nothing flushed beyond what the kernel already has.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// What the producer reported for the records it accepted.
#[derive(Default)]
struct Reports {
    /// `index -> (partition, offset)` of acknowledged records.
    acked: HashMap<u64, (i32, i64)>,
    /// `index -> error` of records whose delivery failed.
    failed: HashMap<u64, Error>,
}

/// One stored record.
struct Stored {
    partition: i32,
    offset: i64,
    value: Vec<u8>,
}

/// Kills the broker twice, each time after a seeded number of acknowledgements, restarts it on
/// the same data directory and port, lets the same producer finish, then checks storage record
/// by record.
#[rstest::rstest]
#[case(1)]
#[case(2)]
#[case(3)]
#[case(4)]
#[case(5)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill_under_load(#[case] seed: u64) {
    let started = Instant::now();
    let mut rng = Rng(seed);
    let root = tempfile::tempdir().expect("tmp");
    let data_dir = root.path().join("data");
    let port = free_port();
    let stderr = |n: u32| root.path().join(format!("broker-{n}.stderr"));
    let mut broker = Broker::start(&data_dir, port, &stderr(1));

    let config = ProducerConfig::builder(format!("127.0.0.1:{port}"))
        .acks(Acks::All)
        .enable_idempotence(true)
        .linger(Duration::from_millis(2))
        .batch_size(4096)
        // Little buffer memory, so sends block while the broker is down: the producer is
        // accepting records across the crash, not only retrying what it held.
        .buffer_memory(64 * 1024)
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(100))
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(30))
        .partitioner_seed(seed)
        .build()
        .expect("config");
    let producer = Producer::connect(config).await.expect("connect");

    // The send loop: every accepted record gets a task that records its outcome.
    let reports = Arc::new(Mutex::new(Reports::default()));
    let acked = Arc::new(AtomicU64::new(0));
    let mut values = Vec::with_capacity(RECORDS as usize);
    for i in 0..RECORDS {
        values.push(value(seed, i, &mut rng));
    }
    let values = Arc::new(values);
    let sender = tokio::spawn({
        let (producer, reports, acked, values) =
            (producer.clone(), reports.clone(), acked.clone(), values.clone());
        async move {
            let mut outcomes = Vec::new();
            let mut not_accepted = Vec::new();
            for i in 0..RECORDS {
                let record = ProducerRecord::new(TOPIC, values[i as usize].clone());
                match producer.send(record).await {
                    Ok(delivery) => {
                        let (reports, acked) = (reports.clone(), acked.clone());
                        outcomes.push(tokio::spawn(async move {
                            let outcome = delivery.await;
                            let mut reports = reports.lock().expect("reports");
                            match outcome {
                                Ok(m) => {
                                    reports.acked.insert(i, (m.partition, m.offset));
                                    acked.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    reports.failed.insert(i, e);
                                }
                            }
                        }));
                    }
                    Err(e) => not_accepted.push((i, e)),
                }
            }
            for o in outcomes {
                o.await.expect("outcome task");
            }
            not_accepted
        }
    });

    // The crashes, at seeded points of the load: the second one hits logs that were recovered
    // once already.
    let mut kills = Vec::new();
    let mut kill_at = RECORDS / 10;
    for restart in 2..=3 {
        kill_at += rng.below(RECORDS * 4 / 10);
        let deadline = Instant::now() + Duration::from_secs(10);
        while acked.load(Ordering::Relaxed) < kill_at {
            assert!(
                Instant::now() < deadline,
                "only {} acknowledged",
                acked.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        kills.push(acked.load(Ordering::Relaxed));
        broker.kill();
        assert!(
            !data_dir.join(CLEAN_SHUTDOWN_FILE).exists(),
            "the kill left no clean-shutdown marker"
        );
        // A killed process leaves what it wrote (the kernel keeps it), except that a write
        // under way may stop between pages when SIGKILL arrives (Linux checks for a fatal
        // signal while copying a write in): the active segment of a partition may end in a torn
        // batch, which recovery cuts. Everything else is whole, and indexes may lag the log but
        // never point past it.
        let files = segment_files(&data_dir);
        for file in &files {
            let report = dump_file(file, false).expect("dump-log");
            let active = file.extension().is_some_and(|e| e == "log")
                && !files
                    .iter()
                    .any(|f| f.parent() == file.parent() && f.extension() == file.extension() && f > file);
            let torn_tail = |p: &String| active && p.contains("do not form a complete batch");
            assert!(
                report.problems.iter().all(torn_tail),
                "after the kill, {}: {:?}",
                file.display(),
                report.problems
            );
        }
        tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
        broker = tokio::task::spawn_blocking({
            let (data_dir, stderr) = (data_dir.clone(), stderr(restart));
            move || Broker::start(&data_dir, port, &stderr)
        })
        .await
        .expect("restart");
    }

    // The producer, still running, finishes what it accepted.
    let not_accepted = tokio::time::timeout(Duration::from_secs(15), sender)
        .await
        .expect("every accepted record completes")
        .expect("send loop");
    let metrics = producer.metrics();
    producer.close(Duration::from_secs(5)).await;
    broker.stop();
    let restart_log = std::fs::read_to_string(stderr(3)).unwrap_or_default();

    let reports = std::mem::take(&mut *reports.lock().expect("reports"));
    let stored = check_storage(&data_dir);
    println!(
        "seed {seed}: killed after {kills:?} acks; {} acked, {} failed, {} not accepted, \
         {} stored, {} retries, {} epoch bumps, {:?}",
        reports.acked.len(),
        reports.failed.len(),
        not_accepted.len(),
        stored.len(),
        metrics.retries,
        metrics.epoch_bumps,
        started.elapsed()
    );
    for line in restart_log.lines().filter(|l| l.contains("recover")) {
        println!("  restart: {line}");
    }
    for (i, e) in not_accepted.iter().take(3) {
        println!("  not accepted {i}: {e}");
    }
    for (i, e) in reports.failed.iter().take(3) {
        println!("  failed {i}: {e}");
    }

    // Every acknowledged record is where it was acknowledged, byte for byte.
    let by_position: HashMap<(i32, i64), &Stored> =
        stored.iter().map(|s| ((s.partition, s.offset), s)).collect();
    for (&i, &(partition, offset)) in &reports.acked {
        let s = by_position
            .get(&(partition, offset))
            .unwrap_or_else(|| panic!("acknowledged record {i} lost: {TOPIC}-{partition}@{offset}"));
        assert_eq!(
            s.value, values[i as usize],
            "record {i} at {TOPIC}-{partition}@{offset}"
        );
    }
    // Nothing stored twice, nothing foreign, and each partition in send order.
    let mut seen = HashSet::new();
    let mut last_index: BTreeMap<i32, u64> = BTreeMap::new();
    for s in &stored {
        let i = index_of(seed, &s.value);
        assert!(seen.insert(i), "record {i} stored twice");
        assert_eq!(s.value, values[i as usize]);
        if let Some(&prev) = last_index.get(&s.partition) {
            assert!(
                i > prev,
                "{TOPIC}-{}: record {i} stored after record {prev}",
                s.partition
            );
        }
        last_index.insert(s.partition, i);
        // A stored record the producer did not acknowledge must have failed saying it may have
        // been written.
        if !reports.acked.contains_key(&i) {
            match reports.failed.get(&i) {
                Some(e) if e.may_have_been_persisted() => {}
                other => panic!("record {i} is stored, but the producer reported {other:?}"),
            }
        }
    }
    // Every accepted record completed: acknowledged or a typed error.
    let accepted = RECORDS - not_accepted.len() as u64;
    assert_eq!((reports.acked.len() + reports.failed.len()) as u64, accepted);
    assert!(
        reports.failed.is_empty() && not_accepted.is_empty(),
        "with a 30 s delivery timeout and a broker back within a second, every record is delivered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

/// Checks the files of every partition as the cleanly stopped broker left them and returns
/// every stored record: `dump-log` finds no corruption, batches are contiguous from offset 0,
/// no producer batch is stored twice, and the leader-epoch checkpoint matches the batches.
fn check_storage(data_dir: &Path) -> Vec<Stored> {
    assert!(
        data_dir.join(CLEAN_SHUTDOWN_FILE).exists(),
        "clean shutdown marker"
    );
    let mut stored = Vec::new();
    for partition in 0..PARTITIONS as i32 {
        let dir = data_dir.join(format!("{TOPIC}-{partition}"));
        let files = segment_files(&dir);
        assert!(
            files.len() >= 6,
            "{}: expected rolled segments, found {files:?}",
            dir.display()
        );
        for file in &files {
            let report = dump_file(file, true).expect("dump-log");
            assert!(
                report.problems.is_empty(),
                "{}: {:?}",
                file.display(),
                report.problems
            );
        }
        let checkpoint = read_leader_epoch_checkpoint(&dir.join("leader-epoch-checkpoint"));

        let log = PartitionLog::open(&dir, LogConfig::default(), true, 0).expect("open");
        let mut next_offset = 0;
        let mut batches = HashSet::new();
        let mut epoch_starts: Vec<(i32, i64)> = Vec::new();
        let mut scratch = Vec::new();
        for bytes in log.batches_from(0) {
            let bytes = bytes.expect("stored batch");
            let batch = RecordBatch::parse(&bytes).expect("batch");
            assert!(batch.is_crc_valid());
            assert_eq!(
                batch.base_offset(),
                next_offset,
                "{TOPIC}-{partition}: offsets not contiguous"
            );
            let key = (batch.producer_id(), batch.producer_epoch(), batch.base_sequence());
            assert!(batch.has_producer_id(), "idempotent batches carry a producer id");
            assert!(
                batches.insert(key),
                "{TOPIC}-{partition}: batch {key:?} stored twice"
            );
            let epoch = batch.partition_leader_epoch();
            if epoch_starts.last().is_none_or(|&(e, _)| e != epoch) {
                epoch_starts.push((epoch, batch.base_offset()));
            }
            let mut expected = batch.base_offset();
            for record in batch.records(&mut scratch, 1 << 24).expect("records") {
                let record = record.expect("record");
                assert_eq!(record.offset, expected);
                expected += 1;
                stored.push(Stored {
                    partition,
                    offset: record.offset,
                    value: record.value.expect("value").to_vec(),
                });
            }
            assert_eq!(expected, batch.next_offset());
            next_offset = batch.next_offset();
        }
        assert_eq!(
            next_offset,
            log.log_end_offset(),
            "{TOPIC}-{partition}: log end offset"
        );
        // The checkpoint names exactly where each leader epoch's batches start.
        assert_eq!(
            checkpoint, epoch_starts,
            "{TOPIC}-{partition}: leader-epoch-checkpoint"
        );
        let cached: Vec<(i32, i64)> = log
            .leader_epoch_cache()
            .entries()
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect();
        assert_eq!(cached, epoch_starts);
    }
    stored
}

/// Every `.log`, `.index` and `.timeindex` file under `dir`, at any depth.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(segment_files(&path));
        } else {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
            if ["log", "index", "timeindex"].contains(&ext) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Parses Kafka's checkpoint text: version `0`, the entry count, then `epoch start_offset` lines.
fn read_leader_epoch_checkpoint(path: &Path) -> Vec<(i32, i64)> {
    let text = std::fs::read_to_string(path).expect("leader-epoch-checkpoint");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "checkpoint version");
    let count: usize = lines.next().and_then(|l| l.parse().ok()).expect("entry count");
    let entries: Vec<(i32, i64)> = lines
        .map(|l| {
            let (epoch, offset) = l.split_once(' ').expect("entry");
            (epoch.parse().expect("epoch"), offset.parse().expect("offset"))
        })
        .collect();
    assert_eq!(entries.len(), count, "{text:?}");
    entries
}
