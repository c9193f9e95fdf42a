//! Golden tests: every scenario's script runs through `redis-cli --no-raw` against a real
//! redis-server, and through Sluice's own pipeline (tokenizer, command parser, engine, reply
//! builders, printer) against a fresh engine; the two outputs must be the same bytes.
//!
//! This checks the reply shapes and the printing, the parser's error texts and their order,
//! and the engine's Redis semantics all at once. Only XINFO's two radix-tree figures are
//! masked, since Sluice reports its own structure there, and the consumer groups' clock
//! readings (idle, seen and delivery times), which depend on when each side ran.
//!
//! Sluice's own group commands (XNACK, XRENEW, XGROUP SETPOLICY, the policy options) have no
//! Redis to compare with; `sluice_group_extensions` checks them against a fixed transcript.
//!
//! Without redis-server the tests are skipped with a loud message, unless
//! `SLUICE_REQUIRE_EXTERNAL=1`.

mod redis_oracle;

use redis_oracle::extensions::{EXTENSIONS_SCRIPT, EXTENSIONS_TRANSCRIPT};
use redis_oracle::scenarios::{GROUP_SCENARIOS, SCENARIOS};
use redis_oracle::{
    assert_same_output, mask_clock_ids, mask_group_times, mask_radix_tree_figures, open_engine,
    run_script_on_engine, Redis,
};

/// Both masks.
fn masked(text: &str) -> String {
    mask_group_times(&mask_radix_tree_figures(text))
}

fn check(name: &str) {
    let Some(redis) = Redis::start(name) else {
        return;
    };
    let script = SCENARIOS
        .iter()
        .chain(GROUP_SCENARIOS)
        .find(|(scenario, _)| *scenario == name)
        .map(|(_, script)| *script)
        .unwrap_or_else(|| panic!("no scenario named {name}"));
    let expected = masked(&redis.run_script(script));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = open_engine(dir.path());
    let actual = masked(&run_script_on_engine(&engine, script));
    assert_same_output(name, script, &expected, &actual);
}

#[test]
fn every_scenario_has_a_test() {
    let tested = [
        "xadd_and_ranges",
        "binary_values",
        "wide_arrays",
        "xread",
        "xdel_and_xtrim",
        "xsetid",
        "xinfo",
        "nomkstream_and_trimming_adds",
        "keyspace",
        "syntax_errors",
        "prompt_lines",
        "xgroup",
        "xreadgroup",
        "xack_and_xpending",
        "xclaim",
        "xautoclaim",
        "xinfo_groups",
    ];
    for (name, _) in SCENARIOS.iter().chain(GROUP_SCENARIOS) {
        assert!(tested.contains(name), "scenario {name} has no test");
    }
}

#[test]
fn xadd_and_ranges() {
    check("xadd_and_ranges");
}

#[test]
fn binary_values() {
    check("binary_values");
}

#[test]
fn wide_arrays() {
    check("wide_arrays");
}

#[test]
fn xread() {
    check("xread");
}

#[test]
fn xdel_and_xtrim() {
    check("xdel_and_xtrim");
}

#[test]
fn xsetid() {
    check("xsetid");
}

#[test]
fn xinfo() {
    check("xinfo");
}

#[test]
fn nomkstream_and_trimming_adds() {
    check("nomkstream_and_trimming_adds");
}

#[test]
fn keyspace() {
    check("keyspace");
}

#[test]
fn syntax_errors() {
    check("syntax_errors");
}

#[test]
fn prompt_lines() {
    check("prompt_lines");
}

#[test]
fn xgroup() {
    check("xgroup");
}

#[test]
fn xreadgroup() {
    check("xreadgroup");
}

#[test]
fn xack_and_xpending() {
    check("xack_and_xpending");
}

#[test]
fn xclaim() {
    check("xclaim");
}

#[test]
fn xautoclaim() {
    check("xautoclaim");
}

#[test]
fn xinfo_groups() {
    check("xinfo_groups");
}

#[test]
fn masking_only_touches_radix_tree_figures() {
    let text = " 2) (integer) 3\n 3) \"radix-tree-keys\"\n 4) (integer) 1\n 5) \"radix-tree-nodes\"\n 6) (integer) 2\n 7) (integer) 9\n";
    assert_eq!(
        mask_radix_tree_figures(text),
        " 2) (integer) 3\n 3) \"radix-tree-keys\"\n 4) (integer) <masked>\n 5) \"radix-tree-nodes\"\n 6) (integer) <masked>\n 7) (integer) 9\n"
    );
}

#[test]
fn group_masks_touch_only_clock_readings() {
    // XPENDING's extended form: the idle time, not the delivery count.
    let pending = "1) 1) \"1-0\"\n   2) \"c\"\n   3) (integer) 12\n   4) (integer) 3\n";
    assert_eq!(
        mask_group_times(pending),
        "1) 1) \"1-0\"\n   2) \"c\"\n   3) (integer) <masked>\n   4) (integer) 3\n"
    );
    // XINFO STREAM FULL's consumer PEL: the delivery time; and labelled figures.
    let consumer = "7) \"pending\"\n8) 1) 1) \"1-0\"\n      2) (integer) 1700000000000\n      3) (integer) 1\n";
    assert_eq!(
        mask_group_times(consumer),
        "7) \"pending\"\n8) 1) 1) \"1-0\"\n      2) (integer) <masked>\n      3) (integer) 1\n"
    );
    let labelled = "5) \"idle\"\n6) (integer) 4\n3) \"seen-time\"\n4) (integer) 9\n5) \"pel-count\"\n6) (integer) 2\n";
    assert_eq!(
        mask_group_times(labelled),
        "5) \"idle\"\n6) (integer) <masked>\n3) \"seen-time\"\n4) (integer) <masked>\n5) \"pel-count\"\n6) (integer) 2\n"
    );
    // Entries, XAUTOCLAIM's reply and XPENDING's summary are left alone.
    for text in [
        "1) 1) \"1-0\"\n   2) 1) \"a\"\n      2) \"1\"\n",
        "1) \"0-0\"\n2) (empty array)\n3) (empty array)\n",
        "1) (integer) 2\n2) \"1-0\"\n3) \"3-0\"\n4) 1) 1) \"c\"\n      2) \"2\"\n",
        "1) \"1-0\"\n2) (integer) 5\n3) (integer) 6\n4) (integer) 7\n",
    ] {
        assert_eq!(mask_group_times(text), text);
    }
}

/// Sluice's own group commands and policy, on the engine executor. No Redis has them, so the
/// transcript is fixed (`redis_oracle::extensions`); dead letters get `*` IDs, so their
/// milliseconds are masked.
#[test]
fn sluice_group_extensions() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = open_engine(dir.path());
    let actual = mask_clock_ids(&run_script_on_engine(&engine, EXTENSIONS_SCRIPT));
    assert_same_output(
        "sluice_group_extensions",
        EXTENSIONS_SCRIPT,
        EXTENSIONS_TRANSCRIPT,
        &actual,
    );
}
