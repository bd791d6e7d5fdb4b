//! The record batch view, record iterator and decompression, and the broker's produce
//! validation, on arbitrary bytes.
#![no_main]

use kafkit_broker::log_validator::{validate_records, ValidationConfig};
use kafkit_protocol::record::Batches;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    for batch in Batches::new(data).flatten() {
        let _ = batch.is_crc_valid();
        let _ = batch.validate_header();
        let _ = batch.last_sequence();
        if let Ok(records) = batch.records(&mut scratch, 4 << 20) {
            for record in records.flatten() {
                for header in record.headers {
                    let _ = header.key_str();
                }
            }
        }
    }
    let config = ValidationConfig { max_decompressed_bytes: 4 << 20, ..Default::default() };
    let _ = validate_records(data, 9, &config, 1_700_000_000_000, "fuzz-0");
});
