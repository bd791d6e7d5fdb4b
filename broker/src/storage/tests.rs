//! Tests of the storage layer as a whole, through [`PartitionLog`](super::PartitionLog).

mod append;
mod fixtures;
mod producer;
mod read;
mod recovery;
mod transactions;
