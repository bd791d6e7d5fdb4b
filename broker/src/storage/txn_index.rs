//! `.txnindex` files: each segment's aborted transactions, in Kafka's layout (`TransactionIndex`,
//! `AbortedTxn`): 34-byte entries, `version (int16, 0), producer_id (int64), first_offset
//! (int64), last_offset (int64), last_stable_offset (int64)`, big-endian, in marker order.
//!
//! A segment's file holds the transactions whose ABORT marker is in it, and exists only once
//! it has one (Kafka creates it lazily too). kafkit keeps the aborted transactions of a
//! partition in memory (the producer state, [`super::producer_state`]), rebuilt from the log
//! at startup; the files are written for Kafka's tools and as Kafka lays its data out: an
//! entry is appended when its marker is, and every file is rewritten from the log's
//! transactions after loading, which takes recovery's truncations into account.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::checkpoint::write_atomically;
use super::paths;
use super::producer_state::AbortedTxn;
use crate::error::{Error, Result};

/// Bytes per entry.
pub const ENTRY_SIZE: usize = 34;

fn entry(txn: &AbortedTxn) -> [u8; ENTRY_SIZE] {
    let mut out = [0u8; ENTRY_SIZE];
    out[2..10].copy_from_slice(&txn.producer_id.to_be_bytes());
    out[10..18].copy_from_slice(&txn.first_offset.to_be_bytes());
    out[18..26].copy_from_slice(&txn.last_offset.to_be_bytes());
    out[26..34].copy_from_slice(&txn.last_stable_offset.to_be_bytes());
    out
}

/// Appends `txn` to the `.txnindex` of the segment based at `segment_base`, creating it.
pub(crate) fn append(dir: &Path, segment_base: i64, txn: &AbortedTxn) -> Result<()> {
    let path = paths::txn_index_file(dir, segment_base);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    file.write_all(&entry(txn))
        .map_err(|e| Error::io("write", &path, e))
}

/// Rewrites every segment's `.txnindex` from `aborted` (each transaction in the segment whose
/// range holds its marker); a segment without one has no file.
pub(crate) fn rebuild(dir: &Path, segment_bases: &[i64], aborted: &[AbortedTxn]) -> Result<()> {
    for (i, &base) in segment_bases.iter().enumerate() {
        let next = segment_bases.get(i + 1).copied().unwrap_or(i64::MAX);
        let bytes: Vec<u8> = aborted
            .iter()
            .filter(|t| t.last_offset >= base && t.last_offset < next)
            .flat_map(entry)
            .collect();
        let path = paths::txn_index_file(dir, base);
        if bytes.is_empty() {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete", &path, e)),
            }
        } else {
            write_atomically(&path, &bytes)?;
        }
    }
    Ok(())
}

/// Reads a `.txnindex` file's entries (for tests and inspection).
pub fn read(path: &Path) -> Result<Vec<AbortedTxn>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let int = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap_or([0; 8]));
    Ok(bytes
        .chunks_exact(ENTRY_SIZE)
        .map(|e| AbortedTxn {
            producer_id: int(&e[2..10]),
            first_offset: int(&e[10..18]),
            last_offset: int(&e[18..26]),
            last_stable_offset: int(&e[26..34]),
        })
        .collect())
}
