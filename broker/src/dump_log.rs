//! `kafkit-broker dump-log`: prints what a segment file holds, like Kafka's `kafka-dump-log`.
//!
//! A `.log` file is read batch by batch from position 0: position, base and last offset, record
//! count, size, CRC validity, codec, timestamps, producer id/epoch/sequence, leader epoch; with
//! `--records`, every record. An `.index` or `.timeindex` file prints its entries (zero entries
//! of a preallocated active index are skipped). Anything that does not add up — a CRC mismatch, a
//! record that does not parse, a torn tail, offsets that go backwards, index entries out of order
//! — is reported and makes the report fail.

use std::fmt::Write as _;
use std::path::Path;

use kafkit_protocol::record::{Batches, NO_TIMESTAMP};

/// The text report of one file and whether it found corruption.
#[derive(Debug, Default)]
pub struct DumpReport {
    /// Human-readable lines.
    pub text: String,
    /// Problems found; empty means the file is clean.
    pub problems: Vec<String>,
}

/// Reads `path` and describes it.
pub fn dump_file(path: &Path, records: bool) -> std::io::Result<DumpReport> {
    let bytes = std::fs::read(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let base_offset: i64 = name.split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut report = DumpReport::default();
    let _ = writeln!(report.text, "Dumping {}", path.display());
    if name.ends_with(".log") {
        dump_log(&bytes, base_offset, records, &mut report);
    } else if name.ends_with(".timeindex") {
        dump_index(&bytes, base_offset, 12, &mut report);
    } else if name.ends_with(".index") {
        dump_index(&bytes, base_offset, 8, &mut report);
    } else {
        report
            .problems
            .push(format!("{name}: not a .log, .index or .timeindex file"));
    }
    for p in &report.problems {
        let _ = writeln!(report.text, "CORRUPTION: {p}");
    }
    Ok(report)
}

fn dump_log(bytes: &[u8], base_offset: i64, records: bool, report: &mut DumpReport) {
    let mut batches = Batches::new(bytes);
    let mut expected_next = base_offset;
    let mut scratch = Vec::new();
    loop {
        let position = batches.position();
        let batch = match batches.next() {
            None => break,
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                report.problems.push(format!("position {position}: {e}"));
                return;
            }
        };
        let valid = batch.is_crc_valid();
        let _ = writeln!(
            report.text,
            "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} producerEpoch: {} \
             partitionLeaderEpoch: {} isTransactional: {} isControl: {} position: {position} CreateTime: {} size: {} \
             magic: {} compresscodec: {} crc: {} isvalid: {valid}",
            batch.base_offset(),
            batch.last_offset(),
            batch.records_count(),
            batch.base_sequence(),
            batch.last_sequence(),
            batch.producer_id(),
            batch.producer_epoch(),
            batch.partition_leader_epoch(),
            batch.is_transactional(),
            batch.is_control(),
            batch.max_timestamp(),
            batch.size_in_bytes(),
            batch.magic(),
            batch.compression().map_or("unknown", |c| c.name()),
            batch.crc(),
        );
        if !valid {
            report.problems.push(format!(
                "position {position}: crc {:#010x} does not match the batch",
                batch.crc()
            ));
        }
        if batch.base_offset() < expected_next {
            report.problems.push(format!(
                "position {position}: base offset {} is below the previous batch's next offset {expected_next}",
                batch.base_offset()
            ));
        }
        expected_next = batch.next_offset();
        if let Err(e) = batch.validate_header() {
            report.problems.push(format!("position {position}: {e}"));
        }
        match batch.records(&mut scratch, 256 << 20) {
            Err(e) => report.problems.push(format!("position {position}: {e}")),
            Ok(iter) => {
                for r in iter {
                    match r {
                        Ok(r) if records => {
                            let ts = if r.timestamp == NO_TIMESTAMP {
                                "none".to_string()
                            } else {
                                r.timestamp.to_string()
                            };
                            let show = |b: Option<&[u8]>| {
                                b.map_or("null".to_string(), |b| String::from_utf8_lossy(b).into_owned())
                            };
                            let headers: Vec<String> = r
                                .headers
                                .map(|h| format!("{}={}", String::from_utf8_lossy(h.key), show(h.value)))
                                .collect();
                            let _ = writeln!(
                                report.text,
                                "| offset: {} {}: {ts} keySize: {} valueSize: {} headerKeys: [{}] key: {} payload: {}",
                                r.offset,
                                batch.timestamp_type().name(),
                                r.key.map_or(-1, |k| k.len() as i64),
                                r.value.map_or(-1, |v| v.len() as i64),
                                headers.join(","),
                                show(r.key),
                                show(r.value),
                            );
                        }
                        Ok(_) => {}
                        Err(e) => {
                            report.problems.push(format!("position {position}: {e}"));
                            break;
                        }
                    }
                }
            }
        }
    }
    if !batches.remaining().is_empty() {
        report.problems.push(format!(
            "{} trailing bytes at position {} do not form a complete batch",
            batches.remaining().len(),
            batches.position()
        ));
    }
}

