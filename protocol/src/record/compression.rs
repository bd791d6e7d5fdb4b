//! Batch compression codecs, as Kafka writes and reads them.
//!
//! In a v2 batch the records (everything after the 61-byte header) form one compressed stream,
//! and attributes bits 0-2 name the codec. Each codec's framing is the one Kafka's Java client
//! writes, so every client can read what kafkit writes:
//!
//! - gzip: a gzip member (RFC 1952), flate2;
//! - snappy: the xerial `snappy-java` stream framing (16-byte header, then length-prefixed raw
//!   snappy blocks of at most 32 KiB input), snap's raw codec. Raw unframed snappy, which some
//!   non-Java clients wrote, is read too;
//! - lz4: the standard LZ4 frame format (Kafka's `KafkaLZ4BlockOutputStream`, 64 KiB independent
//!   blocks), lz4_flex;
//! - zstd: a zstd frame, the zstd crate (level 3, Kafka's default).
//!
//! Levels (KIP-390, Kafka 3.8's `compression.gzip.level`, `compression.lz4.level`,
//! `compression.zstd.level`): [`Compression::compress_level`] takes gzip's 1-9 and zstd's
//! -131072..=22. lz4 has one level here: lz4_flex implements LZ4's fast compressor, which is
//! what Java uses at its default level 9 (it switches to LZ4 HC only for other levels), so
//! [`Compression::level_range`] gives lz4 the range 9..=9.
//!
//! Decompression takes a limit and fails with [`Error::DecompressedTooLarge`] instead of
//! allocating past it, so a small hostile payload cannot expand into gigabytes.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::{Error, Result};

/// The compression codec of a record batch (attributes bits 0-2), and the producer's
/// `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Compression {
    /// Uncompressed.
    #[default]
    None = 0,
    /// gzip.
    Gzip = 1,
    /// snappy, xerial framing.
    Snappy = 2,
    /// lz4 frame.
    Lz4 = 3,
    /// zstd.
    Zstd = 4,
}

