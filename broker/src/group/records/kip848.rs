//! KIP-848's records in `__consumer_offsets`, in Kafka's schemas: keys are not flexible (int16
//! record type, then int16-length strings); values are version 0 of flexible schemas (compact
//! strings and arrays, unsigned-varint lengths plus one, a tagged-field section after each
//! struct, which kafkit writes empty and skips when reading).
//!
//! | type | key | value |
//! |---|---|---|
//! | 3 | group | `ConsumerGroupMetadata`: epoch (see the parent module) |
//! | 5 | group, member | `ConsumerGroupMemberMetadata`: instance id, rack id, client id and host, subscribed names, regex, rebalance timeout, server assignor |
//! | 6 | group | `ConsumerGroupTargetAssignmentMetadata`: assignment epoch |
//! | 7 | group, member | `ConsumerGroupTargetAssignmentMember`: partitions by topic id |
//! | 8 | group, member | `ConsumerGroupCurrentMemberAssignment`: member epoch, previous epoch, state, assigned partitions, partitions pending revocation |
//!
//! # References
//! - Kafka's `ConsumerGroupMemberMetadataValue`, `ConsumerGroupTargetAssignmentMetadataValue`,
//!   `ConsumerGroupTargetAssignmentMemberValue`, `ConsumerGroupCurrentMemberAssignmentValue`
//!   schemas (group-coordinator module), and `MemberState` (STABLE 0, UNREVOKED_PARTITIONS 1,
//!   UNRELEASED_PARTITIONS 2).

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::{put_str, read_i16, read_i32, read_str};

/// Partitions by topic id.
pub type Partitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// The record types of KIP-848 groups that kafkit writes, besides the group's epoch (3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberRecord {
    /// 5: the member's metadata.
    Metadata,
    /// 7: the member's target assignment.
    Target,
    /// 8: the member's current assignment.
    Current,
}

impl MemberRecord {
    fn key_type(self) -> i16 {
        match self {
            MemberRecord::Metadata => 5,
            MemberRecord::Target => 7,
            MemberRecord::Current => 8,
        }
    }

    /// The record's key: type, group, member.
    pub fn key(self, group: &str, member: &str) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(self.key_type());
        put_str(&mut out, group);
        put_str(&mut out, member);
        out.freeze()
    }
}

/// The key of a group's target assignment metadata (type 6).
pub fn target_metadata_key(group: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(6);
    put_str(&mut out, group);
    out.freeze()
}

/// A KIP-848 key, read back: (type, group, member for 5, 7 and 8).
pub fn decode_key(mut b: &[u8]) -> Option<(i16, String, Option<String>)> {
    let kind = read_i16(&mut b)?;
    let group = read_str(&mut b)?;
    let member = match kind {
        5 | 7 | 8 => Some(read_str(&mut b)?),
        6 => None,
        _ => return None,
    };
    Some((kind, group, member))
}

/// A member's stored metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadata {
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topic names.
    pub subscribed_topic_names: Vec<String>,
    /// Subscribed regex.
    pub subscribed_topic_regex: Option<String>,
    /// Rebalance timeout (ms).
    pub rebalance_timeout_ms: i32,
    /// The server assignor it asked for.
    pub server_assignor: Option<String>,
}

/// A member's stored current assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentAssignment {
    /// Member epoch.
    pub epoch: i32,
    /// Previous member epoch.
    pub previous_epoch: i32,
    /// `MemberState`: 0 stable, 1 unrevoked partitions, 2 unreleased partitions.
    pub state: i8,
    /// Owned partitions.
    pub assigned: Partitions,
    /// Partitions it must give up.
    pub pending_revocation: Partitions,
}

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn put_compact_str(out: &mut BytesMut, s: Option<&str>) {
    match s {
        None => put_uvarint(out, 0),
        Some(s) => {
            put_uvarint(out, s.len() as u32 + 1);
            out.put_slice(s.as_bytes());
        }
    }
}

fn put_partitions(out: &mut BytesMut, partitions: &Partitions) {
    put_uvarint(out, partitions.len() as u32 + 1);
    for (topic, ps) in partitions {
        out.put_slice(topic.as_bytes());
        put_uvarint(out, ps.len() as u32 + 1);
        for p in ps {
            out.put_i32(*p);
        }
        put_uvarint(out, 0); // the struct's tagged fields
    }
}

