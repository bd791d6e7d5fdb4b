//! Kafka's own tools read kafkit's files: `kafka.tools.DumpLogSegments` (kafka-dump-log) over
//! the segments kafkit's broker wrote, with every codec, idempotent and not, after a clean
//! shutdown and after crash recovery (a torn tail included).
//!
//! The tool runs four ways over the files: `--deep-iteration --print-data-log` over the `.log`
//! files (every batch and record), a plain dump of the `.index` and `.timeindex` files (their
//! entries), `--index-sanity-check` and `--verify-index-only` over the indexes. It must report no
//! error, no mismatch and no exception, and it must list exactly what `kafkit-broker dump-log`
//! lists: each batch's offsets, count, sequences, producer id and epoch, leader epoch,
//! position, size, codec and CRC, each record's offset, timestamp, key and value, each index
//! entry.
//!
//! A second test runs Kafka's consumer-group tool (`kafka-consumer-groups`) against a group on
//! kafkit's broker (list, describe with lag and state, reset offsets, delete) and decodes
//! `__consumer_offsets` with DumpLogSegments' `--offsets-decoder`.
//!
//! Kafka's jars come from the test kit ([`kafka_libs`]); without them the test says why and
//! passes, unless `KAFKIT_REQUIRE_KAFKA` is set, as in CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kafkit_broker::{Cluster, ClusterConfig};
use kafkit_producer::{Producer, ProducerConfig, ProducerRecord};

use crate::TestResult;

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
/// Small segments, so that every topic rolls and its indexes get entries.
const SEGMENT_BYTES: &str = "40000";

fn config(dir: &Path) -> Result<ClusterConfig, Box<dyn std::error::Error>> {
    let mut config = ClusterConfig {
        data_dir: Some(dir.to_path_buf()),
        ..ClusterConfig::default()
    };
    config.set("log.segment.bytes", SEGMENT_BYTES)?;
    config.set("log.index.interval.bytes", "1024")?;
    Ok(config)
}

fn topic(codec: &str, idempotent: bool) -> String {
    format!("dump-{codec}-{}", if idempotent { "idem" } else { "plain" })
}

/// Sends `n` records (keys, null keys, values, null and empty values, headers) to every topic,
/// with each codec, idempotent and not.
async fn produce(cluster: &Cluster, round: usize, n: usize) -> TestResult {
    for codec in CODECS {
        for idempotent in [true, false] {
            let mut config = ProducerConfig::builder(cluster.bootstrap_servers())
                .set("compression.type", codec)
                .set("linger.ms", "20")
                .set("batch.size", "4000");
            if !idempotent {
                config = config.set("enable.idempotence", "false").set("acks", "1");
            }
            let producer = Producer::connect(config.build()?).await?;
            let mut deliveries = Vec::new();
            for i in 0..n {
                let mut record = ProducerRecord::builder(topic(codec, idempotent))
                    .partition(0)
                    .timestamp(1_700_000_000_000 + (round * n + i) as i64)
                    .header("round", Some(round.to_string()))
                    .header("i", (i % 3 != 0).then(|| i.to_string()));
                if i % 7 != 0 {
                    record = record.key(format!("key-{}", i % 50));
                }
                record = match i % 11 {
                    0 => record,
                    1 => record.value(""),
                    _ => record.value(format!("{round}-{i}-{}", "v".repeat(i % 200))),
                };
                deliveries.push(producer.send(record.build()).await?);
            }
            for d in deliveries {
                d.await?;
            }
            producer.close(Duration::from_secs(10)).await;
        }
    }
    Ok(())
}

