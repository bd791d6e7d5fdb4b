//! Names on disk: topic-name validation, partition directories and segment file names, as
//! Kafka's `Topic`, `LocalLog` and `LogFileUtils` define them.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Longest topic name Kafka accepts (`Topic.MAX_NAME_LENGTH`).
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Suffix of segment data files.
pub const LOG_FILE_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub const INDEX_FILE_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub const TIME_INDEX_FILE_SUFFIX: &str = ".timeindex";
/// Suffix of aborted-transaction index files (never written by kafkit; orphans are removed).
pub const TXN_INDEX_FILE_SUFFIX: &str = ".txnindex";
/// Name of the leader-epoch checkpoint in a partition directory.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// Name of the partition metadata file (topic id) in a partition directory.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// Checks a topic name as Kafka's `Topic.validate` does, before it touches the file system:
/// ASCII letters, digits, `.`, `_` and `-`; 1 to 249 characters; not `.` or `..`.
pub fn validate_topic_name(topic: &str) -> Result<()> {
    let reason = if topic.is_empty() {
        Some("the empty string is not allowed".to_string())
    } else if topic == "." || topic == ".." {
        Some(format!("'{topic}' is not allowed"))
    } else if topic.len() > MAX_TOPIC_NAME_LENGTH {
        Some(format!(
            "the length of '{topic}' is longer than the max allowed length {MAX_TOPIC_NAME_LENGTH}"
        ))
    } else if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Some(format!(
            "'{topic}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidTopic {
            topic: topic.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// The directory of a partition's log: `<data_dir>/<topic>-<partition>` (Kafka's
/// `logDirName`). The topic name is validated first, so nothing reaches the file system for a
/// name such as `../x`.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> Result<PathBuf> {
    validate_topic_name(topic)?;
    if partition < 0 {
        return Err(Error::InvalidPartitionDir {
            path: data_dir.join(format!("{topic}-{partition}")),
            reason: format!("partition {partition} is negative"),
        });
    }
    Ok(data_dir.join(format!("{topic}-{partition}")))
}

/// Splits a partition directory name at its **last** `-` into topic and partition, as Kafka's
/// `parseTopicPartitionName` does, validating both.
pub fn parse_partition_dir(dir: &Path) -> Result<(String, i32)> {
    let bad = |reason: &str| Error::InvalidPartitionDir {
        path: dir.to_path_buf(),
        reason: reason.to_owned(),
    };
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("the name is not UTF-8"))?;
    let (topic, partition) = name
        .rsplit_once('-')
        .ok_or_else(|| bad("expected <topic>-<partition>"))?;
    let partition: i32 = partition
        .parse()
        .ok()
        .filter(|p| *p >= 0 && !partition.starts_with('+'))
        .ok_or_else(|| bad("the partition is not a non-negative integer"))?;
    validate_topic_name(topic)?;
    Ok((topic.to_owned(), partition))
}

/// `{offset:020}`: the 20-digit zero-padded prefix of a segment's files (`LogFileUtils.filenamePrefixFromOffset`).
pub fn filename_prefix_from_offset(offset: i64) -> String {
    format!("{offset:020}")
}

/// `<dir>/<base_offset:020>.log`.
pub fn log_file(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{LOG_FILE_SUFFIX}",
        filename_prefix_from_offset(base_offset)
    ))
}

/// `<dir>/<base_offset:020>.index`.
pub fn offset_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{INDEX_FILE_SUFFIX}",
        filename_prefix_from_offset(base_offset)
    ))
}

/// `<dir>/<base_offset:020>.timeindex`.
pub fn time_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{TIME_INDEX_FILE_SUFFIX}",
        filename_prefix_from_offset(base_offset)
    ))
}

/// `<dir>/<base_offset:020>.txnindex`.
pub fn txn_index_file(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!(
        "{}{TXN_INDEX_FILE_SUFFIX}",
        filename_prefix_from_offset(base_offset)
    ))
}

/// The base offset encoded in a segment file name with the given suffix, if it is one
/// (exactly 20 digits, then the suffix).
pub fn offset_from_file_name(name: &str, suffix: &str) -> Option<i64> {
    let prefix = name.strip_suffix(suffix)?;
    if prefix.len() != 20 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    prefix.parse().ok()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::simple("orders", true)]
    #[case::all_allowed_chars("a-Z_0.9", true)]
    #[case::max_length(&"a".repeat(249), true)]
    #[case::dots_inside("..a..", true)]
    #[case::empty("", false)]
    #[case::dot(".", false)]
    #[case::dot_dot("..", false)]
    #[case::slash("a/b", false)]
    #[case::backslash("a\\b", false)]
    #[case::nul("a\0b", false)]
    #[case::space("a b", false)]
    #[case::non_ascii("caf\u{e9}", false)]
    #[case::too_long(&"a".repeat(250), false)]
    fn topic_names(#[case] topic: &str, #[case] valid: bool) {
        let result = validate_topic_name(topic);
        assert_eq!(result.is_ok(), valid, "{topic:?}: {result:?}");
        if let Err(e) = result {
            assert_eq!(e.error_code(), kafkit_protocol::ErrorCode::InvalidTopicException);
        }
    }

    #[test]
    fn partition_dir_validates_before_joining() {
        let data = Path::new("/data");
        assert_eq!(
            partition_dir(data, "t", 3).expect("valid"),
            Path::new("/data/t-3")
        );
        assert!(partition_dir(data, "..", 0).is_err());
        assert!(partition_dir(data, "../etc", 0).is_err());
        assert!(partition_dir(data, "t", -1).is_err());
    }

    #[rstest]
    #[case::simple("orders-0", Some(("orders", 0)))]
    #[case::dash_in_topic("my-topic-12", Some(("my-topic", 12)))]
    #[case::no_dash("orders", None)]
    #[case::last_dash_splits("t--1", Some(("t-", 1)))]
    #[case::plus("t-+1", None)]
    #[case::empty_topic("-1", None)]
    #[case::not_a_number("t-x", None)]
    fn partition_dir_names(#[case] name: &str, #[case] expected: Option<(&str, i32)>) {
        let parsed = parse_partition_dir(&Path::new("/data").join(name)).ok();
        assert_eq!(parsed.as_ref().map(|(t, p)| (t.as_str(), *p)), expected);
    }

    #[test]
    fn segment_file_names_are_twenty_digits() {
        let dir = Path::new("/d");
        assert_eq!(log_file(dir, 0), Path::new("/d/00000000000000000000.log"));
        assert_eq!(
            offset_index_file(dir, 1257),
            Path::new("/d/00000000000000001257.index")
        );
        assert_eq!(
            time_index_file(dir, i64::MAX),
            Path::new("/d/09223372036854775807.timeindex")
        );
        assert_eq!(
            offset_from_file_name("00000000000000001257.log", ".log"),
            Some(1257)
        );
        assert_eq!(offset_from_file_name("1257.log", ".log"), None);
        assert_eq!(offset_from_file_name("00000000000000001257.index", ".log"), None);
    }
}