fn read_uvarint(b: &mut &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for i in 0..5 {
        let byte = *b.first()?;
        b.advance(1);
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// A compact length: `None` for null (0), else the length, which must fit in what is left.
fn read_compact_len(b: &mut &[u8]) -> Option<Option<usize>> {
    let n = read_uvarint(b)? as usize;
    if n == 0 {
        return Some(None);
    }
    let len = n - 1;
    (len <= b.len()).then_some(Some(len))
}

fn read_compact_str(b: &mut &[u8]) -> Option<Option<String>> {
    let Some(len) = read_compact_len(b)? else {
        return Some(None);
    };
    let s = String::from_utf8(b[..len].to_vec()).ok()?;
    b.advance(len);
    Some(Some(s))
}

/// Skips a tagged-field section.
fn skip_tags(b: &mut &[u8]) -> Option<()> {
    let count = read_uvarint(b)?;
    for _ in 0..count {
        read_uvarint(b)?;
        let size = read_uvarint(b)? as usize;
        if size > b.len() {
            return None;
        }
        b.advance(size);
    }
    Some(())
}

fn read_partitions(b: &mut &[u8]) -> Option<Partitions> {
    let count = read_compact_len(b)?.unwrap_or(0);
    let mut out = Partitions::new();
    for _ in 0..count {
        if b.len() < 16 {
            return None;
        }
        let topic = Uuid::from_slice(&b[..16]).ok()?;
        b.advance(16);
        let n = read_compact_len(b)?.unwrap_or(0);
        let mut ps = BTreeSet::new();
        for _ in 0..n {
            ps.insert(read_i32(b)?);
        }
        skip_tags(b)?;
        out.insert(topic, ps);
    }
    Some(out)
}

impl MemberMetadata {
    /// The value's bytes (version 0).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(0);
        put_compact_str(&mut out, self.instance_id.as_deref());
        put_compact_str(&mut out, self.rack_id.as_deref());
        put_compact_str(&mut out, Some(&self.client_id));
        put_compact_str(&mut out, Some(&self.client_host));
        put_uvarint(&mut out, self.subscribed_topic_names.len() as u32 + 1);
        for t in &self.subscribed_topic_names {
            put_compact_str(&mut out, Some(t));
        }
        put_compact_str(&mut out, self.subscribed_topic_regex.as_deref());
        out.put_i32(self.rebalance_timeout_ms);
        put_compact_str(&mut out, self.server_assignor.as_deref());
        put_uvarint(&mut out, 0);
        out.freeze()
    }

    /// Reads a version 0 value.
    pub fn decode(mut b: &[u8]) -> Option<MemberMetadata> {
        let b = &mut b;
        (read_i16(b)? == 0).then_some(())?;
        let instance_id = read_compact_str(b)?;
        let rack_id = read_compact_str(b)?;
        let client_id = read_compact_str(b)?.unwrap_or_default();
        let client_host = read_compact_str(b)?.unwrap_or_default();
        let count = read_compact_len(b)?.unwrap_or(0);
        let mut subscribed_topic_names = Vec::new();
        for _ in 0..count {
            subscribed_topic_names.push(read_compact_str(b)?.unwrap_or_default());
        }
        let subscribed_topic_regex = read_compact_str(b)?;
        let rebalance_timeout_ms = read_i32(b)?;
        let server_assignor = read_compact_str(b)?;
        skip_tags(b)?;
        Some(MemberMetadata {
            instance_id,
            rack_id,
            client_id,
            client_host,
            subscribed_topic_names,
            subscribed_topic_regex,
            rebalance_timeout_ms,
            server_assignor,
        })
    }
}

/// A target assignment member value (type 7, version 0).
pub fn encode_target(partitions: &Partitions) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    put_partitions(&mut out, partitions);
    put_uvarint(&mut out, 0);
    out.freeze()
}

/// Reads a target assignment member value.
pub fn decode_target(mut b: &[u8]) -> Option<Partitions> {
    let b = &mut b;
    (read_i16(b)? == 0).then_some(())?;
    let partitions = read_partitions(b)?;
    skip_tags(b)?;
    Some(partitions)
}

