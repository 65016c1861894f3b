//! Record framing: how one record sits in a segment file, and how a reader
//! finds the next record after damage. Knows nothing of the payload.
//!
//! A record (format 2) is a 28-byte header and the payload:
//!
//! ```text
//! magic [4] "LW2\xFF" | len u32 | appended_at i64 | count u32 | header_crc u32 | payload_crc u32 | payload
//! ```
//!
//! `header_crc` covers the first 20 bytes, `payload_crc` the payload, so each
//! record stands on its own: a damaged record is known by its own checksums,
//! and after damage the next record is found by scanning for the magic and a
//! header whose checksum holds. The magic ends in 0xFF, a byte no UTF-8 text
//! holds, and read as a little-endian length it is larger than any record,
//! so it never looks like a record of format 1.
//!
//! Format 1 (the first release: `len u32 | crc u32 | appended_at i64 | count
//! u32 | payload`, one CRC over all but the length) is still read, so a WAL
//! left by it is delivered after an upgrade; it is never written.

use std::fs::File;
use std::os::unix::fs::FileExt;

pub const MAGIC: [u8; 4] = *b"LW2\xFF";
pub const HEADER_LEN: u64 = 28;
const V1_HEADER_LEN: u64 = 20;
/// A record larger than this is corruption, not data.
pub const MAX_RECORD_LEN: u32 = 1 << 30;

/// A record decoded from a segment, offsets relative to the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub appended_at_micros: i64,
    pub count: u32,
    pub payload: Vec<u8>,
    /// Offset just past the record.
    pub end: u64,
}

/// What is at an offset of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    Record(Decoded),
    /// The header holds but the payload does not match its checksum: the
    /// record's extent is known, `[offset, end)`.
    BadPayload {
        end: u64,
    },
    /// No valid header here (damaged, or not a record boundary).
    BadHeader,
    /// The bytes stop before the record does (a torn write at the tail).
    Incomplete,
}

