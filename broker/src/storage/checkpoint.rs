//! Small text files replaced atomically: Kafka's `CheckpointFile` write discipline
//! (`<file>.tmp`, fsync, rename over the old file, fsync the directory), shared by the
//! leader-epoch checkpoint and `partition.metadata`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Replaces `path` with `contents` so that a crash leaves either the old or the new file.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    {
        let mut file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        file.write_all(contents)
            .map_err(|e| Error::io("write", &tmp, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io("rename", &tmp, e))?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsyncs a directory, making renames and new files in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Reads a checkpoint in Kafka's `<version>\n<count>\n<entry>\n...` format and returns the
/// entry lines, or `None` if the file does not exist. The version must be `expected_version`
/// and the count must match the lines, else the file is malformed.
pub(crate) fn read_checkpoint(path: &Path, expected_version: u32) -> Result<Option<Vec<String>>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let malformed = |reason: String| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut lines = text.lines();
    let version = lines
        .next()
        .ok_or_else(|| malformed("missing version line".to_owned()))?;
    if version.trim().parse::<u32>().ok() != Some(expected_version) {
        return Err(malformed(format!("unrecognised version {version:?}")));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| malformed("missing or bad entry count".to_owned()))?;
    let entries: Vec<String> = lines
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if entries.len() != count {
        return Err(malformed(format!(
            "expected {count} entries, found {}",
            entries.len()
        )));
    }
    Ok(Some(entries))
}

/// Formats a checkpoint in Kafka's text format.
pub(crate) fn format_checkpoint(version: u32, entries: &[String]) -> String {
    let mut out = format!("{version}\n{}\n", entries.len());
    for e in entries {
        out.push_str(e);
        out.push('\n');
    }
    out
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cp");
        assert_eq!(read_checkpoint(&path, 0).expect("read"), None);
        let entries = vec!["0 0".to_owned(), "3 1257".to_owned()];
        write_atomically(&path, format_checkpoint(0, &entries).as_bytes()).expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "0\n2\n0 0\n3 1257\n");
        assert_eq!(read_checkpoint(&path, 0).expect("read"), Some(entries));
        assert!(!dir.path().join("cp.tmp").exists());
        fs::write(&path, "0\n3\n0 0\n").expect("write");
        assert!(read_checkpoint(&path, 0).is_err());
        fs::write(&path, "1\n0\n").expect("write");
        assert!(read_checkpoint(&path, 0).is_err());
    }
}