/// A target assignment metadata value (type 6, version 0): the assignment epoch.
pub fn encode_assignment_epoch(epoch: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(7);
    out.put_i16(0);
    out.put_i32(epoch);
    put_uvarint(&mut out, 0);
    out.freeze()
}

/// Reads a target assignment metadata value's epoch.
pub fn decode_assignment_epoch(mut b: &[u8]) -> Option<i32> {
    let b = &mut b;
    (read_i16(b)? == 0).then_some(())?;
    let epoch = read_i32(b)?;
    skip_tags(b)?;
    Some(epoch)
}

impl CurrentAssignment {
    /// The value's bytes (version 0).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(0);
        out.put_i32(self.epoch);
        out.put_i32(self.previous_epoch);
        out.put_i8(self.state);
        put_partitions(&mut out, &self.assigned);
        put_partitions(&mut out, &self.pending_revocation);
        put_uvarint(&mut out, 0);
        out.freeze()
    }

    /// Reads a version 0 value.
    pub fn decode(mut b: &[u8]) -> Option<CurrentAssignment> {
        let b = &mut b;
        (read_i16(b)? == 0).then_some(())?;
        let epoch = read_i32(b)?;
        let previous_epoch = read_i32(b)?;
        let state = *b.first()? as i8;
        b.advance(1);
        let assigned = read_partitions(b)?;
        let pending_revocation = read_partitions(b)?;
        skip_tags(b)?;
        Some(CurrentAssignment {
            epoch,
            previous_epoch,
            state,
            assigned,
            pending_revocation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions() -> Partitions {
        BTreeMap::from([
            (Uuid::from_u128(1), BTreeSet::from([0, 2])),
            (Uuid::from_u128(2), BTreeSet::new()),
        ])
    }

    #[test]
    fn values_round_trip() {
        let metadata = MemberMetadata {
            instance_id: Some("i".into()),
            rack_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            subscribed_topic_names: vec!["a".into(), "b".into()],
            subscribed_topic_regex: Some("x.*".into()),
            rebalance_timeout_ms: 30_000,
            server_assignor: Some("range".into()),
        };
        assert_eq!(MemberMetadata::decode(&metadata.encode()), Some(metadata));
        assert_eq!(decode_target(&encode_target(&partitions())), Some(partitions()));
        assert_eq!(decode_assignment_epoch(&encode_assignment_epoch(9)), Some(9));
        let current = CurrentAssignment {
            epoch: 4,
            previous_epoch: 3,
            state: 1,
            assigned: partitions(),
            pending_revocation: BTreeMap::from([(Uuid::from_u128(3), BTreeSet::from([7]))]),
        };
        assert_eq!(CurrentAssignment::decode(&current.encode()), Some(current));
        let key = MemberRecord::Current.key("g", "m");
        assert_eq!(&key[..], &[0, 8, 0, 1, b'g', 0, 1, b'm']);
        assert_eq!(decode_key(&key), Some((8, "g".into(), Some("m".into()))));
        assert_eq!(decode_key(&target_metadata_key("g")), Some((6, "g".into(), None)));
    }

    /// The target value as Kafka lays it out: version, a compact array of one topic (uuid, a
    /// compact array of int32, no tags), no tags.
    #[test]
    fn target_bytes_are_kafkas() {
        let one = BTreeMap::from([(Uuid::from_u128(1), BTreeSet::from([5]))]);
        let mut expected = vec![0, 0, 2];
        expected.extend_from_slice(Uuid::from_u128(1).as_bytes());
        expected.extend_from_slice(&[2, 0, 0, 0, 5, 0, 0]);
        assert_eq!(&encode_target(&one)[..], &expected[..]);
    }

    #[test]
    fn truncated_values_are_refused() {
        let current = CurrentAssignment {
            assigned: partitions(),
            ..CurrentAssignment::default()
        }
        .encode();
        for len in 0..current.len() {
            assert_eq!(CurrentAssignment::decode(&current[..len]), None, "cut at {len}");
        }
        let metadata = MemberMetadata::default().encode();
        for len in 0..metadata.len() {
            assert_eq!(MemberMetadata::decode(&metadata[..len]), None, "cut at {len}");
        }
    }
}
