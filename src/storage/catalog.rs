//! Stream names to directory names, and back.
//!
//! Stream names are arbitrary bytes; directory names must be safe on any file system. A name
//! becomes `s-` followed by its bytes, with every byte outside `[a-z0-9_-]` written as `%xx`
//! (lowercase hex) — so `..`, `/`, NUL, upper-case letters and every other byte are escaped,
//! and names that differ only in case map to different directories even on a case-insensitive
//! file system. The mapping is injective and decodable. A name whose escaped form would be too
//! long for one path component becomes `h-<escaped prefix>.<hash>` instead, with the full name
//! stored in a `name` file inside; hashed names that collide get a `~<n>` suffix, so the mapping
//! stays injective (the engine consults the `name` file, never the hash alone).

/// Longest escaped form used directly as a directory name (file systems allow 255 bytes).
const ESCAPED_MAX: usize = 200;
/// Length of the escaped prefix kept in a hashed directory name.
const PREFIX_MAX: usize = 64;
/// The file holding the full name in a hashed directory.
pub const NAME_FILE: &str = "name";

fn escape_into(out: &mut String, name: &[u8]) {
    for &byte in name {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-' {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(byte & 15), 16).unwrap_or('0'));
        }
    }
}

/// FNV-1a, 64 bits: stable across runs and platforms (unlike the standard library's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The directory name for a stream name, before collision handling.
pub fn dir_name(name: &[u8]) -> DirName {
    let mut escaped = String::from("s-");
    escape_into(&mut escaped, name);
    if escaped.len() - 2 <= ESCAPED_MAX {
        return DirName::Plain(escaped);
    }
    let mut hashed = String::from("h-");
    let mut prefix = String::new();
    for &byte in name {
        let before = prefix.len();
        escape_into(&mut prefix, &[byte]);
        if prefix.len() > PREFIX_MAX {
            prefix.truncate(before);
            break;
        }
    }
    hashed.push_str(&prefix);
    hashed.push_str(&format!(".{:016x}", fnv1a(name)));
    DirName::Hashed(hashed)
}

/// A directory name for a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirName {
    /// The escaped name itself; decodable.
    Plain(String),
    /// A prefix and hash; the full name is in the `name` file.
    Hashed(String),
}

impl DirName {
    /// The directory name (for a hashed name, the `attempt`-th candidate after collisions).
    pub fn candidate(&self, attempt: u32) -> String {
        match self {
            DirName::Plain(name) => name.clone(),
            DirName::Hashed(name) if attempt == 0 => name.clone(),
            DirName::Hashed(name) => format!("{name}~{attempt}"),
        }
    }
}

/// What a directory name says about its stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The stream's name.
    Name(Vec<u8>),
    /// A hashed directory: read its `name` file.
    Hashed,
    /// Not a stream directory.
    Other,
}

/// Decodes a directory name made by [`dir_name`].
pub fn decode_dir_name(dir: &str) -> Decoded {
    if dir.starts_with("h-") {
        return Decoded::Hashed;
    }
    let Some(escaped) = dir.strip_prefix("s-") else {
        return Decoded::Other;
    };
    let bytes = escaped.as_bytes();
    let mut name = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if byte == b'%' {
            let hex = |digit: u8| match digit {
                b'0'..=b'9' => Some(digit - b'0'),
                b'a'..=b'f' => Some(digit - b'a' + 10),
                _ => None,
            };
            let (Some(high), Some(low)) = (
                bytes.get(at + 1).copied().and_then(hex),
                bytes.get(at + 2).copied().and_then(hex),
            ) else {
                return Decoded::Other;
            };
            let decoded = high << 4 | low;
            // Only bytes the escaper escapes may appear escaped: one name, one spelling.
            if decoded.is_ascii_lowercase()
                || decoded.is_ascii_digit()
                || decoded == b'_'
                || decoded == b'-'
            {
                return Decoded::Other;
            }
            name.push(decoded);
            at += 3;
        } else if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        {
            name.push(byte);
            at += 1;
        } else {
            return Decoded::Other;
        }
    }
    Decoded::Name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(name: &[u8]) -> String {
        match dir_name(name) {
            DirName::Plain(dir) => dir,
            DirName::Hashed(dir) => panic!("unexpectedly hashed: {dir}"),
        }
    }

    #[test]
    fn escapes_everything_unsafe() {
        assert_eq!(plain(b"orders"), "s-orders");
        assert_eq!(plain(b""), "s-");
        assert_eq!(plain(b".."), "s-%2e%2e");
        assert_eq!(plain(b"a/b"), "s-a%2fb");
        assert_eq!(plain(b"A"), "s-%41");
        assert_eq!(plain(b"\0"), "s-%00");
        assert_ne!(plain(b"A"), plain(b"a"));
        assert_ne!(plain(b"A").to_lowercase(), plain(b"a").to_lowercase());
    }

    #[test]
    fn decodes_what_it_encodes_and_nothing_else() {
        for name in [&b"orders"[..], b"", b"..", b"a/b\0\xff", b"MiXeD case"] {
            assert_eq!(decode_dir_name(&plain(name)), Decoded::Name(name.to_vec()));
        }
        assert_eq!(decode_dir_name("s-%61"), Decoded::Other);
        assert_eq!(decode_dir_name("s-%4"), Decoded::Other);
        assert_eq!(decode_dir_name("s-A"), Decoded::Other);
        assert_eq!(decode_dir_name(".new-1"), Decoded::Other);
    }

    #[test]
    fn long_names_are_hashed_and_short_enough() {
        let long = vec![b'X'; 1000];
        let DirName::Hashed(dir) = dir_name(&long) else {
            panic!("expected a hashed name");
        };
        assert!(dir.len() < 255);
        assert_eq!(decode_dir_name(&dir), Decoded::Hashed);
        let mut other = long.clone();
        other[999] = b'Y';
        assert_ne!(dir_name(&long), dir_name(&other));
        assert_eq!(dir_name(&long).candidate(2), format!("{dir}~2"));
    }
}
