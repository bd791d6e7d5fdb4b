//! The records of `__consumer_offsets`, in Kafka's schemas, so that Kafka's tools read kafkit's
//! files (`kafka-dump-log --offsets-decoder`) and kafkit reads back what it wrote.
//!
//! Each record's key and value start with an int16 schema version; strings are int16-length
//! prefixed, bytes int32-length prefixed, arrays int32-count prefixed (the schemas' versions
//! used here are not flexible). A null value is a tombstone: the offset or the group is gone.
//!
//! - Offset commit: key v1 `{group, topic, partition}`; value v3 `{offset, leader_epoch,
//!   metadata, commit_timestamp}`.
//! - Group metadata: key v2 `{group}`; value v3 `{protocol_type, generation, protocol (nullable),
//!   leader (nullable), current_state_timestamp, members: [{member_id, group_instance_id
//!   (nullable), client_id, client_host, rebalance_timeout, session_timeout, subscription,
//!   assignment}]}`.
//!
//! - KIP-848 consumer group metadata: key v3 `{group}`; value v0 (flexible) `{epoch}` with an
//!   empty tagged-field section (4.1's `MetadataHash` is a tagged field, left out); the
//!   members' metadata, targets and current assignments, and the target's epoch, are in
//!   [`kip848`].
//!
//! # References
//! - Kafka's `OffsetCommitKey`, `OffsetCommitValue`, `GroupMetadataKey`, `GroupMetadataValue`
//!   message schemas (group-coordinator module).

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub mod kip848;

/// A committed offset, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch of the committed offset, -1 if unknown.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: String,
    /// When it was committed (ms).
    pub commit_timestamp: i64,
}

/// A member of a group's stored metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host (`/127.0.0.1`).
    pub client_host: String,
    /// Rebalance timeout (ms).
    pub rebalance_timeout_ms: i32,
    /// Session timeout (ms).
    pub session_timeout_ms: i32,
    /// Its metadata for the group's protocol.
    pub subscription: Bytes,
    /// Its assignment.
    pub assignment: Bytes,
}

/// A group's stored metadata: its generation and, for a group with members, who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Protocol type (`consumer`), empty when unknown.
    pub protocol_type: String,
    /// Generation.
    pub generation: i32,
    /// The chosen protocol.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// When the state last changed (ms).
    pub current_state_timestamp: i64,
    /// Members (none unless the group is Stable or CompletingRebalance).
    pub members: Vec<StoredMember>,
}

/// What a record of `__consumer_offsets` is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsKey {
    /// A committed offset of `group` for `topic`/`partition`.
    Offset {
        /// Group id.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// The metadata of `group`.
    Group {
        /// Group id.
        group: String,
    },
    /// The metadata of KIP-848 consumer group `group`.
    ConsumerGroup {
        /// Group id.
        group: String,
    },
    /// A record about `member` of KIP-848 group `group` ([`kip848::MemberRecord`]).
    ConsumerMember {
        /// Group id.
        group: String,
        /// Member id.
        member: String,
        /// Which record.
        record: kip848::MemberRecord,
    },
    /// The target assignment metadata of KIP-848 group `group`.
    ConsumerTarget {
        /// Group id.
        group: String,
    },
}

const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_KEY_VERSION: i16 = 2;
const GROUP_VALUE_VERSION: i16 = 3;
const CONSUMER_GROUP_KEY_VERSION: i16 = 3;

fn put_str(out: &mut BytesMut, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.put_i16(len);
    out.put_slice(&s.as_bytes()[..len as usize]);
}

fn put_nullable_str(out: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.put_i16(-1),
    }
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
    out.put_slice(b);
}