/// Appends the header of a record of `payload` to `out`.
pub fn encode_header(payload: &[u8], appended_at: i64, count: u32, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&appended_at.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    let header_crc = crc32fast::hash(&out[start..start + 20]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// A format-2 header whose checksum holds: `(len, appended_at, count, payload_crc)`.
fn parse_header(header: &[u8]) -> Option<(u32, i64, u32, u32)> {
    if header.len() < HEADER_LEN as usize || header[0..4] != MAGIC {
        return None;
    }
    if crc32fast::hash(&header[0..20]) != u32_at(header, 20) {
        return None;
    }
    let len = u32_at(header, 4);
    (len <= MAX_RECORD_LEN).then(|| {
        (
            len,
            i64_at(header, 8),
            u32_at(header, 16),
            u32_at(header, 24),
        )
    })
}

/// Decodes the record at `offset` of a segment whose readable bytes end at `limit`.
pub fn decode_at(file: &File, offset: u64, limit: u64) -> std::io::Result<Decode> {
    if offset + 4 > limit {
        return Ok(Decode::Incomplete);
    }
    let mut magic = [0u8; 4];
    file.read_exact_at(&mut magic, offset)?;
    if magic != MAGIC {
        return decode_v1_at(file, offset, limit);
    }
    if offset + HEADER_LEN > limit {
        return Ok(Decode::Incomplete);
    }
    let mut header = [0u8; HEADER_LEN as usize];
    file.read_exact_at(&mut header, offset)?;
    let Some((len, appended_at_micros, count, payload_crc)) = parse_header(&header) else {
        return Ok(Decode::BadHeader);
    };
    let end = offset + HEADER_LEN + u64::from(len);
    if end > limit {
        return Ok(Decode::Incomplete);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, offset + HEADER_LEN)?;
    if crc32fast::hash(&payload) != payload_crc {
        return Ok(Decode::BadPayload { end });
    }
    Ok(Decode::Record(Decoded {
        appended_at_micros,
        count,
        payload,
        end,
    }))
}

/// A record of format 1 (read only). Its one checksum cannot tell a bad
/// header from a bad payload, so any mismatch is `BadHeader`.
fn decode_v1_at(file: &File, offset: u64, limit: u64) -> std::io::Result<Decode> {
    if offset + V1_HEADER_LEN > limit {
        return Ok(Decode::Incomplete);
    }
    let mut header = [0u8; V1_HEADER_LEN as usize];
    file.read_exact_at(&mut header, offset)?;
    let len = u32_at(&header, 0);
    if len > MAX_RECORD_LEN {
        return Ok(Decode::BadHeader);
    }
    let end = offset + V1_HEADER_LEN + u64::from(len);
    if end > limit {
        return Ok(Decode::Incomplete);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, offset + V1_HEADER_LEN)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[8..20]);
    crc.update(&payload);
    if crc.finalize() != u32_at(&header, 4) {
        return Ok(Decode::BadHeader);
    }
    Ok(Decode::Record(Decoded {
        appended_at_micros: i64_at(&header, 8),
        count: u32_at(&header, 16),
        payload,
        end,
    }))
}

/// The offset of the first format-2 header at or after `from` and before
/// `limit` whose checksum holds and whose record fits below `limit`.
pub fn find_next_header(file: &File, from: u64, limit: u64) -> std::io::Result<Option<u64>> {
    const CHUNK: usize = 1 << 20;
    let overlap = HEADER_LEN as usize - 1;
    let mut at = from;
    let mut buf = vec![0u8; CHUNK + overlap];
    while at + HEADER_LEN <= limit {
        let want = ((limit - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..want], at)?;
        let window = &buf[..want];
        let mut i = 0;
        while i + HEADER_LEN as usize <= want {
            match window[i..].windows(4).position(|w| w == MAGIC) {
                None => break,
                Some(found) => {
                    i += found;
                    if i + HEADER_LEN as usize > want {
                        break;
                    }
                    if let Some((len, ..)) = parse_header(&window[i..i + HEADER_LEN as usize]) {
                        let start = at + i as u64;
                        if start + HEADER_LEN + u64::from(len) <= limit {
                            return Ok(Some(start));
                        }
                    }
                    i += 1;
                }
            }
        }
        if want < buf.len() {
            break;
        }
        at += (want - overlap) as u64;
    }
    Ok(None)
}

/// Where damage that starts at `offset` ends: at the end of a record whose
/// header holds, else at the next valid header, else at `limit`. The second
/// value is true when the damage is a record cut short by the end of the
/// bytes (a torn write), false for corruption.
pub fn damage_extent(file: &File, offset: u64, limit: u64) -> std::io::Result<(u64, bool)> {
    match decode_at(file, offset, limit)? {
        Decode::BadPayload { end } => Ok((end, false)),
        Decode::Record(r) => Ok((r.end, false)),
        kind => match find_next_header(file, offset + 1, limit)? {
            Some(next) => Ok((next, false)),
            None => Ok((limit, kind == Decode::Incomplete)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_header(payload, 7, 1, &mut out);
        out.extend_from_slice(payload);
        out
    }

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, u64) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        (f, bytes.len() as u64)
    }

    #[test]
    fn decodes_what_it_encodes() {
        let (f, len) = file_of(&record(b"hello"));
        match decode_at(f.as_file(), 0, len).unwrap() {
            Decode::Record(r) => {
                assert_eq!(r.payload, b"hello");
                assert_eq!((r.appended_at_micros, r.count, r.end), (7, 1, len));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decode_at(f.as_file(), 0, len - 1).unwrap(),
            Decode::Incomplete
        );
    }

    #[test]
    fn tells_a_bad_payload_from_a_bad_header() {
        let mut bytes = record(b"hello world");
        bytes[HEADER_LEN as usize + 2] ^= 0x40;
        let (f, len) = file_of(&bytes);
        assert_eq!(
            decode_at(f.as_file(), 0, len).unwrap(),
            Decode::BadPayload { end: len }
        );
        for at in [4, 9, 17, 21] {
            let mut bytes = record(b"hello world");
            bytes[at] ^= 0x01;
            let (f, len) = file_of(&bytes);
            assert_eq!(decode_at(f.as_file(), 0, len).unwrap(), Decode::BadHeader);
        }
    }

    #[test]
    fn finds_the_next_record_after_damage() {
        let mut bytes = record(b"first");
        let second = bytes.len() as u64;
        bytes.extend(record(b"second"));
        bytes[5] ^= 0xff; // the first record's length
        let (f, len) = file_of(&bytes);
        assert_eq!(decode_at(f.as_file(), 0, len).unwrap(), Decode::BadHeader);
        assert_eq!(find_next_header(f.as_file(), 1, len).unwrap(), Some(second));
        assert_eq!(damage_extent(f.as_file(), 0, len).unwrap(), (second, false));
        // A record cut short at the end, with nothing after it: torn.
        let (f, len) = file_of(&record(b"torn")[..20]);
        assert_eq!(damage_extent(f.as_file(), 0, len).unwrap(), (len, true));
    }

    #[test]
    fn reads_format_1() {
        let payload = b"old";
        let mut bytes = Vec::new();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&5i64.to_le_bytes());
        crc.update(&2u32.to_le_bytes());
        crc.update(payload);
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc.finalize().to_le_bytes());
        bytes.extend_from_slice(&5i64.to_le_bytes());
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(payload);
        let (f, len) = file_of(&bytes);
        match decode_at(f.as_file(), 0, len).unwrap() {
            Decode::Record(r) => assert_eq!((r.payload.as_slice(), r.count), (&b"old"[..], 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_magic_is_never_a_format_1_length() {
        assert!(u32::from_le_bytes(MAGIC) > MAX_RECORD_LEN);
    }
}
