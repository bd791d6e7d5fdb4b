//! [`LogSegments`]: a partition's segments ordered by base offset (Kafka's `LogSegments`).

use std::collections::BTreeMap;
use std::ops::Bound;

use super::segment::LogSegment;

/// The segments of a partition, by base offset; the last one is the active segment.
#[derive(Debug, Default)]
pub struct LogSegments {
    segments: BTreeMap<i64, LogSegment>,
}

impl LogSegments {
    /// Adds (or replaces) the segment at its base offset.
    pub(crate) fn add(&mut self, segment: LogSegment) {
        self.segments.insert(segment.base_offset(), segment);
    }

    /// Removes the segment at `base_offset`.
    pub(crate) fn remove(&mut self, base_offset: i64) -> Option<LogSegment> {
        self.segments.remove(&base_offset)
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// Whether there are none (only while loading).
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The segments in offset order.
    pub fn iter(&self) -> impl Iterator<Item = &LogSegment> {
        self.segments.values()
    }

    /// Base offsets in order.
    pub fn base_offsets(&self) -> Vec<i64> {
        self.segments.keys().copied().collect()
    }

    /// The segment at `base_offset`.
    pub fn get(&self, base_offset: i64) -> Option<&LogSegment> {
        self.segments.get(&base_offset)
    }

    pub(crate) fn get_mut(&mut self, base_offset: i64) -> Option<&mut LogSegment> {
        self.segments.get_mut(&base_offset)
    }

    /// The first segment.
    pub fn first(&self) -> Option<&LogSegment> {
        self.segments.values().next()
    }

    /// The active (last) segment.
    pub fn active(&self) -> Option<&LogSegment> {
        self.segments.values().next_back()
    }

    pub(crate) fn active_mut(&mut self) -> Option<&mut LogSegment> {
        self.segments.values_mut().next_back()
    }

    /// The segment with the largest base offset `<= offset`: the one that holds `offset`.
    pub fn floor(&self, offset: i64) -> Option<&LogSegment> {
        self.segments.range(..=offset).next_back().map(|(_, s)| s)
    }

    /// The segment after the one at `base_offset`.
    pub fn higher(&self, base_offset: i64) -> Option<&LogSegment> {
        self.segments
            .range((Bound::Excluded(base_offset), Bound::Unbounded))
            .next()
            .map(|(_, s)| s)
    }

    /// Takes every segment.
    pub(crate) fn take_all(&mut self) -> Vec<LogSegment> {
        std::mem::take(&mut self.segments).into_values().collect()
    }
}