impl OffsetsKey {
    /// The key's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            OffsetsKey::Offset {
                group,
                topic,
                partition,
            } => {
                out.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.put_i32(*partition);
            }
            OffsetsKey::Group { group } => {
                out.put_i16(GROUP_KEY_VERSION);
                put_str(&mut out, group);
            }
            OffsetsKey::ConsumerGroup { group } => {
                out.put_i16(CONSUMER_GROUP_KEY_VERSION);
                put_str(&mut out, group);
            }
            OffsetsKey::ConsumerMember {
                group,
                member,
                record,
            } => return record.key(group, member),
            OffsetsKey::ConsumerTarget { group } => return kip848::target_metadata_key(group),
        }
        out.freeze()
    }

    /// Reads a key; `None` for a key version kafkit does not know (Kafka's other record kinds
    /// in the topic, such as KIP-848's, are skipped).
    pub fn decode(mut b: &[u8]) -> Option<OffsetsKey> {
        let bytes = b;
        let version = read_i16(&mut b)?;
        match version {
            0 | 1 => Some(OffsetsKey::Offset {
                group: read_str(&mut b)?,
                topic: read_str(&mut b)?,
                partition: read_i32(&mut b)?,
            }),
            2 => Some(OffsetsKey::Group {
                group: read_str(&mut b)?,
            }),
            3 => Some(OffsetsKey::ConsumerGroup {
                group: read_str(&mut b)?,
            }),
            5..=8 => {
                let (kind, group, member) = kip848::decode_key(bytes)?;
                let record = match kind {
                    5 => kip848::MemberRecord::Metadata,
                    7 => kip848::MemberRecord::Target,
                    8 => kip848::MemberRecord::Current,
                    _ => return Some(OffsetsKey::ConsumerTarget { group }),
                };
                Some(OffsetsKey::ConsumerMember {
                    group,
                    member: member?,
                    record,
                })
            }
            _ => None,
        }
    }
}

impl OffsetValue {
    /// The value's bytes (version 3).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(OFFSET_VALUE_VERSION);
        out.put_i64(self.offset);
        out.put_i32(self.leader_epoch);
        put_str(&mut out, &self.metadata);
        out.put_i64(self.commit_timestamp);
        out.freeze()
    }

    /// Reads a value of version 0 to 3.
    pub fn decode(mut b: &[u8]) -> Option<OffsetValue> {
        let version = read_i16(&mut b)?;
        let offset = read_i64(&mut b)?;
        let leader_epoch = if version >= 3 { read_i32(&mut b)? } else { -1 };
        let metadata = read_str(&mut b)?;
        let commit_timestamp = read_i64(&mut b)?;
        Some(OffsetValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
        })
    }
}

