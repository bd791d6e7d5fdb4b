//! The decode guard: walk a message's bytes against a description of its shape before
//! `kafka_protocol` is allowed to decode them.
//!
//! kafka-protocol 0.18.0 trusts the counts it reads: `Array` and `CompactArray` reserve
//! `Vec::with_capacity(count)` straight from the wire, so a four-byte Metadata v1 body `7f ff ff ff`
//! asks for ~150 GB and the allocator aborts the process, which no `catch_unwind` can stop
//! (reference/protocol-and-clients.md §1.7; upstream fixes are still unmerged). kafkit's broker
//! faces arbitrary peers, so every message it decodes is walked here first: each field in order,
//! each string, bytes and array length checked against the bytes that actually follow, each array
//! element walked, each tagged-field section skipped by its sizes. Only a message whose walk
//! succeeds reaches the crate, and then every `Vec` the crate reserves is one it goes on to fill.
//! (The decoded structs are still larger than their bytes, by a small constant factor: the frame
//! size limit is what bounds them.)
//!
//! The walk proves lengths, nothing else: nullability, UTF-8 and value ranges stay the crate's
//! business (it reports them as errors, it does not panic on them). It is also stricter than the
//! crate in two places, so that the two always read the same values from accepted bytes:
//! a varint may not continue past its fifth byte (as in Java), and a known tagged field (e.g.
//! Produce v10 `current_leader`) must fill exactly the size its header declares, because the crate
//! decodes known tags from the stream without looking at that size.
//!
//! The shapes themselves, one per served message, are in `requests.rs` and `responses.rs`; they
//! were read off the crate's generated decoders and cover kafkit's served versions only
//! ([`crate::versions::SUPPORTED_APIS`]). The round-trip tests in `request.rs` and `response.rs`
//! prove, for every served version, that walker and crate agree.
//!
//! # References
//! - KIP-482 (tagged fields, compact encodings), KIP-511 (ApiVersions fallback)

mod requests;
mod responses;

use std::fmt;

use bytes::{Buf, Bytes};
use kafka_protocol::protocol::Decodable;

use crate::{Error, Result};

pub(crate) use requests::{request_shape, REQUEST_HEADER};
pub(crate) use responses::{response_shape, RESPONSE_HEADER};

/// The wire type of one field. Strings, bytes and arrays switch to their compact (unsigned varint
/// length + 1) encoding in the message's flexible versions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int8,
    Int16,
    Int32,
    Int64,
    Uuid,
    Bool,
    /// A string, possibly null: int16 length (-1 for null), or compact.
    Str,
    /// The request header's `client_id`: an int16-length string even in flexible header v2.
    ClassicStr,
    /// Bytes or records, possibly null: int32 length (-1 for null), or compact.
    Bytes,
    /// An array, possibly null: int32 count (-1 for null), or compact.
    Array(&'static Kind),
    /// A struct: its fields in order, then a tagged-field section in flexible versions.
    Struct(&'static [Field]),
    /// A nullable struct: an int8 marker (1 present, -1 null; the crate reads any marker but 1
    /// as null), then the struct when present.
    NullableStruct(&'static [Field]),
}

/// One field of a struct and the versions it is on the wire in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    name: &'static str,
    kind: Kind,
    min: i16,
    max: i16,
    /// `Some` for a field that travels in the tagged-field section.
    tag: Option<u32>,
}

/// A field present in every version.
pub(crate) const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        min: 0,
        max: i16::MAX,
        tag: None,
    }
}

impl Field {
    /// Present from `version` on.
    pub(crate) const fn since(mut self, version: i16) -> Self {
        self.min = version;
        self
    }

    /// Present up to and including `version`.
    pub(crate) const fn until(mut self, version: i16) -> Self {
        self.max = version;
        self
    }

    /// Carried as tagged field `tag` (in flexible versions only).
    pub(crate) const fn tag(mut self, tag: u32) -> Self {
        self.tag = Some(tag);
        self
    }

