//! Startup recovery of a partition whose only segment holds arbitrary bytes: it must open,
//! keep only a prefix of valid batches at contiguous offsets, and serve reads of what it kept.
#![no_main]

use kafkit_broker::storage::{partition_dir, LogConfig, PartitionLog};
use kafkit_protocol::record::Batches;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // tmpfs when there is one: recovery does real file I/O, and the disk is the bottleneck.
    let root = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    };
    let Ok(root) = root else { return };
    let Ok(dir) = partition_dir(root.path(), "fuzz", 0) else { return };
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    if std::fs::write(dir.join("00000000000000000000.log"), data).is_err() {
        return;
    }
    // Small indexes: preallocating the default 10 MiB per run would dominate the time.
    let config = LogConfig { index_interval_bytes: 64, segment_index_bytes: 8 * 1024, ..LogConfig::default() };
    let log = match PartitionLog::open(&dir, config, false, 0) {
        Ok(log) => log,
        Err(_) => return,
    };
    let leo = log.log_end_offset();
    let mut next = 0;
    for batch in log.batches_from(0) {
        let Ok(bytes) = batch else { break };
        for b in Batches::new(&bytes) {
            let b = b.expect("recovered batches parse");
            assert!(b.is_crc_valid(), "recovery kept a batch with a bad crc");
            assert_eq!(b.base_offset(), next, "recovered offsets are contiguous");
            next = b.next_offset();
        }
    }
    assert_eq!(next, leo, "log end offset matches the kept batches");
    let _ = log.read(0, 1 << 20, true);
});
