//! Redis's glob patterns (KEYS, SCAN MATCH, and anything else that selects streams by name),
//! matched on bytes in at most (pattern length × name length) steps: no pattern can explode.

/// Redis's glob matching (`*`, `?`, `[...]` with `^` and ranges, `\` escapes), on bytes.
/// Iterative with one backtrack point, so no pattern can make it take exponential time.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut at_pattern, mut at_text) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while at_text < text.len() {
        if at_pattern < pattern.len() {
            if pattern[at_pattern] == b'*' {
                star = Some((at_pattern, at_text));
                at_pattern += 1;
                continue;
            }
            if let Some(next) = match_one(pattern, at_pattern, text[at_text]) {
                at_pattern = next;
                at_text += 1;
                continue;
            }
        }
        match star {
            Some((star_pattern, star_text)) => {
                at_pattern = star_pattern + 1;
                at_text = star_text + 1;
                star = Some((star_pattern, star_text + 1));
            }
            None => return false,
        }
    }
    pattern[at_pattern..].iter().all(|&byte| byte == b'*')
}

/// Whether the single-byte pattern element at `at` matches `byte`; returns where the next
/// element starts.
fn match_one(pattern: &[u8], at: usize, byte: u8) -> Option<usize> {
    match pattern[at] {
        b'?' => Some(at + 1),
        b'\\' if at + 1 < pattern.len() => (pattern[at + 1] == byte).then_some(at + 2),
        b'[' => {
            let mut cursor = at + 1;
            let negate = pattern.get(cursor) == Some(&b'^');
            if negate {
                cursor += 1;
            }
            let mut matched = false;
            while cursor < pattern.len() && pattern[cursor] != b']' {
                if pattern[cursor] == b'\\' && cursor + 1 < pattern.len() {
                    matched |= pattern[cursor + 1] == byte;
                    cursor += 2;
                } else if cursor + 2 < pattern.len()
                    && pattern[cursor + 1] == b'-'
                    && pattern[cursor + 2] != b']'
                {
                    let (low, high) = (
                        pattern[cursor].min(pattern[cursor + 2]),
                        pattern[cursor].max(pattern[cursor + 2]),
                    );
                    matched |= (low..=high).contains(&byte);
                    cursor += 3;
                } else {
                    matched |= pattern[cursor] == byte;
                    cursor += 1;
                }
            }
            let next = (cursor + 1).min(pattern.len());
            (matched != negate).then_some(next)
        }
        literal => (literal == byte).then_some(at + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"or*s", b"orders"));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-c]llo", b"hbllo"));
        assert!(glob_match(b"a\\*b", b"a*b"));
        assert!(!glob_match(b"a\\*b", b"axb"));
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", &[b'a'; 200]));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"?", b""));
    }
}
