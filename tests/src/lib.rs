//! kafkit's end-to-end suite. This library is empty on purpose: the suite is one test binary,
//! `tests/e2e/` (`main.rs` and its modules), made of scenario functions that each take a
//! [`kafkit_testkit::Target`] and check one Kafka behaviour of kafkit's producer against what
//! the target stored.
//!
//! # Targets
//! - **kafkit mock** (always): the test kit's in-process `MockCluster`, producers connected in
//!   memory. The only target with a request journal, faults (hold/release, errors, lost
//!   responses) and broker settings, so the scenarios that need those run here only, under
//!   tokio's paused clock.
//! - **librdkafka mock** (always): librdkafka's mock cluster through the `rdkafka` crate, so
//!   kafkit's producer also meets a broker nobody here wrote. Owned by a thread of its own (it
//!   is neither `Send` nor `Sync`); topics are created with its own API (it does not serve
//!   CreateTopics); partitions are read back over TCP by the test kit's fetch client.
//! - **External** (when `KAFKIT_BOOTSTRAP` is set): any Kafka-compatible cluster.
//! - **Kafka** (with the test kit's `testcontainers` feature and a reachable Docker):
//!   `apache/kafka-native` in a container.
//!
//! A target that is unavailable, or a scenario that cannot run on a target, prints
//! `skipped: ...` with the reason and passes.
//!
//! # Modules
//! - `everywhere`: scenarios on all four targets (rstest cases `on_1_On__Kafkit`,
//!   `on_2_On__Librdkafka`, `on_3_On__External`, `on_4_On__Kafka`): keyed records on Java's
//!   partitions; keyless records by KIP-794's sticky rule (checked against a model of Java's
//!   accumulator and partitioner, seeded draws); contiguous offsets with timestamps; acks
//!   0/1/all; every codec; headers and null/empty keys and values; records larger than
//!   `batch.size`; a record over `max.request.size` refused before sending; `flush` and `close`.
//! - `librdkafka`: the librdkafka mock as a `Target`.
//! - `shaping` (kafkit mock, journal): `linger.ms`, `batch.size` and `max.request.size` shaping
//!   Produce requests; the broker's MESSAGE_TOO_LARGE for one record, and a too-large batch
//!   split until every record lands.
//! - `held_broker` (kafkit mock, faults): `buffer.memory` backpressure (`try_send`, `send` up to
//!   `max.block.ms`); `delivery.timeout.ms` expiry in flight and unsent, with whether the record
//!   may have been written; `flush` and `close(timeout)` while requests are held.
//! - `guarantee`: the record stream the fault scenarios send and the check of the delivery
//!   guarantee the producer's configuration promises, against what the mock cluster stored.
//! - `faults` (kafkit mock, faults and cluster events): a stream sent across partitions while
//!   faults hit, with and without idempotence (exactly once in order versus at least once).
//! - `randomized` (kafkit mock): seeded schedules of those faults and cluster events
//!   interleaved with sends, checked the same way; a failure prints its seed, and
//!   `KAFKIT_E2E_SEED` replays one.
//! - `real_clients` (kafkit mock over TCP): librdkafka's idempotent producer and its consumer
//!   (the `rdkafka` crate) round-trip through kafkit's broker with every codec; the segment
//!   files then pass `kafkit-broker dump-log`.