impl GroupValue {
    /// The value's bytes (version 3).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(GROUP_VALUE_VERSION);
        put_str(&mut out, &self.protocol_type);
        out.put_i32(self.generation);
        put_nullable_str(&mut out, self.protocol.as_deref());
        put_nullable_str(&mut out, self.leader.as_deref());
        out.put_i64(self.current_state_timestamp);
        out.put_i32(i32::try_from(self.members.len()).unwrap_or(i32::MAX));
        for m in &self.members {
            put_str(&mut out, &m.member_id);
            put_nullable_str(&mut out, m.group_instance_id.as_deref());
            put_str(&mut out, &m.client_id);
            put_str(&mut out, &m.client_host);
            out.put_i32(m.rebalance_timeout_ms);
            out.put_i32(m.session_timeout_ms);
            put_bytes(&mut out, &m.subscription);
            put_bytes(&mut out, &m.assignment);
        }
        out.freeze()
    }

    /// Reads a value of version 0 to 3.
    pub fn decode(mut b: &[u8]) -> Option<GroupValue> {
        let version = read_i16(&mut b)?;
        let protocol_type = read_str(&mut b)?;
        let generation = read_i32(&mut b)?;
        let protocol = read_nullable_str(&mut b)?;
        let leader = read_nullable_str(&mut b)?;
        let current_state_timestamp = if version >= 2 { read_i64(&mut b)? } else { -1 };
        let count = usize::try_from(read_i32(&mut b)?).ok()?;
        // Each member takes at least 28 bytes: a count beyond what is left is corrupt.
        if count > b.len() / 28 + 1 {
            return None;
        }
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            let member_id = read_str(&mut b)?;
            let group_instance_id = if version >= 3 {
                read_nullable_str(&mut b)?
            } else {
                None
            };
            let client_id = read_str(&mut b)?;
            let client_host = read_str(&mut b)?;
            let rebalance_timeout_ms = if version >= 1 { read_i32(&mut b)? } else { -1 };
            let session_timeout_ms = read_i32(&mut b)?;
            members.push(StoredMember {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout_ms,
                session_timeout_ms,
                subscription: read_bytes(&mut b)?,
                assignment: read_bytes(&mut b)?,
            });
        }
        Some(GroupValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

/// A KIP-848 consumer group's stored epoch (`ConsumerGroupMetadataValue` v0).
pub fn encode_consumer_group_epoch(epoch: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(7);
    out.put_i16(0);
    out.put_i32(epoch);
    out.put_u8(0); // no tagged fields
    out.freeze()
}

/// Reads a `ConsumerGroupMetadataValue`'s epoch (tagged fields are ignored).
pub fn decode_consumer_group_epoch(mut b: &[u8]) -> Option<i32> {
    let version = read_i16(&mut b)?;
    (version == 0).then_some(())?;
    read_i32(&mut b)
}

fn read_i16(b: &mut &[u8]) -> Option<i16> {
    (b.len() >= 2).then(|| b.get_i16())
}

fn read_i32(b: &mut &[u8]) -> Option<i32> {
    (b.len() >= 4).then(|| b.get_i32())
}

fn read_i64(b: &mut &[u8]) -> Option<i64> {
    (b.len() >= 8).then(|| b.get_i64())
}

fn read_nullable_str(b: &mut &[u8]) -> Option<Option<String>> {
    let len = read_i16(b)?;
    if len < 0 {
        return Some(None);
    }
    let len = len as usize;
    if b.len() < len {
        return None;
    }
    let s = String::from_utf8(b[..len].to_vec()).ok()?;
    b.advance(len);
    Some(Some(s))
}

fn read_str(b: &mut &[u8]) -> Option<String> {
    read_nullable_str(b)?
}

fn read_bytes(b: &mut &[u8]) -> Option<Bytes> {
    let len = read_i32(b)?;
    if len < 0 {
        return Some(Bytes::new());
    }
    let len = len as usize;
    if b.len() < len {
        return None;
    }
    let out = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Some(out)
}

/// The topics a consumer subscribes to, from its `consumer` protocol metadata
/// (`ConsumerProtocolSubscription`: version, then an array of topic names); empty when the
/// metadata is not that.
pub fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    let mut b = metadata;
    let parse = |b: &mut &[u8]| -> Option<Vec<String>> {
        read_i16(b)?;
        let count = usize::try_from(read_i32(b)?).ok()?;
        if count > b.len() / 2 {
            return None;
        }
        (0..count).map(|_| read_str(b)).collect()
    };
    parse(&mut b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_group_metadata_is_kafkas_layout() {
        let key = OffsetsKey::ConsumerGroup { group: "g".into() };
        assert_eq!(&key.encode()[..], &[0, 3, 0, 1, b'g']);
        assert_eq!(OffsetsKey::decode(&key.encode()), Some(key));
        let value = encode_consumer_group_epoch(7);
        assert_eq!(&value[..], &[0, 0, 0, 0, 0, 7, 0]);
        assert_eq!(decode_consumer_group_epoch(&value), Some(7));
        assert_eq!(decode_consumer_group_epoch(&value[..3]), None);
    }

    #[test]
    fn keys_and_values_round_trip() {
        let key = OffsetsKey::Offset {
            group: "g".into(),
            topic: "orders".into(),
            partition: 7,
        };
        assert_eq!(OffsetsKey::decode(&key.encode()), Some(key));
        let key = OffsetsKey::Group { group: "g".into() };
        assert_eq!(OffsetsKey::decode(&key.encode()), Some(key));
        let value = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 1_700_000_000_000,
        };
        assert_eq!(OffsetValue::decode(&value.encode()), Some(value));
        let group = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("a-1".into()),
            current_state_timestamp: 1_700_000_000_000,
            members: vec![StoredMember {
                member_id: "a-1".into(),
                group_instance_id: Some("a".into()),
                client_id: "a".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"assign"),
            }],
        };
        assert_eq!(GroupValue::decode(&group.encode()), Some(group));
    }

    /// Kafka's byte layout: offset key v1 for ("g", "t", 1), value v3 (offset 5, epoch 0,
    /// metadata "", timestamp 1).
    #[test]
    fn bytes_are_kafkas() {
        let key = OffsetsKey::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
        };
        assert_eq!(&key.encode()[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 1]);
        let value = OffsetValue {
            offset: 5,
            leader_epoch: 0,
            metadata: String::new(),
            commit_timestamp: 1,
        };
        assert_eq!(
            &value.encode()[..],
            &[0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn truncated_or_hostile_records_are_refused() {
        let group = GroupValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: None,
            leader: None,
            current_state_timestamp: 0,
            members: Vec::new(),
        }
        .encode();
        for len in 0..group.len() {
            assert_eq!(GroupValue::decode(&group[..len]), None, "cut at {len}");
        }
        let mut huge = group[..group.len() - 4].to_vec();
        huge.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(GroupValue::decode(&huge), None);
    }

    #[test]
    fn consumer_subscriptions_name_their_topics() {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(2);
        put_str(&mut b, "orders");
        put_str(&mut b, "audit");
        b.put_i32(-1); // user data
        assert_eq!(subscribed_topics(&b), ["orders", "audit"]);
        assert!(subscribed_topics(b"\x00").is_empty());
    }
}
