//! One randomized scenario: a schedule drawn from a seed interleaves sends with the faults and
//! cluster events of [`faults`](crate::faults) (retriable errors, lost responses, connections
//! closed before and after handling, slow requests below and beyond `request.timeout.ms`,
//! leader moves and shuffles, a broker down and up, with or without re-election, clean and
//! crash restarts of the whole cluster) for a bounded number of steps; then every fault is made to fire, every delivery is awaited, and the log must keep
//! the delivery guarantee of the producer's configuration ([`guarantee`](crate::guarantee)).
//!
//! The schedule is a pure function of the seed ([`Schedule::new`]), the cluster runs in memory
//! on tokio's paused clock, and a failure names its seed and prints its schedule. To replay a
//! seed: `KAFKIT_E2E_SEED=0x... cargo test -p kafkit-tests randomized::replay`. (The producer
//! draws its retry jitter from the thread's generator, so virtual timings may differ between
//! two runs of one seed; the schedule and the invariant do not.)

use std::fmt::Write as _;
use std::time::Duration;

use kafkit_testkit::{ApiKey, ErrorCode, Fault, FaultHandle, MockCluster, RestartMode};
use rstest::rstest;

use crate::guarantee::{check, settle, Guarantee, Outcome, Stream};

const TOPIC: &str = "randomized";
const BROKERS: i32 = 3;
const PARTITIONS: i32 = 6;
/// Steps per schedule.
const STEPS: usize = 80;
/// Bound of every wait, on the virtual clock.
const WAIT: Duration = Duration::from_secs(900);
/// Replays one seed (`randomized::replay`).
const SEED_ENV: &str = "KAFKIT_E2E_SEED";

/// splitmix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One step of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Send records to these partitions, in order.
    Send(Vec<i32>),
    /// Let virtual time pass.
    Sleep(Duration),
    /// The next `times` requests for the partition are answered with a retriable `code`.
    Error {
        partition: i32,
        code: ErrorCode,
        times: u64,
    },
    /// The next request for the partition is appended, and its response dropped.
    LoseResponse { partition: i32 },
    /// The connection carrying the next request for the partition closes before handling it.
    CloseBefore { partition: i32 },
    /// ... or after handling it.
    CloseAfter { partition: i32 },
    /// The next request for the partition is handled after `delay`.
    Slow { partition: i32, delay: Duration },
    /// Move the partition's leader.
    MoveLeader { partition: i32, to: i32 },
    /// Take a broker down, re-electing its partitions' leaders or leaving them leaderless.
    BrokerDown { node: i32, reelect: bool },
    /// Bring the down broker back.
    BrokerUp { node: i32 },
    /// Move every partition's leader to the next live replica.
    ShuffleLeaders,
    /// Stop the whole cluster (cleanly, or as a crash) and start it again: every broker up.
    Restart { crash: bool },
}

/// The producer configuration a seed draws.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setup {
    props: Vec<(&'static str, &'static str)>,
    guarantee: Guarantee,
}

/// A seed's producer configuration and steps.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Schedule {
    setup: Setup,
    steps: Vec<Step>,
}