/// Every `.log`, `.index` and `.timeindex` file under `data_dir`'s dump topics.
fn segment_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for codec in CODECS {
        for idempotent in [true, false] {
            let dir = data_dir.join(format!("{}-0", topic(codec, idempotent)));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path
                    .extension()
                    .is_some_and(|x| x == "log" || x == "index" || x == "timeindex")
                {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

/// Runs the main class `class` of Kafka's jars in `libs` with `args`; its standard output and
/// error, or an error with them when it fails.
pub(crate) fn kafka_class(
    libs: &Path,
    class: &str,
    args: &[&str],
) -> Result<String, Box<dyn std::error::Error>> {
    // Warnings and errors only, to standard error (without a configuration log4j complains).
    let log4j = concat!(env!("CARGO_MANIFEST_DIR"), "/../kafka/log4j2-tools.properties");
    let output = Command::new(java())
        .arg("-Xmx256m")
        .arg(format!("-Dlog4j2.configurationFile={log4j}"))
        .args(["-cp", &format!("{}/*", libs.display()), class])
        .args(args)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(format!("{class} {args:?} failed ({}): {text}", output.status).into());
    }
    Ok(text)
}

/// Runs `kafka.tools.DumpLogSegments` with `args` over `files`; its standard output and error.
fn kafka_dump(libs: &Path, files: &[PathBuf], args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let list: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let list = list.join(",");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--files", &list]);
    kafka_class(libs, "kafka.tools.DumpLogSegments", &all)
}

fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// The `name: value` pairs of one dump line (both tools print them so), keeping `names`.
fn fields(line: &str, names: &[&str]) -> BTreeMap<String, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut out = BTreeMap::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Some(name) = t.strip_suffix(':') {
            if names.contains(&name) {
                out.insert(
                    name.to_string(),
                    tokens.get(i + 1).copied().unwrap_or("").to_string(),
                );
            }
        }
    }
    out
}

const BATCH_FIELDS: &[&str] = &[
    "baseOffset",
    "lastOffset",
    "count",
    "baseSequence",
    "lastSequence",
    "producerId",
    "producerEpoch",
    "partitionLeaderEpoch",
    "isTransactional",
    "isControl",
    "position",
    "CreateTime",
    "size",
    "magic",
    "compresscodec",
    "crc",
    "isvalid",
];
const RECORD_FIELDS: &[&str] = &["offset", "CreateTime", "keySize", "valueSize", "key", "payload"];
const INDEX_FIELDS: &[&str] = &["offset", "position", "timestamp"];

/// The comparable content of a dump: per file, its batch, record and index entry lines as
/// field maps, in order. `Dumping <path>` lines start a file.
fn content(dump: &str) -> BTreeMap<String, Vec<BTreeMap<String, String>>> {
    let mut out: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    let mut file = String::new();
    for line in dump.lines() {
        if let Some(path) = line.strip_prefix("Dumping ") {
            file = path.trim().to_string();
            out.entry(file.clone()).or_default();
        } else if line.starts_with("baseOffset:") {
            out.entry(file.clone())
                .or_default()
                .push(fields(line, BATCH_FIELDS));
        } else if line.starts_with("| offset:") {
            out.entry(file.clone())
                .or_default()
                .push(fields(line, RECORD_FIELDS));
        } else if line.starts_with("offset:") || line.starts_with("timestamp:") {
            out.entry(file.clone())
                .or_default()
                .push(fields(line, INDEX_FIELDS));
        }
    }
    out
}

/// kafkit's dump-log of `files`, in the same text form.
fn kafkit_dump(files: &[PathBuf]) -> Result<String, Box<dyn std::error::Error>> {
    let mut text = String::new();
    for f in files {
        let report = kafkit_broker::dump_log::dump_file(f, true)?;
        assert!(
            report.problems.is_empty(),
            "{}: {:?}",
            f.display(),
            report.problems
        );
        text.push_str(&report.text);
    }
    Ok(text)
}

