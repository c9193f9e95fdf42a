//! Figures that legitimately differ between Redis and Sluice, masked before comparing: XINFO's
//! radix-tree figures (Sluice reports its own structure there) and the consumer groups' clock
//! readings (idle times, seen times, delivery times), which depend on when each side ran.

/// The masked form of an integer.
const MASKED: &str = "(integer) <masked>\n";

/// Masks the integer on the line after each line ending with one of `labels` (a map's value
/// after its name).
fn mask_after_labels(text: &str, labels: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for line in text.split_inclusive('\n') {
        if mask_next {
            if let Some(at) = line.find("(integer) ") {
                out.push_str(&line[..at]);
                out.push_str(MASKED);
                mask_next = false;
                continue;
            }
        }
        mask_next = labels
            .iter()
            .any(|label| line.strip_suffix('\n').unwrap_or(line).ends_with(label));
        out.push_str(line);
    }
    out
}

/// Sluice reports its own structure under XINFO's radix-tree names (segments and index
/// points), so those two figures are masked before comparing with Redis.
pub fn mask_radix_tree_figures(text: &str) -> String {
    mask_after_labels(text, &["\"radix-tree-keys\"", "\"radix-tree-nodes\""])
}

/// Masks the clock readings of consumer groups: XINFO CONSUMERS' `idle`, XINFO STREAM FULL's
/// `seen-time`, and in pending-entry arrays the idle or delivery time — the third element of
/// `[id, consumer, time, count]` (XPENDING's extended form, FULL's group PEL) and the second of
/// `[id, time, count]` (FULL's consumer PEL).
pub fn mask_group_times(text: &str) -> String {
    let labelled = mask_after_labels(text, &["\"idle\"", "\"seen-time\""]);
    let mut lines: Vec<String> = labelled.split_inclusive('\n').map(str::to_owned).collect();
    for at in 0..lines.len() {
        let Some((column, 1, first)) = innermost(&lines[at]) else {
            continue;
        };
        if !is_id(first) {
            continue;
        }
        let sibling = |offset: usize, index: usize| {
            lines
                .get(at + offset)
                .and_then(|line| element_at(line, column, index))
        };
        let masked = match (sibling(1, 2), sibling(2, 3), sibling(3, 4)) {
            (Some(owner), Some(time), Some(count))
                if owner.starts_with('"') && is_integer(time) && is_integer(count) =>
            {
                Some(at + 2)
            }
            (Some(time), Some(count), None) if is_integer(time) && is_integer(count) => {
                Some(at + 1)
            }
            _ => None,
        };
        if let Some(line) = masked {
            let start = lines[line].find("(integer) ").expect("an integer line");
            lines[line] = format!("{}{MASKED}", &lines[line][..start]);
        }
    }
    lines.concat()
}

/// The innermost array element a printed line starts: the column of its index, the index, and
/// the element's text (`"1) 2) \"x\""` → `(3, 2, "\"x\"")`).
pub fn innermost(line: &str) -> Option<(usize, usize, &str)> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let bytes = line.as_bytes();
    let mut at = 0;
    let mut found = None;
    loop {
        let digits_at = at + bytes[at..].iter().take_while(|&&byte| byte == b' ').count();
        let digits = bytes[digits_at..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        let after = digits_at + digits;
        if digits == 0 || !line[after..].starts_with(") ") {
            return found.map(|(column, index)| (column, index, &line[at..]));
        }
        found = Some((digits_at, line[digits_at..after].parse().ok()?));
        at = after + 2;
    }
}

/// The element of index `index` a line starts at `column`, if it does.
fn element_at(line: &str, column: usize, index: usize) -> Option<&str> {
    match innermost(line) {
        Some((found_column, found_index, element))
            if found_column == column && found_index == index =>
        {
            Some(element)
        }
        _ => None,
    }
}

fn is_id(element: &str) -> bool {
    let Some(inner) = element
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return false;
    };
    let Some((ms, seq)) = inner.split_once('-') else {
        return false;
    };
    [ms, seq]
        .iter()
        .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
}

fn is_integer(element: &str) -> bool {
    element.starts_with("(integer) ")
}

/// IDs whose milliseconds are a clock reading (12 digits or more) as `<time>-<seq>`: both
/// parts, since two entries added in the same millisecond differ in their sequence instead.
pub fn mask_clock_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let masked = line.split_once('"').and_then(|(before, rest)| {
            let (ms, rest) = rest.split_once('-')?;
            let clock = ms.len() >= 12 && ms.bytes().all(|byte| byte.is_ascii_digit());
            let rest = rest.trim_start_matches(|character: char| character.is_ascii_digit());
            clock.then(|| format!("{before}\"<time>-<seq>{rest}"))
        });
        out.push_str(masked.as_deref().unwrap_or(line));
    }
    out
}
