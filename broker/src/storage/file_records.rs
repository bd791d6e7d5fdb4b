//! Reading batches out of a `.log` file, as Kafka's `FileRecords` / `FileLogInputStream` do:
//! [`FileBatches`] walks the batches from a byte position through a growing read buffer, and
//! ends quietly at a partial trailing batch (a torn write).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use kafkit_protocol::record::Batches;
use kafkit_protocol::RecordBatch;

use crate::error::{Error, Result};

/// Reads `len` bytes at `position`.
pub(crate) fn read_at(file: &File, path: &Path, position: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, position)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(buf)
}

/// The batches of a file region `[start, end)`, read in chunks.
///
/// A chunk that ends inside a batch is extended (doubling) until the batch fits, so a batch
/// of any size is returned whole; bytes past `end` are never read.
pub(crate) struct FileBatches<'f> {
    file: &'f File,
    path: &'f Path,
    end: u64,
    /// Bytes read from the file, starting at `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    /// Bytes of `buf` already returned.
    cursor: usize,
    chunk: usize,
}

enum Step {
    Batch(usize),
    Corrupt(kafkit_protocol::Error),
    NeedMore,
}

impl<'f> FileBatches<'f> {
    /// Batches of `file` from `start` (a batch boundary) up to `end` (the segment's size),
    /// reading `chunk` bytes at a time at first.
    pub(crate) fn new(file: &'f File, path: &'f Path, start: u64, end: u64, chunk: usize) -> Self {
        FileBatches {
            file,
            path,
            end,
            buf: Vec::new(),
            buf_start: start,
            cursor: 0,
            chunk: chunk.max(64),
        }
    }

    /// File position of the next batch (after the last one returned).
    pub(crate) fn position(&self) -> u64 {
        self.buf_start + self.cursor as u64
    }

    /// The next batch and its file position; `Ok(None)` at the end of the region or at a
    /// partial trailing batch; `Err` for bytes Kafka's log reader rejects (a length below 14, a
    /// bad magic, a batch shorter than its header), after which the caller stops.
    pub(crate) fn next_batch(&mut self) -> Result<Option<(u64, RecordBatch<'_>)>> {
        let size = loop {
            let step = match Batches::new(&self.buf[self.cursor..]).next() {
                Some(Ok(batch)) => Step::Batch(batch.size_in_bytes()),
                Some(Err(e)) => Step::Corrupt(e),
                None => Step::NeedMore,
            };
            match step {
                Step::Batch(size) => break size,
                Step::Corrupt(e) => return Err(e.into()),
                Step::NeedMore => {
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        };
        let position = self.position();
        let start = self.cursor;
        self.cursor += size;
        let batch = RecordBatch::parse(&self.buf[start..start + size])?;
        Ok(Some((position, batch)))
    }

    /// Reads more of the file after the buffered bytes; `false` at the end of the region.
    fn fill(&mut self) -> Result<bool> {
        let read_to = self.buf_start + self.buf.len() as u64;
        if read_to >= self.end {
            return Ok(false);
        }
        // Drop what was consumed, then grow by at least what is left so a large batch needs
        // only a logarithmic number of reads.
        self.buf.drain(..self.cursor);
        self.buf_start += self.cursor as u64;
        self.cursor = 0;
        let want = self.chunk.max(self.buf.len());
        let len = usize::try_from((self.end - read_to).min(want as u64)).unwrap_or(want);
        let old = self.buf.len();
        self.buf.resize(old + len, 0);
        self.file
            .read_exact_at(&mut self.buf[old..], read_to)
            .map_err(|e| Error::io("read", self.path, e))?;
        Ok(true)
    }
}
