//! The test kit's integration tests, in one binary (librdkafka is linked once).
//!
//! Clients nobody here wrote drive the cluster: librdkafka through the `rdkafka` crate, and
//! raw typed requests through [`kafkit_testkit::WireClient`]. Every test that installs a fault
//! asserts that it fired.

mod common;
mod events;
mod faults;
mod groups;
mod journal;
mod producer;
mod rdkafka_faults;
mod readme;
mod restart;
mod security;
mod targets;
mod transactions;