impl Schedule {
    /// The schedule of `seed`: pure, so a seed always means the same run. At most one broker
    /// is down at a time, for at most four steps; moves go to live brokers; slow requests stay
    /// rare enough (two per schedule) that no record can reach `delivery.timeout.ms`; two
    /// restarts at most.
    fn new(seed: u64) -> Schedule {
        let mut rng = Rng(seed);
        let linger = rng.pick(&["0", "5", "20"]);
        let compression = rng.pick(&["none", "lz4", "zstd"]);
        let setup = match rng.below(8) {
            // Java's at-least-once producer, ordered by max.in.flight=1 ...
            0 => Setup {
                props: vec![
                    ("enable.idempotence", "false"),
                    ("max.in.flight.requests.per.connection", "1"),
                    ("linger.ms", linger),
                    ("compression.type", compression),
                ],
                guarantee: Guarantee::AtLeastOnce { ordered: true },
            },
            // ... or with acks=1 and five requests in flight, where retries may reorder.
            1 => Setup {
                props: vec![
                    ("enable.idempotence", "false"),
                    ("acks", "1"),
                    ("max.in.flight.requests.per.connection", "5"),
                    ("linger.ms", linger),
                    ("compression.type", compression),
                ],
                guarantee: Guarantee::AtLeastOnce { ordered: false },
            },
            _ => Setup {
                props: vec![
                    (
                        "max.in.flight.requests.per.connection",
                        rng.pick(&["1", "2", "5"]),
                    ),
                    ("linger.ms", linger),
                    ("compression.type", compression),
                ],
                guarantee: Guarantee::ExactlyOnceInOrder,
            },
        };
        let mut steps = Vec::with_capacity(STEPS + 1);
        let mut down: Option<(i32, usize)> = None;
        let mut slow_left = 2;
        // Restarts are the slowest step in real time (a crash restart recovers every log).
        let mut restarts_left = 2;
        for i in 0..STEPS {
            if let Some((node, since)) = down {
                if i - since >= 4 || rng.below(3) == 0 {
                    steps.push(Step::BrokerUp { node });
                    down = None;
                    continue;
                }
            }
            let partition = rng.below(PARTITIONS as u64) as i32;
            let step = match rng.below(22) {
                0..=7 => {
                    let n = 1 + rng.below(12);
                    Step::Send((0..n).map(|_| rng.below(PARTITIONS as u64) as i32).collect())
                }
                8..=9 => Step::Sleep(Duration::from_millis(rng.pick(&[1, 10, 50, 300, 2_000]))),
                10..=11 => Step::Error {
                    partition,
                    code: rng.pick(&[
                        ErrorCode::NotLeaderOrFollower,
                        ErrorCode::LeaderNotAvailable,
                        ErrorCode::NotEnoughReplicas,
                        ErrorCode::RequestTimedOut,
                        ErrorCode::KafkaStorageError,
                    ]),
                    times: 1 + rng.below(3),
                },
                12 => Step::LoseResponse { partition },
                13 => Step::CloseBefore { partition },
                14 => Step::CloseAfter { partition },
                15 if slow_left > 0 => {
                    slow_left -= 1;
                    Step::Slow {
                        partition,
                        delay: Duration::from_secs(rng.pick(&[2, 20, 40])),
                    }
                }
                15..=17 => {
                    let live: Vec<i32> = (0..BROKERS).filter(|&b| down.is_none_or(|d| d.0 != b)).collect();
                    Step::MoveLeader {
                        partition,
                        to: rng.pick(&live),
                    }
                }
                18 => Step::ShuffleLeaders,
                19 if restarts_left > 0 => {
                    restarts_left -= 1;
                    down = None;
                    Step::Restart {
                        crash: rng.below(2) == 0,
                    }
                }
                _ if down.is_none() => {
                    let node = rng.below(BROKERS as u64) as i32;
                    down = Some((node, i));
                    Step::BrokerDown {
                        node,
                        reelect: rng.below(2) == 0,
                    }
                }
                _ => Step::Sleep(Duration::from_millis(100)),
            };
            steps.push(step);
        }
        if let Some((node, _)) = down {
            steps.push(Step::BrokerUp { node });
        }
        Schedule { setup, steps }
    }
}

