//! `sluice tail STREAM [ID]`: follows a stream live, one line per entry, until Ctrl-C.
//!
//! Each entry prints as its ID and then its fields and values, separated by spaces:
//!
//! ```text
//! 1659114481311-0 sensor 7 reading "21.5 C"
//! ```
//!
//! A word prints bare when it is printable ASCII with nothing a redis-cli prompt would read
//! specially (no blank, quote or backslash), and otherwise quoted and escaped as redis-cli
//! quotes bulk strings (`"a\x00b"`, `""`). So every line is unambiguous, and pasting one after
//! `XADD STREAM` at a `sluice cli` prompt adds the same entry again.

use std::io::Write;

use crate::model::Entry;
use crate::reply::repr;

/// One entry as a line (without the newline).
pub fn format_entry(entry: &Entry) -> String {
    let mut line = entry.id.to_string();
    for (name, value) in &entry.fields {
        line.push(' ');
        line.push_str(&word(name));
        line.push(' ');
        line.push_str(&word(value));
    }
    line
}

fn word(bytes: &[u8]) -> String {
    let plain = !bytes.is_empty()
        && bytes
            .iter()
            .all(|&byte| matches!(byte, 0x21..=0x7e) && !matches!(byte, b'"' | b'\'' | b'\\'));
    if plain {
        // Only printable ASCII, so this is the text itself.
        String::from_utf8_lossy(bytes).into_owned()
    } else {
        repr(bytes)
    }
}

/// Writes entries to `out`, one line each, and flushes so a pipe sees them at once.
pub fn write_entries(out: &mut impl Write, entries: &[Entry]) -> std::io::Result<()> {
    for entry in entries {
        writeln!(out, "{}", format_entry(entry))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tokenizer;
    use crate::id::StreamId;

    fn entry(fields: &[(&[u8], &[u8])]) -> Entry {
        Entry {
            id: StreamId::new(1659114481311, 0),
            fields: fields
                .iter()
                .map(|(name, value)| (name.to_vec(), value.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn plain_words_print_bare() {
        assert_eq!(
            format_entry(&entry(&[(b"sensor", b"7"), (b"unit", b"C")])),
            "1659114481311-0 sensor 7 unit C"
        );
    }

    #[test]
    fn other_words_are_quoted() {
        assert_eq!(
            format_entry(&entry(&[
                (b"note", b"21.5 C"),
                (b"", b"a\0b"),
                (b"q", b"it's")
            ])),
            "1659114481311-0 note \"21.5 C\" \"\" \"a\\x00b\" q \"it's\""
        );
    }

    #[test]
    fn lines_split_back_into_the_entry() {
        let original = entry(&[
            (b"f", b"line\nbreak"),
            (b"quote\"d", "é".as_bytes()),
            (b"back\\slash", b"\x07\xff"),
            (b"it's", b""),
        ]);
        let words = tokenizer::split(format_entry(&original).as_bytes()).unwrap_or_default();
        let fields: Vec<(Vec<u8>, Vec<u8>)> = words[1..]
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        assert_eq!(words[0], b"1659114481311-0");
        assert_eq!(fields, original.fields);
    }
}
