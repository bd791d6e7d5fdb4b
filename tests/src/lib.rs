//! kafkit's end-to-end suite lives in `tests/e2e/` (`main.rs` and its modules) (one test binary): scenario functions that
//! take a [`kafkit_testkit::Target`] and run, through rstest cases, against the in-process
//! MockCluster (always), an external broker from `KAFKIT_BOOTSTRAP` (when set) and Apache Kafka
//! in Docker (with the `testcontainers` feature, when Docker is reachable). This library is
//! empty on purpose.