    fn is_in(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

/// A whole message: its fields and the first version that uses compact encodings and tagged
/// fields.
#[derive(Debug)]
pub(crate) struct Shape {
    /// For error messages: `Produce request`, `response header`, ...
    pub(crate) name: &'static str,
    pub(crate) flexible_from: i16,
    pub(crate) fields: &'static [Field],
}

/// Why a walk failed: the path of fields down to the problem, and the problem.
#[derive(Debug)]
pub(crate) struct WalkError {
    /// Innermost field first; reversed for display.
    path: Vec<&'static str>,
    reason: String,
}

impl WalkError {
    fn new(reason: String) -> Self {
        WalkError {
            path: Vec::new(),
            reason,
        }
    }

    fn within(mut self, field: &'static str) -> Self {
        self.path.push(field);
        self
    }
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.path.iter().rev().enumerate() {
            let sep = if i == 0 { "" } else { "." };
            write!(f, "{sep}{name}")?;
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.reason)
    }
}

type Walk<T> = std::result::Result<T, WalkError>;

/// Walks `buf` as `shape` at `version` and returns how many bytes the message occupies.
#[cfg(test)]
pub(crate) fn walk(shape: &Shape, version: i16, buf: &[u8]) -> Walk<usize> {
    walk_collecting(shape, version, buf).map(|(len, _)| len)
}

/// [`walk`], also returning the tagged fields that the crate would refuse: tags the schema
/// defines for other versions of the message (see [`TagSection`]).
fn walk_collecting(shape: &Shape, version: i16, buf: &[u8]) -> Walk<(usize, Vec<TagSection>)> {
    let mut walker = Walker {
        buf,
        version,
        flexible: version >= shape.flexible_from,
        origin_len: Some(buf.len()),
        misplaced: Vec::new(),
    };
    walker.walk_struct(shape.fields)?;
    Ok((buf.len() - walker.buf.len(), walker.misplaced))
}

/// How strictly [`decode_guarded`] reads tagged fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tags {
    /// As the crate does: a tag the schema defines only for other versions is an error (what
    /// the broker applies to requests).
    Strict,
    /// A tag the schema defines only for other versions is dropped before decoding, as an
    /// unknown tag would be skipped: a broker's answer carrying a field early (seen from
    /// tansu: a Fetch v12 answer with v16's `node_endpoints`) still decodes.
    Lenient,
}

/// Walks the front of `buf` as `shape` at `version`, then lets the crate decode it from the same
/// bytes (zero-copy: the crate slices `buf`; a copy only when [`Tags::Lenient`] drops a tagged
/// field). `api_key` and `version` name the message in errors; `shape_version` differs from
/// `version` only for headers.
pub(crate) fn decode_guarded<T: Decodable>(
    shape: &Shape,
    shape_version: i16,
    buf: &mut Bytes,
    api_key: i16,
    version: i16,
    tags: Tags,
) -> Result<T> {
    let malformed = |reason: String| Error::Malformed {
        what: shape.name,
        api_key,
        version,
        reason,
    };
    let (len, misplaced) =
        walk_collecting(shape, shape_version, buf).map_err(|e| malformed(e.to_string()))?;
    if tags == Tags::Lenient && !misplaced.is_empty() {
        let mut cleaned = without_misplaced_tags(&buf[..len], &misplaced);
        buf.advance(len);
        return T::decode(&mut cleaned, shape_version).map_err(|e| malformed(e.to_string()));
    }
    T::decode(buf, shape_version).map_err(|e| malformed(e.to_string()))
}

/// A tagged-field section holding tags the crate would refuse at this version: where its count
/// is, the count, and the byte ranges of the entries to drop (tag, size and value).
#[derive(Debug)]
struct TagSection {
    count_at: std::ops::Range<usize>,
    count: u32,
    drop: Vec<std::ops::Range<usize>>,
}

/// A copy of `message` without the `sections`' misplaced entries, each section's count lowered
/// to match.
fn without_misplaced_tags(message: &[u8], sections: &[TagSection]) -> Bytes {
    let mut out = Vec::with_capacity(message.len());
    let mut at = 0;
    for section in sections {
        out.extend_from_slice(&message[at..section.count_at.start]);
        let mut count = section.count - section.drop.len() as u32;
        loop {
            let byte = (count & 0x7f) as u8;
            count >>= 7;
            if count == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        at = section.count_at.end;
        for range in &section.drop {
            out.extend_from_slice(&message[at..range.start]);
            at = range.end;
        }
    }
    out.extend_from_slice(&message[at..]);
    Bytes::from(out)
}

struct Walker<'a> {
    /// What is left of the message.
    buf: &'a [u8],
    version: i16,
    flexible: bool,
    /// The whole message's length, for positions, in the walker of the whole message; `None`
    /// in the walkers of tagged values (misplaced tags inside those are left to the crate).
    origin_len: Option<usize>,
    /// Tagged-field sections with misplaced tags, in message order.
    misplaced: Vec<TagSection>,
}

