//! Zigzag varints, as `ByteUtils` encodes them: a signed value is mapped to unsigned with
//! `(v << 1) ^ (v >> bits-1)` and written as little-endian base-128 groups. A varint takes at
//! most 5 bytes and a varlong at most 10; a longer encoding is an error, as in Kafka.

/// Zigzag-maps an i32 (small magnitudes to small numbers).
#[inline]
pub(crate) const fn zigzag32(value: i32) -> u64 {
    (((value << 1) ^ (value >> 31)) as u32) as u64
}

/// Zigzag-maps an i64.
#[inline]
pub(crate) const fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Emits `v` as unsigned little-endian base-128 groups, low group first.
#[inline]
pub(crate) fn write_uleb(mut v: u64, mut emit: impl FnMut(u8)) {
    while v >= 0x80 {
        emit((v as u8) | 0x80);
        v >>= 7;
    }
    emit(v as u8);
}

/// Appends the zigzag varint encoding of `value`.
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, value: i32) {
    write_uleb(zigzag32(value), |b| buf.push(b));
}

/// Appends the zigzag varlong encoding of `value`.
#[inline]
pub fn put_varlong(buf: &mut Vec<u8>, value: i64) {
    write_uleb(zigzag64(value), |b| buf.push(b));
}

/// Bytes the varint encoding of `value` takes.
#[inline]
pub const fn varint_len(value: i32) -> usize {
    let v = ((value << 1) ^ (value >> 31)) as u32;
    // 1 byte per started group of 7 bits; 0 still takes one byte.
    let bits = 32 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes the varlong encoding of `value` takes.
#[inline]
pub const fn varlong_len(value: i64) -> usize {
    let v = ((value << 1) ^ (value >> 63)) as u64;
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a varint at `*pos`, advancing it. `None` when the bytes end first or the encoding is
/// longer than 5 bytes.
#[inline(always)]
pub fn get_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    // One byte (values -64..=63) is the common case in a record: attributes-adjacent deltas,
    // a null key, no headers.
    let first = *buf.get(*pos)?;
    if first < 0x80 {
        *pos += 1;
        let raw = u32::from(first);
        return Some(((raw >> 1) as i32) ^ -((raw & 1) as i32));
    }
    let mut raw: u32 = 0;
    for i in 0..5 {
        let b = *buf.get(*pos + i)?;
        raw |= u32::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Some(((raw >> 1) as i32) ^ -((raw & 1) as i32));
        }
    }
    None
}

/// Reads a varlong at `*pos`, advancing it. `None` when the bytes end first or the encoding is
/// longer than 10 bytes.
#[inline(always)]
pub fn get_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let first = *buf.get(*pos)?;
    if first < 0x80 {
        *pos += 1;
        let raw = u64::from(first);
        return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
    }
    let mut raw: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(*pos + i)?;
        raw |= u64::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, &[0x00])]
    #[case(-1, &[0x01])]
    #[case(1, &[0x02])]
    #[case(2, &[0x04])]
    #[case(63, &[0x7e])]
    #[case(-64, &[0x7f])]
    #[case(64, &[0x80, 0x01])]
    #[case(i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f])]
    #[case(i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f])]
    fn varint_golden(#[case] value: i32, #[case] bytes: &[u8]) {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        assert_eq!(buf, bytes);
        assert_eq!(varint_len(value), bytes.len());
        let mut pos = 0;
        assert_eq!(get_varint(bytes, &mut pos), Some(value));
        assert_eq!(pos, bytes.len());
    }

    #[test]
    fn overlong_and_truncated_are_rejected() {
        let mut pos = 0;
        assert_eq!(get_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos), None);
        assert_eq!(get_varint(&[0x80], &mut pos), None);
        assert_eq!(get_varlong(&[0x80; 11], &mut pos), None);
        assert_eq!(pos, 0);
    }

    proptest! {
        #[test]
        fn varint_round_trips(v in any::<i32>()) {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            prop_assert_eq!(buf.len(), varint_len(v));
            let mut pos = 0;
            prop_assert_eq!(get_varint(&buf, &mut pos), Some(v));
        }

        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            prop_assert_eq!(buf.len(), varlong_len(v));
            let mut pos = 0;
            prop_assert_eq!(get_varlong(&buf, &mut pos), Some(v));
        }
    }
}