/// Magic bytes that open a xerial snappy stream, followed by version 1 and minimum version 1.
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// snappy-java's default block size: input is cut into blocks of this many bytes.
const XERIAL_BLOCK: usize = 32 * 1024;
/// Kafka's default zstd level, and the range it accepts (zstd's own).
const ZSTD_LEVEL: i32 = 3;
const ZSTD_MIN_LEVEL: i32 = -131_072;
const ZSTD_MAX_LEVEL: i32 = 22;
/// Java's default gzip level: `Deflater.DEFAULT_COMPRESSION`.
const GZIP_DEFAULT_LEVEL: i32 = -1;
/// The one lz4 level kafkit compresses at: Java's default, LZ4's fast compressor.
const LZ4_LEVEL: i32 = 9;

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec id as stored in batch attributes bits 0-2, or `None` for ids 5-7, which Kafka
    /// does not define.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The id stored in batch attributes.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// Kafka's name (`compression.type` value).
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The levels this codec takes in [`compress_level`](Self::compress_level) and its
    /// default, as `(min, max, default)`; `None` for a codec without levels (none, snappy).
    /// gzip's default is Java's `-1` (the deflate default, 6).
    ///
    /// ```
    /// use kafkit_protocol::Compression;
    /// assert_eq!(Compression::Zstd.level_range(), Some((-131_072, 22, 3)));
    /// assert_eq!(Compression::Snappy.level_range(), None);
    /// ```
    pub const fn level_range(self) -> Option<(i32, i32, i32)> {
        match self {
            Compression::None | Compression::Snappy => None,
            Compression::Gzip => Some((1, 9, GZIP_DEFAULT_LEVEL)),
            Compression::Lz4 => Some((LZ4_LEVEL, LZ4_LEVEL, LZ4_LEVEL)),
            Compression::Zstd => Some((ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL, ZSTD_LEVEL)),
        }
    }

    /// Appends `input`, compressed at the codec's default level, to `out`.
    pub fn compress(self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.compress_level(input, out, None)
    }

    /// Appends `input`, compressed at `level` (`None`: the default), to `out`. A level outside
    /// [`level_range`](Self::level_range) (other than the default) is an
    /// [`Error::Compression`]; codecs without levels ignore it.
    pub fn compress_level(self, input: &[u8], out: &mut Vec<u8>, level: Option<i32>) -> Result<()> {
        let fail = |e: &dyn fmt::Display| Error::Compression {
            codec: self,
            reason: e.to_string(),
        };
        let level = match (self.level_range(), level) {
            (Some((_, _, default)), None) => default,
            (Some((min, max, default)), Some(l)) if l == default || (min..=max).contains(&l) => l,
            (Some((min, max, _)), Some(l)) => {
                return Err(fail(&format_args!("level {l} is outside {min}..={max}")));
            }
            (None, _) => 0,
        };
        match self {
            Compression::None => out.extend_from_slice(input),
            Compression::Gzip => {
                let deflate = match u32::try_from(level) {
                    Ok(l) => flate2::Compression::new(l),
                    Err(_) => flate2::Compression::default(),
                };
                let mut enc = flate2::write::GzEncoder::new(out, deflate);
                enc.write_all(input).map_err(|e| fail(&e))?;
                enc.finish().map_err(|e| fail(&e))?;
            }
            Compression::Snappy => {
                out.extend_from_slice(&XERIAL_HEADER);
                let mut enc = snap::raw::Encoder::new();
                for block in input.chunks(XERIAL_BLOCK) {
                    let len_at = out.len();
                    out.extend_from_slice(&[0; 4]);
                    let start = out.len();
                    out.resize(start + snap::raw::max_compress_len(block.len()), 0);
                    let n = enc.compress(block, &mut out[start..]).map_err(|e| fail(&e))?;
                    out.truncate(start + n);
                    let n = u32::try_from(n).map_err(|e| fail(&e))?;
                    out[len_at..start].copy_from_slice(&n.to_be_bytes());
                }
            }
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
                enc.write_all(input).map_err(|e| fail(&e))?;
                enc.finish().map_err(|e| fail(&e))?;
            }
            Compression::Zstd => {
                let compressed = zstd::bulk::compress(input, level).map_err(|e| fail(&e))?;
                out.extend_from_slice(&compressed);
            }
        }
        Ok(())
    }

    /// Appends `input`, decompressed, to `out`, failing once the output would exceed `limit`
    /// bytes. Memory used is bounded by `limit` plus a codec window, whatever `input` claims.
    pub fn decompress(self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
        let fail = |e: &dyn fmt::Display| Error::Compression {
            codec: self,
            reason: e.to_string(),
        };
        match self {
            Compression::None => {
                if input.len() > limit {
                    return Err(Error::DecompressedTooLarge { codec: self, limit });
                }
                out.extend_from_slice(input);
                Ok(())
            }
            Compression::Gzip => read_limited(self, flate2::read::GzDecoder::new(input), out, limit),
            Compression::Lz4 => read_limited(self, lz4_flex::frame::FrameDecoder::new(input), out, limit),
            Compression::Zstd => {
                let dec = zstd::stream::read::Decoder::with_buffer(input).map_err(|e| fail(&e))?;
                read_limited(self, dec, out, limit)
            }
            Compression::Snappy => {
                let start = out.len();
                if let Some(mut rest) = input.strip_prefix(&XERIAL_HEADER[..8]) {
                    // Version and minimum-compatible version follow the magic.
                    if rest.len() < 8 {
                        return Err(fail(&"truncated xerial header"));
                    }
                    rest = &rest[8..];
                    while !rest.is_empty() {
                        if rest.len() < 4 {
                            return Err(fail(&"truncated xerial block length"));
                        }
                        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                        let block = rest
                            .get(4..4 + n)
                            .ok_or_else(|| fail(&"truncated xerial block"))?;
                        snappy_block(self, block, out, start + limit)?;
                        rest = &rest[4 + n..];
                    }
                    Ok(())
                } else {
                    snappy_block(self, input, out, start + limit)
                }
            }
        }
    }
}