/// DumpLogSegments finds nothing wrong in `data_dir`'s segments and lists what kafkit's
/// dump-log lists. Returns how many files, batches and records it compared.
fn check_with_kafka(
    libs: &Path,
    data_dir: &Path,
) -> Result<(usize, usize, usize), Box<dyn std::error::Error>> {
    let files = segment_files(data_dir);
    let logs: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "log"))
        .cloned()
        .collect();
    let indexes: Vec<PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x != "log"))
        .cloned()
        .collect();
    let deep = kafka_dump(libs, &logs, &["--deep-iteration", "--print-data-log"])?;
    let entries = kafka_dump(libs, &indexes, &[])?;
    let sanity = kafka_dump(libs, &indexes, &["--index-sanity-check"])?;
    let verify = kafka_dump(libs, &indexes, &["--verify-index-only"])?;
    for (what, text) in [
        ("deep iteration", &deep),
        ("index dump", &entries),
        ("sanity check", &sanity),
        ("verification", &verify),
    ] {
        let lower = text.to_lowercase();
        for bad in [
            "exception",
            "mismatch",
            "corrupt",
            "error",
            "failed",
            "not a valid",
            "found log offset",
        ] {
            assert!(
                !lower.contains(bad),
                "DumpLogSegments {what} says {bad:?}:\n{text}"
            );
        }
    }
    assert_eq!(
        sanity.matches("passed sanity check").count(),
        indexes.len(),
        "every index passes the sanity check:\n{sanity}"
    );
    let ours = content(&kafkit_dump(&files)?);
    let theirs = content(&format!("{deep}\n{entries}"));
    assert_eq!(ours.len(), files.len(), "kafkit dumped every file");
    let (mut batches, mut records) = (0, 0);
    for (file, our_lines) in &ours {
        let their_lines = theirs
            .get(file)
            .unwrap_or_else(|| panic!("DumpLogSegments did not dump {file}"));
        assert_eq!(
            our_lines.len(),
            their_lines.len(),
            "{file}: kafkit lists {} lines, Kafka {}",
            our_lines.len(),
            their_lines.len()
        );
        for (ours, theirs) in our_lines.iter().zip(their_lines) {
            // Every field both print must agree (Kafka prints a few kafkit does not, such as
            // deleteHorizonMs, and the other way round for headers).
            for (name, value) in ours {
                if let Some(t) = theirs.get(name) {
                    assert_eq!(
                        value, t,
                        "{file}: {name} differs: kafkit {ours:?}, Kafka {theirs:?}"
                    );
                }
            }
            assert!(!theirs.is_empty(), "{file}: Kafka printed a line without fields");
            if ours.contains_key("baseOffset") {
                batches += 1;
            } else if ours.contains_key("keySize") {
                records += 1;
            }
        }
    }
    Ok((files.len(), batches, records))
}

/// kafkit's segments, written with every codec, idempotent and not, read by Kafka's
/// DumpLogSegments after a clean shutdown, and again after a crash whose torn tail recovery cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_dump_log_segments_reads_kafkits_files() -> TestResult {
    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;

    let cluster = Cluster::start(config(dir.path())?).await?;
    produce(&cluster, 0, 600).await?;
    cluster.shutdown().await?;
    let (files, batches, records) = check_with_kafka(&libs, dir.path())?;
    println!(
        "after a clean shutdown: {files} files, {batches} batches, {records} records, as kafkit lists them"
    );
    assert!(records >= 6_000 && files > 30, "{files} files, {records} records");

    // A crash: no clean shutdown, and half a batch written at the end of one active segment.
    let cluster = Cluster::start(config(dir.path())?).await?;
    produce(&cluster, 1, 300).await?;
    drop(cluster);
    let torn = segment_files(dir.path())
        .into_iter()
        .filter(|f| {
            f.extension().is_some_and(|x| x == "log") && f.to_string_lossy().contains("dump-zstd-idem")
        })
        .max()
        .ok_or("no zstd segment")?;
    let whole = std::fs::read(&torn)?;
    let mut file = std::fs::OpenOptions::new().append(true).open(&torn)?;
    std::io::Write::write_all(&mut file, &whole[..whole.len().min(90)])?;
    drop(file);
    let cluster = Cluster::start(config(dir.path())?).await?;
    cluster.shutdown().await?;
    let (files, batches, records) = check_with_kafka(&libs, dir.path())?;
    println!(
        "after crash recovery: {files} files, {batches} batches, {records} records, as kafkit lists them"
    );
    assert!(records >= 9_000, "{records} records");
    Ok(())
}