impl<'a> Walker<'a> {
    fn take(&mut self, n: usize) -> Walk<&'a [u8]> {
        if n > self.buf.len() {
            return Err(WalkError::new(format!(
                "{n} bytes declared, {} left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn skip(&mut self, n: usize) -> Walk<()> {
        self.take(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Walk<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Kafka's unsigned varint, decoded exactly as the crate does (bits past 32 are dropped),
    /// except that a continuation bit on the fifth byte is an error, as in Java.
    fn unsigned_varint(&mut self) -> Walk<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let [b] = self.array::<1>()?;
            value |= u32::from(b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WalkError::new("unsigned varint longer than 5 bytes".into()))
    }

    /// A string/bytes/array length: `None` for null, an error for a negative length other than
    /// the null marker.
    fn length(&mut self, classic_width: usize, compact: bool) -> Walk<Option<usize>> {
        if compact {
            return Ok(match self.unsigned_varint()? {
                0 => None,
                n => Some(n as usize - 1),
            });
        }
        let n = match classic_width {
            2 => i32::from(i16::from_be_bytes(self.array()?)),
            _ => i32::from_be_bytes(self.array()?),
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(WalkError::new(format!("negative length {n}"))),
            n => Ok(Some(n as usize)),
        }
    }

    fn walk_kind(&mut self, kind: &Kind) -> Walk<()> {
        match kind {
            Kind::Int8 | Kind::Bool => self.skip(1)?,
            Kind::Int16 => self.skip(2)?,
            Kind::Int32 => self.skip(4)?,
            Kind::Int64 => self.skip(8)?,
            Kind::Uuid => self.skip(16)?,
            Kind::Str => {
                if let Some(n) = self.length(2, self.flexible)? {
                    self.skip(n)?;
                }
            }
            Kind::ClassicStr => {
                if let Some(n) = self.length(2, false)? {
                    self.skip(n)?;
                }
            }
            Kind::Bytes => {
                if let Some(n) = self.length(4, self.flexible)? {
                    self.skip(n)?;
                }
            }
            Kind::Array(element) => {
                if let Some(count) = self.length(4, self.flexible)? {
                    // Every element takes at least one byte, so this bounds both the loop and
                    // what the crate reserves for the array.
                    if count > self.buf.len() {
                        return Err(WalkError::new(format!(
                            "array of {count} elements, {} bytes left",
                            self.buf.len()
                        )));
                    }
                    for _ in 0..count {
                        self.walk_kind(element)?;
                    }
                }
            }
            Kind::Struct(fields) => self.walk_struct(fields)?,
            // As the crate decodes it: 1 is present, any other marker null.
            Kind::NullableStruct(fields) => {
                if self.array::<1>()?[0] == 1 {
                    self.walk_struct(fields)?;
                }
            }
        }
        Ok(())
    }

    fn walk_struct(&mut self, fields: &[Field]) -> Walk<()> {
        let version = self.version;
        for field in fields.iter().filter(|f| f.tag.is_none() && f.is_in(version)) {
            self.walk_kind(&field.kind).map_err(|e| e.within(field.name))?;
        }
        if self.flexible {
            self.walk_tagged_fields(fields)
                .map_err(|e| e.within("_tagged_fields"))?;
        }
        Ok(())
    }

    /// A tagged-field section: a count, then (tag, size, bytes) per field. Unknown tags are
    /// skipped by their size; known ones are walked and must fill their size exactly.
    fn walk_tagged_fields(&mut self, fields: &[Field]) -> Walk<()> {
        let position = |w: &Self| w.origin_len.map(|len| len - w.buf.len());
        let count_start = position(self);
        let count = self.unsigned_varint()? as usize;
        let mut section = count_start.zip(position(self)).map(|(start, end)| TagSection {
            count_at: start..end,
            count: count as u32,
            drop: Vec::new(),
        });
        // Each tagged field takes at least two bytes (its tag and its size).
        if count > self.buf.len() / 2 {
            return Err(WalkError::new(format!(
                "{count} tagged fields, {} bytes left",
                self.buf.len()
            )));
        }
        for _ in 0..count {
            let entry_start = position(self);
            let tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            let value = self.take(size)?;
            let version = self.version;
            let Some(field) = fields.iter().find(|f| f.tag == Some(tag) && f.is_in(version)) else {
                let elsewhere = fields.iter().any(|f| f.tag == Some(tag));
                if let (true, Some(section), Some(start), Some(end)) =
                    (elsewhere, section.as_mut(), entry_start, position(self))
                {
                    section.drop.push(start..end);
                }
                continue;
            };
            let mut inner = Walker {
                buf: value,
                version,
                flexible: self.flexible,
                origin_len: None,
                misplaced: Vec::new(),
            };
            inner.walk_kind(&field.kind).map_err(|e| e.within(field.name))?;
            if !inner.buf.is_empty() {
                return Err(WalkError::new(format!(
                    "tagged field {tag} declares {size} bytes but holds {}",
                    size - inner.buf.len()
                ))
                .within(field.name));
            }
        }
        if let Some(section) = section.filter(|s| !s.drop.is_empty()) {
            self.misplaced.push(section);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const INNER: &[Field] = &[f("id", Kind::Int32), f("tags", Kind::Array(&Kind::Str))];
    const SAMPLE: Shape = Shape {
        name: "sample",
        flexible_from: 1,
        fields: &[
            f("name", Kind::Str),
            f("items", Kind::Array(&Kind::Struct(INNER))),
            f("added", Kind::Int64).since(2),
            f("extra", Kind::Struct(INNER)).tag(0),
        ],
    };

    fn walk_sample(version: i16, bytes: &[u8]) -> Walk<usize> {
        walk(&SAMPLE, version, bytes)
    }

    #[rstest]
    #[case::one_byte(&[0x05], Some(5))]
    #[case::two_bytes(&[0x96, 0x01], Some(150))]
    #[case::max(&[0xff, 0xff, 0xff, 0xff, 0x0f], Some(u32::MAX))]
    #[case::high_bits_dropped_like_the_crate(&[0xff, 0xff, 0xff, 0xff, 0x7f], Some(u32::MAX))]
    #[case::six_bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], None)]
    #[case::truncated(&[0x80], None)]
    fn unsigned_varints(#[case] bytes: &[u8], #[case] expected: Option<u32>) {
        let mut walker = Walker {
            buf: bytes,
            version: 0,
            flexible: true,
            origin_len: None,
            misplaced: Vec::new(),
        };
        assert_eq!(walker.unsigned_varint().ok(), expected);
    }

    #[test]
    fn classic_layout_is_walked_to_its_end() {
        let bytes = [
            0, 1, b'a', // name
            0, 0, 0, 2, // two items
            0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, // id 1, null tags
            0, 0, 0, 2, 0, 0, 0, 1, 0, 0, // id 2, tags [""]
            9, // trailing byte, not part of the message
        ];
        assert_eq!(walk_sample(0, &bytes).expect("walks"), bytes.len() - 1);
    }

    #[test]
    fn compact_layout_with_known_and_unknown_tags() {
        let bytes = [
            2, b'a', // name
            2, 0, 0, 0, 7, 2, 2, b'x', 0, // one item: id 7, tags ["x"], no tagged fields
            2, // two tagged fields
            0, 6, 0, 0, 0, 9, 0, 0, // tag 0: extra { id 9, tags null, no tags }
            5, 2, 0xaa, 0xbb, // tag 5, unknown, skipped
        ];
        assert_eq!(walk_sample(1, &bytes).expect("walks"), bytes.len());
    }

    #[rstest]
    #[case::classic_huge_array(0, &[0, 0, 0x7f, 0xff, 0xff, 0xff], "items: array of 2147483647")]
    #[case::classic_negative_array(0, &[0, 0, 0xff, 0xff, 0xff, 0xfe], "items: negative length")]
    #[case::compact_huge_array(1, &[1, 0xff, 0xff, 0xff, 0xff, 0x0f], "items: array of 4294967294")]
    #[case::string_past_end(0, &[0, 9, b'a'], "name: 9 bytes declared, 1 left")]
    #[case::nested_huge_array(0, &[0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff], "items.tags")]
    #[case::many_tagged_fields(1, &[1, 1, 0xff, 0xff, 0x03], "_tagged_fields: 65535 tagged fields")]
    #[case::tagged_field_past_end(1, &[1, 1, 1, 7, 100, 0], "100 bytes declared")]
    #[case::known_tag_with_slack(1, &[1, 1, 1, 0, 8, 0, 0, 0, 9, 0, 0, 0xee, 0xee], "extra: tagged field 0 declares 8 bytes but holds 6")]
    #[case::known_tag_cut_short(1, &[1, 1, 1, 0, 3, 0, 0, 0], "_tagged_fields.extra.id: 4 bytes declared, 3 left")]
    fn hostile_counts_and_lengths_are_refused(
        #[case] version: i16,
        #[case] bytes: &[u8],
        #[case] expected: &str,
    ) {
        let error = walk_sample(version, bytes)
            .expect_err("must be refused")
            .to_string();
        assert!(
            error.contains(expected),
            "{error:?} does not contain {expected:?}"
        );
    }

    #[test]
    fn version_ranges_select_fields() {
        // v2 adds an int64 after the items.
        let bytes = [1, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0];
        assert_eq!(walk_sample(2, &bytes).expect("walks"), bytes.len());
        assert!(walk_sample(2, &bytes[..bytes.len() - 2]).is_err());
    }
}