/// Decompresses one raw snappy block onto `out`, keeping `out.len() <= max_len`.
fn snappy_block(codec: Compression, block: &[u8], out: &mut Vec<u8>, max_len: usize) -> Result<()> {
    let n = snap::raw::decompress_len(block).map_err(|e| Error::Compression {
        codec,
        reason: e.to_string(),
    })?;
    let start = out.len();
    if start + n > max_len {
        return Err(Error::DecompressedTooLarge {
            codec,
            limit: max_len,
        });
    }
    out.resize(start + n, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| Error::Compression {
            codec,
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Reads `reader` to its end onto `out`, failing if more than `limit` bytes come out.
fn read_limited(codec: Compression, reader: impl Read, out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let start = out.len();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(out)
        .map_err(|e| Error::Compression {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() - start > limit {
        out.truncate(start);
        return Err(Error::DecompressedTooLarge { codec, limit });
    }
    Ok(())
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for a `compression.type` value that names no codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression type {0:?}: expected none, gzip, snappy, lz4 or zstd")]
pub struct UnknownCompression(pub String);

impl FromStr for Compression {
    type Err = UnknownCompression;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCompression(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn round_trip(codec: Compression, input: &[u8]) -> Vec<u8> {
        let mut compressed = Vec::new();
        codec.compress(input, &mut compressed).expect("compress");
        let mut out = Vec::new();
        codec
            .decompress(&compressed, &mut out, input.len())
            .expect("decompress");
        out
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(input in proptest::collection::vec(any::<u8>(), 0..100_000), id in 0u8..5) {
            let codec = Compression::from_id(id).expect("valid id");
            prop_assert_eq!(round_trip(codec, &input), input);
        }
    }

    /// Text-like input on which levels make a difference.
    fn words() -> Vec<u8> {
        (0..40_000u32)
            .flat_map(|i| format!("record-{} value {} ", i % 977, (i * 7919) % 10_007).into_bytes())
            .collect()
    }

    #[rstest]
    #[case::gzip(Compression::Gzip, 1, 9)]
    #[case::zstd(Compression::Zstd, -5, 19)]
    fn levels_change_the_output_and_round_trip(
        #[case] codec: Compression,
        #[case] low: i32,
        #[case] high: i32,
    ) {
        let input = words();
        let size = |level| {
            let mut out = Vec::new();
            codec.compress_level(&input, &mut out, level).expect("compress");
            let mut back = Vec::new();
            codec
                .decompress(&out, &mut back, input.len())
                .expect("decompress");
            assert_eq!(back, input, "level {level:?}");
            out.len()
        };
        let (fast, default, best) = (size(Some(low)), size(None), size(Some(high)));
        // A faster level compresses less; a slower one compresses differently (for zstd not
        // always smaller: its strategies change with the level).
        assert!(fast > default && best != default, "{fast}, {default}, {best}");
    }

    #[rstest]
    #[case::gzip_zero(Compression::Gzip, 0)]
    #[case::gzip_ten(Compression::Gzip, 10)]
    #[case::zstd_23(Compression::Zstd, 23)]
    #[case::lz4_hc(Compression::Lz4, 12)]
    #[case::lz4_one(Compression::Lz4, 1)]
    fn levels_outside_the_range_are_errors(#[case] codec: Compression, #[case] level: i32) {
        let err = codec
            .compress_level(b"abc", &mut Vec::new(), Some(level))
            .expect_err("out of range");
        assert!(err.to_string().contains(&format!("level {level}")), "{err}");
    }

    #[rstest]
    #[case::gzip_default(Compression::Gzip, -1)]
    #[case::lz4_default(Compression::Lz4, 9)]
    #[case::snappy_ignores(Compression::Snappy, 5)]
    #[case::none_ignores(Compression::None, 5)]
    fn default_levels_and_codecs_without_levels_compress(#[case] codec: Compression, #[case] level: i32) {
        let mut with = Vec::new();
        codec
            .compress_level(b"abcabcabc", &mut with, Some(level))
            .expect("compress");
        let mut without = Vec::new();
        codec.compress(b"abcabcabc", &mut without).expect("compress");
        assert_eq!(with, without);
    }

    #[rstest]
    fn large_repetitive_input_round_trips(#[values(0, 1, 2, 3, 4)] id: u8) {
        let codec = Compression::from_id(id).expect("valid id");
        let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(round_trip(codec, &input), input);
    }

    #[rstest]
    fn decompression_is_bounded(#[values(0, 1, 2, 3, 4)] id: u8) {
        let codec = Compression::from_id(id).expect("valid id");
        let input = vec![0u8; 1 << 20];
        let mut compressed = Vec::new();
        codec.compress(&input, &mut compressed).expect("compress");
        let mut out = Vec::new();
        let err = codec
            .decompress(&compressed, &mut out, 4096)
            .expect_err("over the limit");
        assert!(
            matches!(err, Error::DecompressedTooLarge { limit: _, .. }),
            "{err}"
        );
        assert!(out.capacity() < 1 << 20 || codec == Compression::Snappy || out.is_empty());
    }

    #[rstest]
    fn garbage_is_an_error_not_a_panic(#[values(1, 2, 3, 4)] id: u8) {
        let codec = Compression::from_id(id).expect("valid id");
        let mut compressed = Vec::new();
        codec
            .compress(b"hello hello hello hello", &mut compressed)
            .expect("compress");
        for cut in 0..compressed.len() {
            let mut out = Vec::new();
            let _ = codec.decompress(&compressed[..cut], &mut out, 1 << 16);
            let mut flipped = compressed.clone();
            flipped[cut] ^= 0x5a;
            let _ = codec.decompress(&flipped, &mut out, 1 << 16);
        }
    }

    #[test]
    fn snappy_writes_xerial_framing_and_reads_raw() {
        let mut compressed = Vec::new();
        Compression::Snappy
            .compress(b"abcabcabc", &mut compressed)
            .expect("compress");
        assert_eq!(&compressed[..16], &XERIAL_HEADER);
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"raw snappy")
            .expect("raw");
        let mut out = Vec::new();
        Compression::Snappy
            .decompress(&raw, &mut out, 100)
            .expect("raw decompress");
        assert_eq!(out, b"raw snappy");
    }

    #[rstest]
    #[case("none", Compression::None)]
    #[case("gzip", Compression::Gzip)]
    #[case("SNAPPY", Compression::Snappy)]
    #[case("lz4", Compression::Lz4)]
    #[case("zstd", Compression::Zstd)]
    fn parses_kafka_names(#[case] name: &str, #[case] codec: Compression) {
        assert_eq!(name.parse::<Compression>(), Ok(codec));
    }

    #[test]
    fn unknown_name_is_an_error() {
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(Compression::from_id(5), None);
    }
}