/// Kafka's consumer-group tool (`kafka-consumer-groups`, `ConsumerGroupCommand`, through
/// Java's AdminClient) on a group librdkafka's consumer formed on kafkit's broker: it lists the
/// group, describes its member and its offsets with the same lag kafkit reports, resets the
/// offsets and deletes the group; then Kafka's DumpLogSegments decodes `__consumer_offsets`
/// (`--offsets-decoder`) with the group's records in it. The same for a KIP-848 group
/// (`group.protocol=consumer`), which the tool describes through ConsumerGroupDescribe.
#[rstest::rstest]
#[case::classic(false)]
#[case::kip848(true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_consumer_group_tool_and_offsets_decoder_read_kafkits_groups(
    #[case] kip848: bool,
) -> TestResult {
    use kafkit_broker::group::GroupsConfig;
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::message::Message;

    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start(ClusterConfig {
        data_dir: Some(dir.path().to_path_buf()),
        groups: GroupsConfig {
            initial_rebalance_delay: Duration::ZERO,
            offsets_topic_partitions: 3,
            ..GroupsConfig::default()
        },
        ..ClusterConfig::default()
    })
    .await?;
    let bootstrap = cluster.bootstrap_servers();
    cluster
        .state()
        .create_topic("tools", 2, kafkit_broker::config::TopicConfig::default())
        .map_err(|(code, message)| format!("{code}: {message}"))?;
    let producer = Producer::connect(ProducerConfig::builder(bootstrap.clone()).build()?).await?;
    for i in 0..20 {
        let record = ProducerRecord::builder("tools")
            .partition(i % 2)
            .value(format!("v{i}"))
            .build();
        producer.send(record).await?.await?;
    }
    producer.close(Duration::from_secs(10)).await;

    // A member reads 12 records, committing each, and stays in the group.
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "tools-group")
        .set("client.id", "tools-client")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    if kip848 {
        config.set("group.protocol", "consumer");
    }
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&["tools"])?;
    let consumer = tokio::task::spawn_blocking(move || {
        let mut read = 0;
        let start = std::time::Instant::now();
        while read < 12 && start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                consumer
                    .commit_message(&m, CommitMode::Sync)
                    .map(|()| read += 1)
                    .ok();
                let _ = m.offset();
            }
        }
        consumer
    })
    .await?;
    let group_tool = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", bootstrap.as_str()];
        all.extend_from_slice(args);
        kafka_class(
            &libs,
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &all,
        )
    };
    let listed = group_tool(&["--list"])?;
    assert!(listed.lines().any(|l| l.trim() == "tools-group"), "{listed}");

    // Describe: per partition the committed offset, the log end and the lag, and the member.
    let described = group_tool(&["--describe", "--group", "tools-group"])?;
    let rows: Vec<Vec<&str>> = described
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&"tools-group") && f.get(1) == Some(&"tools"))
        .collect();
    assert_eq!(rows.len(), 2, "{described}");
    let mut lag_total = 0;
    for row in &rows {
        let partition: i32 = row[2].parse()?;
        let (current, end, lag): (i64, i64, i64) = (row[3].parse()?, row[4].parse()?, row[5].parse()?);
        let committed = cluster
            .state()
            .groups()
            .committed("tools-group", "tools", partition);
        assert_eq!(committed.map(|c| c.offset), Some(current), "{described}");
        assert_eq!((end, lag), (10, end - current), "{described}");
        assert!(
            row.contains(&"tools-client"),
            "the member's client id: {described}"
        );
        lag_total += lag;
    }
    assert_eq!(lag_total, 8, "{described}");
    let state = group_tool(&["--describe", "--group", "tools-group", "--state"])?;
    assert!(state.contains("Stable"), "{state}");
    if kip848 {
        // The tool shows the coordinator's assignor, and the member with its epoch.
        assert!(state.contains("uniform"), "{state}");
        let members = group_tool(&["--describe", "--group", "tools-group", "--members", "--verbose"])?;
        let epoch = cluster
            .state()
            .groups()
            .consumer_group("tools-group")
            .and_then(|g| g.members.values().next().map(|m| m.epoch))
            .ok_or("a KIP-848 member")?;
        assert!(members.contains("tools-client"), "{members}");
        assert!(
            members
                .lines()
                .any(|l| l.contains("tools-client") && l.split_whitespace().any(|f| f == epoch.to_string())),
            "the member's epoch {epoch}: {members}"
        );
    }

    // With the member gone, the tool resets the offsets to the start and deletes the group.
    tokio::task::spawn_blocking(move || drop(consumer)).await?;
    let reset = group_tool(&[
        "--reset-offsets",
        "--group",
        "tools-group",
        "--topic",
        "tools",
        "--to-earliest",
        "--execute",
    ])?;
    for p in 0..2 {
        let committed = cluster.state().groups().committed("tools-group", "tools", p);
        assert_eq!(committed.map(|c| c.offset), Some(0), "{reset}");
    }
    let deleted = group_tool(&["--delete", "--group", "tools-group"])?;
    assert!(deleted.contains("successful"), "{deleted}");
    assert!(cluster.state().groups().group("tools-group").is_none());
    assert!(cluster.state().groups().consumer_group("tools-group").is_none());
    cluster.shutdown().await?;

    // Kafka's decoder reads every record the coordinator wrote.
    let mut files = Vec::new();
    for p in 0..3 {
        for entry in std::fs::read_dir(dir.path().join(format!("__consumer_offsets-{p}")))? {
            let path = entry?.path();
            if path.extension().is_some_and(|x| x == "log") {
                files.push(path);
            }
        }
    }
    let decoded = kafka_dump(&libs, &files, &["--offsets-decoder", "--deep-iteration"])?;
    assert!(!decoded.to_lowercase().contains("exception"), "{decoded}");
    assert!(decoded.contains("\"group\":\"tools-group\""), "{decoded}");
    assert!(decoded.contains("\"topic\":\"tools\""), "{decoded}");
    if kip848 {
        // ConsumerGroupMetadata (the group's epoch), the member's metadata, target and
        // current assignment, and the target's epoch, in Kafka's schemas.
        assert!(decoded.contains("\"groupId\":\"tools-group\""), "{decoded}");
        for field in [
            "\"epoch\":",
            "\"clientId\":\"tools-client\"",
            "\"subscribedTopicNames\":[\"tools\"]",
            "\"memberEpoch\":",
            "\"assignedPartitions\":",
            "\"assignmentEpoch\":",
            "\"topicPartitions\":",
        ] {
            assert!(decoded.contains(field), "{field} in {decoded}");
        }
    } else {
        assert!(decoded.contains("\"protocolType\":\"consumer\""), "{decoded}");
    }
    Ok(())
}