/// Runs `seed`'s schedule; `Err` describes what went wrong.
async fn run(seed: u64) -> Result<String, String> {
    let schedule = Schedule::new(seed);
    let started = (tokio::time::Instant::now(), std::time::Instant::now());
    let cluster = MockCluster::builder()
        .brokers(BROKERS as usize)
        .topic(TOPIC, PARTITIONS)
        .start()
        .await
        .map_err(|e| format!("cluster: {e}"))?;
    let mut config = cluster.producer_config();
    for (key, value) in &schedule.setup.props {
        config = config.set(key, value);
    }
    let config = config.build().map_err(|e| format!("config: {e}"))?;
    let producer = cluster
        .in_memory_producer(config)
        .await
        .map_err(|e| format!("producer: {e}"))?;

    let mut stream = Stream::new(TOPIC, PARTITIONS);
    // One acknowledged record per partition first, so the broker knows the idempotent producer
    // everywhere (a first batch refused behind the next one is a documented corner of its own:
    // faults::an_idempotent_producers_first_batch_refused_behind_the_next_one_times_out).
    for p in 0..PARTITIONS {
        stream.send_to(&producer, p).await;
    }
    stream.wait().await;
    // Each installed fault with the partition whose requests make it fire.
    let mut faults: Vec<(FaultHandle, i32)> = Vec::new();
    let produce = |partition: i32| Fault::on(ApiKey::Produce).topic_partition(TOPIC, partition);
    for step in &schedule.steps {
        match step {
            Step::Send(partitions) => {
                for &p in partitions {
                    stream.send_to(&producer, p).await;
                }
            }
            Step::Sleep(d) => tokio::time::sleep(*d).await,
            &Step::Error {
                partition,
                code,
                times,
            } => faults.push((
                cluster.fault(produce(partition).respond_error(code).times(times)),
                partition,
            )),
            &Step::LoseResponse { partition } => faults.push((
                cluster.fault(produce(partition).drop_response_after_append()),
                partition,
            )),
            &Step::CloseBefore { partition } => {
                faults.push((cluster.fault(produce(partition).close_connection()), partition))
            }
            &Step::CloseAfter { partition } => faults.push((
                cluster.fault(produce(partition).close_connection_after_handling()),
                partition,
            )),
            &Step::Slow { partition, delay } => {
                faults.push((cluster.fault(produce(partition).delay(delay)), partition))
            }
            &Step::MoveLeader { partition, to } => {
                cluster
                    .move_leader(TOPIC, partition, to)
                    .map_err(|e| format!("{step:?}: {e}"))?;
            }
            &Step::BrokerDown { node, reelect } => {
                let down = if reelect {
                    cluster.set_broker_down_and_reelect(node)
                } else {
                    cluster.set_broker_down(node)
                };
                down.map_err(|e| format!("{step:?}: {e}"))?;
            }
            &Step::BrokerUp { node } => cluster
                .set_broker_up(node)
                .map_err(|e| format!("{step:?}: {e}"))?,
            Step::ShuffleLeaders => cluster.shuffle_leaders().map_err(|e| format!("{step:?}: {e}"))?,
            &Step::Restart { crash } => {
                let mode = if crash {
                    RestartMode::Crash
                } else {
                    RestartMode::Clean
                };
                cluster
                    .restart(mode)
                    .await
                    .map_err(|e| format!("{step:?}: {e}"))?;
            }
        }
    }
    // A fault whose partition got no request after it was installed fires now.
    for _ in 0..100 {
        let idle: Vec<i32> = faults
            .iter()
            .filter(|(f, _)| f.hits() == 0)
            .map(|f| f.1)
            .collect();
        if idle.is_empty() {
            break;
        }
        for p in idle {
            stream.send_to(&producer, p).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sent = stream.finish().await;
    settle(&cluster, WAIT).await?;
    producer.close(Duration::from_secs(10)).await;

    let idle: Vec<String> = faults
        .iter()
        .filter(|(f, _)| f.hits() == 0)
        .map(|(f, _)| f.to_string())
        .collect();
    if !idle.is_empty() {
        return Err(format!("faults that never fired: {idle:?}"));
    }
    let tally = check(&cluster, TOPIC, PARTITIONS, &sent, schedule.setup.guarantee)?;
    let not_acked: Vec<String> = sent
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Acked(_)))
        .map(|s| format!("record {} to partition {}: {:?}", s.index, s.partition, s.outcome))
        .collect();
    if !not_acked.is_empty() {
        return Err(format!(
            "every record must be delivered (no delay nears delivery.timeout.ms): {not_acked:#?}"
        ));
    }
    if schedule.setup.guarantee == Guarantee::ExactlyOnceInOrder && tally.duplicates != 0 {
        return Err(format!("duplicates under idempotence: {tally:?}"));
    }
    Ok(format!(
        "{tally:?}, {} faults, {:?} virtual, {:?} real",
        faults.len(),
        started.0.elapsed(),
        started.1.elapsed()
    ))
}

