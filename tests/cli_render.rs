//! Golden tests: every scenario's script runs through `redis-cli --no-raw` against a real
//! redis-server, and through Sluice's own pipeline (tokenizer, command parser, engine, reply
//! builders, printer) against a fresh engine; the two outputs must be the same bytes.
//!
//! This checks the reply shapes and the printing, the parser's error texts and their order,
//! and the engine's Redis semantics all at once. Only XINFO's two radix-tree figures are
//! masked, since Sluice reports its own structure there.
//!
//! Without redis-server the tests are skipped with a loud message, unless
//! `SLUICE_REQUIRE_EXTERNAL=1`.

mod redis_oracle;

use redis_oracle::scenarios::SCENARIOS;
use redis_oracle::{
    assert_same_output, mask_radix_tree_figures, open_engine, run_script_on_engine, Redis,
};

fn check(name: &str) {
    let Some(redis) = Redis::start(name) else {
        return;
    };
    let script = SCENARIOS
        .iter()
        .find(|(scenario, _)| *scenario == name)
        .map(|(_, script)| *script)
        .unwrap_or_else(|| panic!("no scenario named {name}"));
    let expected = mask_radix_tree_figures(&redis.run_script(script));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = open_engine(dir.path());
    let actual = mask_radix_tree_figures(&run_script_on_engine(&engine, script));
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
    ];
    for (name, _) in SCENARIOS {
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
fn masking_only_touches_radix_tree_figures() {
    let text = " 2) (integer) 3\n 3) \"radix-tree-keys\"\n 4) (integer) 1\n 5) \"radix-tree-nodes\"\n 6) (integer) 2\n 7) (integer) 9\n";
    assert_eq!(
        mask_radix_tree_figures(text),
        " 2) (integer) 3\n 3) \"radix-tree-keys\"\n 4) (integer) <masked>\n 5) \"radix-tree-nodes\"\n 6) (integer) <masked>\n 7) (integer) 9\n"
    );
}