/// Java's consumer (Kafka's `kafka-console-consumer`) as a KIP-848 member
/// (`group.protocol=consumer`) on kafkit's broker: it joins through ConsumerGroupHeartbeat,
/// reads every record of a two-partition topic, commits at its member epoch when it closes;
/// a second run in the same group reads only what was produced since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javas_kip848_consumer_reads_commits_and_resumes_on_kafkit() -> TestResult {
    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(());
    };
    let mut config = ClusterConfig::default();
    config.groups.initial_rebalance_delay = Duration::ZERO;
    config.groups.consumer_heartbeat_interval = Duration::from_millis(500);
    let cluster = Cluster::start(config).await?;
    let bootstrap = cluster.bootstrap_servers();
    cluster
        .state()
        .create_topic("java848", 2, kafkit_broker::config::TopicConfig::default())
        .map_err(|(code, message)| format!("{code}: {message}"))?;
    let produce = |from: usize, to: usize| {
        let bootstrap = bootstrap.clone();
        async move {
            let producer = Producer::connect(ProducerConfig::builder(bootstrap).build()?).await?;
            for i in from..to {
                let record = ProducerRecord::builder("java848")
                    .partition((i % 2) as i32)
                    .value(format!("j{i}"))
                    .build();
                producer.send(record).await?.await?;
            }
            producer.close(Duration::from_secs(10)).await;
            Ok::<(), Box<dyn std::error::Error>>(())
        }
    };
    produce(0, 40).await?;
    let consume = |count: usize| {
        let libs = libs.clone();
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            kafka_class(
                &libs,
                "org.apache.kafka.tools.consumer.ConsoleConsumer",
                &[
                    "--bootstrap-server",
                    &bootstrap,
                    "--topic",
                    "java848",
                    "--group",
                    "java848-group",
                    "--consumer-property",
                    "group.protocol=consumer",
                    "--consumer-property",
                    "auto.offset.reset=earliest",
                    "--max-messages",
                    &count.to_string(),
                    "--timeout-ms",
                    "30000",
                ],
            )
            .map_err(|e| e.to_string())
        })
    };
    let first = consume(40).await??;
    let values = |out: &str| {
        out.lines()
            .filter(|l| l.starts_with('j'))
            .map(str::to_string)
            .collect::<std::collections::BTreeSet<String>>()
    };
    let expected: std::collections::BTreeSet<String> = (0..40).map(|i| format!("j{i}")).collect();
    assert_eq!(values(&first), expected, "{first}");
    let groups = cluster.state().groups();
    let group = groups.consumer_group("java848-group").ok_or("a KIP-848 group")?;
    assert!(group.epoch >= 2, "joined and left: epoch {}", group.epoch);
    for p in 0..2 {
        assert_eq!(
            groups.committed("java848-group", "java848", p).map(|c| c.offset),
            Some(20)
        );
    }
    produce(40, 50).await?;
    let second = consume(10).await??;
    let expected: std::collections::BTreeSet<String> = (40..50).map(|i| format!("j{i}")).collect();
    assert_eq!(values(&second), expected, "{second}");
    cluster.shutdown().await?;
    Ok(())
}