fn dump_index(bytes: &[u8], base_offset: i64, entry: usize, report: &mut DumpReport) {
    if !bytes.len().is_multiple_of(entry) {
        report.problems.push(format!(
            "index length {} is not a multiple of {entry}",
            bytes.len()
        ));
    }
    let mut last: Option<(i64, i64)> = None;
    for (i, e) in bytes.chunks_exact(entry).enumerate() {
        let (key, value) = if entry == 8 {
            let rel = i32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let pos = i32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            (base_offset + i64::from(rel), i64::from(pos))
        } else {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            let rel = i32::from_be_bytes([e[8], e[9], e[10], e[11]]);
            (i64::from_be_bytes(ts), base_offset + i64::from(rel))
        };
        // A preallocated (active) index is zero-filled after its last entry.
        if i > 0 && e.iter().all(|&b| b == 0) {
            break;
        }
        if entry == 8 {
            let _ = writeln!(report.text, "offset: {key} position: {value}");
        } else {
            let _ = writeln!(report.text, "timestamp: {key} offset: {value}");
        }
        if let Some((k, v)) = last {
            if key < k || value < v {
                report.problems.push(format!(
                    "entry {i} ({key}, {value}) goes backwards from ({k}, {v})"
                ));
            }
        }
        last = Some((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{partition_dir, LogConfig, PartitionLog};
    use kafkit_protocol::record::RecordBatchBuilder;
    use kafkit_protocol::Compression;

    fn segment_with_batches(dir: &Path, n: usize) -> std::path::PathBuf {
        let pdir = partition_dir(dir, "t", 0).expect("dir");
        let config = LogConfig {
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(&pdir, config, true, 0).expect("open");
        for i in 0..n {
            let mut b = RecordBatchBuilder::new(Compression::Gzip);
            b.append(1_700_000_000_000 + i as i64, Some(b"k"), Some(b"v"), &[]);
            let bytes = b.build().expect("build").to_vec();
            log.append_as_leader(&bytes, 0, 1_700_000_000_000)
                .expect("append");
        }
        log.close().expect("close");
        pdir.join("00000000000000000000.log")
    }

    #[test]
    fn a_clean_segment_reports_every_batch_and_index_entry() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = segment_with_batches(dir.path(), 5);
        let report = dump_file(&log, true).expect("read");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.text.matches("baseOffset:").count(), 5);
        assert_eq!(report.text.matches("| offset:").count(), 5);
        let index = dump_file(&log.with_extension("index"), false).expect("read");
        assert!(
            index.problems.is_empty() && index.text.contains("offset: "),
            "{}",
            index.text
        );
        let time = dump_file(&log.with_extension("timeindex"), false).expect("read");
        assert!(
            time.problems.is_empty() && time.text.contains("timestamp: "),
            "{}",
            time.text
        );
    }

    #[test]
    fn corruption_and_torn_tails_are_reported() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = segment_with_batches(dir.path(), 3);
        let mut bytes = std::fs::read(&log).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 0xff;
        std::fs::write(&log, &bytes).expect("write");
        assert!(
            !dump_file(&log, false).expect("read").problems.is_empty(),
            "flipped byte"
        );
        bytes[last] ^= 0xff;
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&log, &bytes).expect("write");
        let report = dump_file(&log, false).expect("read");
        assert!(
            report.problems.iter().any(|p| p.contains("trailing bytes")),
            "{:?}",
            report.problems
        );
    }
}
