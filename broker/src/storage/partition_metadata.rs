//! `partition.metadata`: the topic id of a partition directory, as Kafka's
//! `PartitionMetadataFile` writes it:
//!
//! ```text
//! version: 0
//! topic_id: <the 16 uuid bytes in URL-safe base64 without padding: 22 characters>
//! ```
//!
//! Kafka's `Uuid.toString()` is that base64 form, so the same text appears in Metadata tools.

use std::fs;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::checkpoint::write_atomically;
use crate::error::{Error, Result};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Kafka's text form of a topic id: URL-safe base64 of the 16 bytes, no padding.
pub fn topic_id_to_string(id: Uuid) -> String {
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        // A chunk of k bytes yields k + 1 characters.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

/// Parses Kafka's text form of a topic id (22 URL-safe base64 characters).
pub fn topic_id_from_str(s: &str) -> Option<Uuid> {
    let s = s.as_bytes();
    if s.len() != 22 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut written = 0;
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        // A chunk of k characters holds k - 1 bytes.
        for i in 0..chunk.len() - 1 {
            out[written] = (n >> (16 - 8 * i)) as u8;
            written += 1;
        }
        // The last 2-character chunk carries 4 unused bits; canonical text has them zero.
        if chunk.len() == 2 && n & 0xffff != 0 {
            return None;
        }
    }
    Some(Uuid::from_bytes(out))
}

/// The `partition.metadata` file of a partition directory.
#[derive(Debug, Clone)]
pub struct PartitionMetadataFile {
    path: PathBuf,
}

impl PartitionMetadataFile {
    /// The file in `dir`.
    pub fn new(dir: &Path) -> Self {
        PartitionMetadataFile {
            path: dir.join(super::paths::PARTITION_METADATA_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `topic_id` atomically (tmp, fsync, rename).
    pub fn write(&self, topic_id: Uuid) -> Result<()> {
        let text = format!("version: 0\ntopic_id: {}", topic_id_to_string(topic_id));
        write_atomically(&self.path, text.as_bytes())
    }

    /// The stored topic id, `None` if the file does not exist.
    pub fn read(&self) -> Result<Option<Uuid>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", &self.path, e)),
        };
        let malformed = |reason: &str| Error::CorruptCheckpoint {
            path: self.path.clone(),
            reason: reason.to_owned(),
        };
        let mut lines = text.lines();
        let version = lines
            .next()
            .and_then(|l| l.strip_prefix("version:"))
            .map(str::trim);
        if version != Some("0") {
            return Err(malformed("expected \"version: 0\""));
        }
        let id = lines
            .next()
            .and_then(|l| l.strip_prefix("topic_id:"))
            .map(str::trim)
            .ok_or_else(|| malformed("expected \"topic_id: <id>\""))?;
        topic_id_from_str(id)
            .map(Some)
            .ok_or_else(|| malformed("topic id is not 22 url-safe base64 characters"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn matches_kafkas_uuid_text() {
        // Kafka's Uuid(mostSignificantBits=1, leastSignificantBits=2).toString().
        let id = Uuid::from_u64_pair(1, 2);
        assert_eq!(topic_id_to_string(id), "AAAAAAAAAAEAAAAAAAAAAg");
        assert_eq!(
            topic_id_to_string(Uuid::from_bytes([0xff; 16])),
            "_____________________w"
        );
        assert_eq!(topic_id_from_str("AAAAAAAAAAEAAAAAAAAAAg"), Some(id));
        assert_eq!(
            topic_id_from_str("AAAAAAAAAAEAAAAAAAAAAh"),
            None,
            "non-zero padding bits"
        );
        assert_eq!(topic_id_from_str("AAAAAAAAAAEAAAAAAAAAA="), None);
        assert_eq!(topic_id_from_str("short"), None);
    }

    #[test]
    fn file_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = PartitionMetadataFile::new(dir.path());
        assert_eq!(file.read().expect("read"), None);
        let id = Uuid::from_u64_pair(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        file.write(id).expect("write");
        let text = fs::read_to_string(file.path()).expect("read");
        assert_eq!(text, format!("version: 0\ntopic_id: {}", topic_id_to_string(id)));
        assert_eq!(file.read().expect("read"), Some(id));
    }

    proptest! {
        #[test]
        fn text_round_trips(bytes in any::<[u8; 16]>()) {
            let id = Uuid::from_bytes(bytes);
            let text = topic_id_to_string(id);
            prop_assert_eq!(text.len(), 22);
            prop_assert_eq!(topic_id_from_str(&text), Some(id));
        }
    }
}