/// Kafka's kafka-transactions tool lists and describes kafkit's transactional ids
/// (ListTransactions, DescribeTransactions through Java's AdminClient), and its
/// DumpLogSegments reads what kafkit wrote: the aborted transaction's `.txnindex` entry, the
/// transactional id's states in `__transaction_state` (`--transaction-log-decoder`), and the
/// COMMIT and ABORT markers among the data (control batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_transaction_tools_read_kafkits_transactions() -> TestResult {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let mut config = ClusterConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..ClusterConfig::default()
    };
    config.transaction_state_partitions = 1;
    let cluster = Cluster::start(config).await?;
    cluster
        .state()
        .create_topic("txns", 1, kafkit_broker::config::TopicConfig::default())
        .map_err(|(code, message)| format!("{code}: {message}"))?;
    let bootstrap = cluster.bootstrap_servers();
    let bootstrap_for_tools = bootstrap.clone();
    tokio::task::spawn_blocking(move || -> Result<(), String> {
        let p: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("transactional.id", "dump-tx")
            .create()
            .map_err(|e| e.to_string())?;
        p.init_transactions(Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        for commit in [true, false] {
            p.begin_transaction().map_err(|e| e.to_string())?;
            p.send(BaseRecord::to("txns").key("k").payload("v"))
                .map_err(|(e, _)| e.to_string())?;
            p.flush(Duration::from_secs(10)).map_err(|e| e.to_string())?;
            if commit {
                p.commit_transaction(Duration::from_secs(30))
                    .map_err(|e| e.to_string())?;
            } else {
                p.abort_transaction(Duration::from_secs(30))
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })
    .await??;
    // Kafka's kafka-transactions tool lists and describes the transactional id.
    let tool = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", bootstrap_for_tools.as_str()];
        all.extend_from_slice(args);
        kafka_class(&libs, "org.apache.kafka.tools.TransactionsCommand", &all)
    };
    let listed = tool(&["list"])?;
    assert!(
        listed
            .lines()
            .any(|l| l.contains("dump-tx") && l.contains("CompleteAbort")),
        "{listed}"
    );
    let described = tool(&["describe", "--transactional-id", "dump-tx"])?;
    assert!(
        described.contains("CompleteAbort") && described.contains("60000"),
        "{described}"
    );
    cluster.shutdown().await?;
    let logs = |name: &str| -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir.path().join(name))? {
            let path = entry?.path();
            if path.extension().is_some_and(|x| x == "log") {
                files.push(path);
            }
        }
        Ok(files)
    };
    let states = kafka_dump(
        &libs,
        &logs("__transaction_state-0")?,
        &["--transaction-log-decoder", "--deep-iteration"],
    )?;
    assert!(!states.to_lowercase().contains("exception"), "{states}");
    assert!(states.contains("\"transactionalId\":\"dump-tx\""), "{states}");
    // Empty, Ongoing, PrepareCommit, CompleteCommit, then Ongoing, PrepareAbort,
    // CompleteAbort: each state as Kafka's coordinator writes it.
    let statuses: Vec<&str> = states
        .split("\"transactionStatus\":")
        .skip(1)
        .map(|rest| rest.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["0", "1", "2", "4", "1", "3", "5"], "{states}");
    let data = kafka_dump(&libs, &logs("txns-0")?, &["--deep-iteration", "--print-data-log"])?;
    assert!(data.contains("endTxnMarker: COMMIT"), "{data}");
    assert!(data.contains("endTxnMarker: ABORT"), "{data}");
    // The aborted transaction's `.txnindex` entry: records 2 (data) and 3 (its ABORT marker),
    // after the first transaction's record 0 and COMMIT marker 1.
    let txnindex = dir.path().join("txns-0").join("00000000000000000000.txnindex");
    let index = kafka_dump(&libs, &[txnindex], &[])?;
    assert!(
        index.contains("firstOffset: 2 lastOffset: 3 lastStableOffset: 4"),
        "{index}"
    );
    assert!(data.contains("isTransactional: true"), "{data}");
    Ok(())
}

