//! The fixed-width fields every on-disk structure is made of: little-endian integers and IDs
//! (two u64s, `ms` then `seq`). Callers check bounds first; these only move bytes.

use crate::id::StreamId;

/// Bytes of an ID on disk.
pub const ID_BYTES: usize = 16;

/// Writes an ID as two u64 LE into `out[0..16]`.
pub fn put_id(out: &mut [u8], id: StreamId) {
    out[0..8].copy_from_slice(&id.ms.to_le_bytes());
    out[8..16].copy_from_slice(&id.seq.to_le_bytes());
}

/// Reads a u32 LE at `at` (the caller guarantees the bounds).
pub fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

/// Reads a u64 LE at `at` (the caller guarantees the bounds).
pub fn get_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

/// Reads an ID written by [`put_id`].
pub fn get_id(bytes: &[u8], at: usize) -> StreamId {
    StreamId::new(get_u64(bytes, at), get_u64(bytes, at + 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_little_endian() {
        let mut out = [0u8; 20];
        put_id(&mut out[4..], StreamId::new(0x0102, 3));
        assert_eq!(&out[4..6], &[0x02, 0x01]);
        assert_eq!(get_id(&out, 4), StreamId::new(0x0102, 3));
        assert_eq!(get_u64(&out, 12), 3);
        assert_eq!(get_u32(&out, 4), 0x0102);
    }
}