/// Runs `seed`, panicking with the seed and its schedule if the guarantee does not hold.
async fn run_and_report(seed: u64) {
    // Printed first, so that even a panic deep inside names the seed (the harness shows a
    // failing test's output).
    println!("seed {seed:#x}: {:?}", Schedule::new(seed).setup);
    match run(seed).await {
        Ok(summary) => println!("seed {seed:#x}: {summary}"),
        Err(problem) => {
            let schedule = Schedule::new(seed);
            let mut steps = String::new();
            for (i, step) in schedule.steps.iter().enumerate() {
                let _ = writeln!(steps, "  {i:2}: {step:?}");
            }
            panic!(
                "seed {seed:#x} failed (replay: {SEED_ENV}={seed:#x} cargo test -p kafkit-tests \
                 randomized::replay):\n{problem}\nsetup: {:?}\nsteps:\n{steps}",
                schedule.setup
            );
        }
    }
}

/// Seeded schedules of faults and cluster events interleaved with sends: each ends with every
/// record delivered, and the log keeping the delivery guarantee of the producer's configuration
/// (exactly once in send order with idempotence, at least once with the first copies in order
/// with max.in.flight=1 without it).
#[rstest]
#[tokio::test(start_paused = true)]
async fn seeded_fault_schedules_keep_the_delivery_guarantee(
    // The setups they draw: idempotent with max.in.flight 1, 2 and 5; at least once, ordered
    // (max.in.flight=1) and not (acks=1, max.in.flight=5).
    #[values(
        0x2a,                  // idempotent, 1 in flight
        0xdead_beef_cafe_f00d, // idempotent, 1 in flight
        0x1234_5678_9abc_def0, // idempotent, 1 in flight
        10,                    // idempotent, 2 in flight
        1,                     // idempotent, 5 in flight
        0x5151_5151_5151_5151, // idempotent, 5 in flight
        13,                    // at least once, ordered
        30,                    // at least once, ordered
        0x6b61_666b_6974_0001, // at least once, acks=1, 5 in flight
        0xfeed_face_0000_0001  // at least once, acks=1, 5 in flight
    )]
    seed: u64,
) {
    run_and_report(seed).await;
}

/// Replays the seed in `KAFKIT_E2E_SEED` (decimal or `0x` hex); does nothing when it is unset.
#[tokio::test(start_paused = true)]
async fn replay() {
    let Ok(text) = std::env::var(SEED_ENV) else {
        return;
    };
    let seed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.parse(),
    };
    run_and_report(seed.expect("KAFKIT_E2E_SEED is a u64")).await;
}

/// A seed always draws the same schedule, and different seeds draw different ones; the
/// generator keeps its bounds (one broker down at a time, back within four steps, two slow
/// requests and two restarts at most).
#[test]
fn schedules_are_a_function_of_the_seed() {
    assert_eq!(Schedule::new(42), Schedule::new(42));
    assert_ne!(Schedule::new(42).steps, Schedule::new(43).steps);
    for seed in 0..200 {
        let schedule = Schedule::new(seed);
        let mut down: Option<(i32, usize)> = None;
        let mut slow = 0;
        for (i, step) in schedule.steps.iter().enumerate() {
            match step {
                Step::BrokerDown { node, .. } => {
                    assert!(down.is_none(), "seed {seed}: two brokers down");
                    down = Some((*node, i));
                }
                Step::BrokerUp { node } => {
                    let (was, since) = down.take().expect("a broker was down");
                    assert_eq!(was, *node);
                    assert!(i - since <= 5, "seed {seed}: down for {} steps", i - since);
                }
                Step::MoveLeader { to, .. } => {
                    assert!(
                        down.is_none_or(|d| d.0 != *to),
                        "seed {seed}: moved to a down broker"
                    )
                }
                Step::Slow { .. } => slow += 1,
                Step::Restart { .. } => down = None, // a restart brings every broker up
                _ => {}
            }
        }
        let restarts = schedule
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Restart { .. }))
            .count();
        assert!(down.is_none() && slow <= 2 && restarts <= 2, "seed {seed}");
    }
}