/// Java's producer in transactions on kafkit's broker: Kafka's `kafka-producer-perf-test`
/// with `--transactional-id` commits a transaction every 100 ms; every record lands once,
/// each transaction ends with a COMMIT marker, and nothing stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javas_transactional_producer_commits_on_kafkit() -> TestResult {
    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(());
    };
    let cluster = Cluster::start(ClusterConfig::default()).await?;
    cluster
        .state()
        .create_topic("java-txn", 1, kafkit_broker::config::TopicConfig::default())
        .map_err(|(code, message)| format!("{code}: {message}"))?;
    let bootstrap = cluster.bootstrap_servers();
    let props = format!("bootstrap.servers={bootstrap}");
    let out = tokio::task::spawn_blocking(move || {
        kafka_class(
            &libs,
            "org.apache.kafka.tools.ProducerPerformance",
            &[
                "--topic",
                "java-txn",
                "--num-records",
                "20000",
                "--record-size",
                "100",
                "--throughput",
                "-1",
                "--transactional-id",
                "java-perf-tx",
                "--transaction-duration-ms",
                "100",
                "--producer-props",
                &props,
            ],
        )
        .map_err(|e| e.to_string())
    })
    .await??;
    assert!(out.contains("20000 records sent"), "{out}");
    let state = cluster.state();
    let summary = state
        .transactions()
        .transaction("java-perf-tx")
        .ok_or("the transactional id")?;
    assert_eq!(
        summary.state,
        kafkit_broker::txn::TxnState::CompleteCommit,
        "{out}"
    );
    let (records, commits, aborts, lso, hw) = {
        let metadata = state.metadata();
        let log = metadata.partition("java-txn", 0).ok_or("partition")?.log.clone();
        let log = kafkit_broker::cluster::lock_log(&log);
        let (mut records, mut commits, mut aborts) = (0, 0, 0);
        for batch in log.batches_from(0) {
            let bytes = batch?;
            let view = kafkit_protocol::RecordBatch::parse(&bytes)?;
            if view.is_control() {
                let mut scratch = Vec::new();
                let first = view
                    .records(&mut scratch, usize::MAX)?
                    .next()
                    .ok_or("marker record")??;
                match first.key.and_then(kafkit_protocol::record::control_marker_kind) {
                    Some(true) => commits += 1,
                    _ => aborts += 1,
                }
            } else {
                assert!(view.is_transactional());
                records += view.records_count();
            }
        }
        (
            records,
            commits,
            aborts,
            log.last_stable_offset(),
            log.high_watermark(),
        )
    };
    println!("Java's transactional producer: {records} records in {commits} committed transactions");
    assert_eq!((records, aborts, lso), (20_000, 0, hw));
    assert!(commits >= 1);
    cluster.shutdown().await?;
    Ok(())
}
