//! Command scripts whose output must match `redis-cli --no-raw` byte for byte, one command per
//! line as typed at a redis-cli prompt. IDs are explicit so the output is deterministic; no
//! command blocks for long (redis-cli would print its "(0.50s)" timing line).

/// `(name, script)` pairs.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("xadd_and_ranges", XADD_AND_RANGES),
    ("binary_values", BINARY_VALUES),
    ("wide_arrays", WIDE_ARRAYS),
    ("xread", XREAD),
    ("xdel_and_xtrim", XDEL_AND_XTRIM),
    ("xsetid", XSETID),
    ("xinfo", XINFO),
    ("nomkstream_and_trimming_adds", NOMKSTREAM),
    ("keyspace", KEYSPACE),
    ("syntax_errors", SYNTAX_ERRORS),
    ("prompt_lines", PROMPT_LINES),
];

const XADD_AND_RANGES: &str = r#"XADD s 1-1 a 1
XADD s 1-2 b 2 c 3
XADD s 2-0 d 4
XADD s 2 e 5
XADD s 2-* f 6
XADD s 3-* g 7
XADD s 0-1 h 8
XADD s 3-0 h 8
xadd s 007-1 i 9
XRANGE s - +
XRANGE s - + COUNT 2
XRANGE s - + count 1 COUNT 3
XRANGE s - + COUNT 0
XRANGE s - + COUNT -1
XRANGE missing - + COUNT 0
XRANGE missing - +
XRANGE s (1-1 (3-0
XRANGE s 2 2
XRANGE s 5 +
XRANGE s 3 1
XREVRANGE s + - COUNT 3
XREVRANGE s 2 1
XREVRANGE s + - COUNT 0
XREVRANGE s (3 -
XLEN s
XLEN missing
"#;

const BINARY_VALUES: &str = r#"XADD b 1-0 "a\x00b" "line\nbreak"
XADD b 2-0 "quote\"d" "tab\there" 'single \'q\'' "\x7f\x80\xff"
XADD b 3-0 "héllo wörld" "€" "" "sp ace"
XADD b 4-0 "\a\b\r" "back\\slash" "\x1b[0m" "\xZZ"
XRANGE b - +
XREVRANGE b + - COUNT 1
XREAD STREAMS b 2-0
XADD "key\nwith\x00bytes" 1-0 f v
XREAD STREAMS "key\nwith\x00bytes" 0
XLEN "key\nwith\x00bytes"
"#;

const WIDE_ARRAYS: &str = r#"XADD w 1-0 f1 v1 f2 v2 f3 v3 f4 v4 f5 v5 f6 v6
XADD w 2-0 a 1
XADD w 3-0 a 1
XADD w 4-0 a 1
XADD w 5-0 a 1
XADD w 6-0 a 1
XADD w 7-0 a 1
XADD w 8-0 a 1
XADD w 9-0 a 1
XADD w 10-0 a 1
XADD w 11-0 a 1
XRANGE w - +
XREAD STREAMS w 0
XINFO STREAM w FULL
XINFO STREAM w FULL COUNT 0
XINFO STREAM w FULL COUNT 2
XINFO STREAM w FULL COUNT -3
"#;

const XREAD: &str = r#"XADD r1 1-0 a 1
XADD r1 2-0 b 2
XADD r2 1-0 c 3
XREAD STREAMS r1 r2 0 0
XREAD COUNT 1 STREAMS r1 r2 0 0
xread count 1 count 5 streams r1 0-0
XREAD STREAMS r1 r2 2-0 1-0
XREAD STREAMS r1 r2 1 0
XREAD STREAMS r1 r2 $ $
XREAD STREAMS missing 0
XREAD STREAMS missing r1 0 1-0
XREAD COUNT 0 STREAMS r1 0
XREAD COUNT -1 STREAMS r1 0
XREAD BLOCK 1 STREAMS r1 0
XREAD BLOCK 1 STREAMS r1 $
XREAD STREAMS r1 18446744073709551615-18446744073709551615
"#;

// Approximate trims only where Redis and Sluice agree: Redis's `~` drops whole radix-tree
// nodes and Sluice's whole segments, so `XTRIM d MAXLEN ~ 0` removes the lone node in Redis
// and nothing in Sluice (its active segment stays); both are within `~`'s contract.
const XDEL_AND_XTRIM: &str = r#"XADD d 1-0 a 1
XADD d 2-0 a 2
XADD d 3-0 a 3
XADD d 4-0 a 4
XADD d 5-0 a 5
XADD d 6-0 a 6
XADD d 7-0 a 7
XDEL d 2-0 4-0 99-0
XDEL d 2-0
XDEL d 1 1
XDEL missing 1-0
XDEL missing bad
XDEL d bad
XDEL d 3-0 bad
XLEN d
XRANGE d - +
XINFO STREAM d
XTRIM d MAXLEN 3
XTRIM d MAXLEN = 3
XTRIM d MINID 6
XTRIM d MINID = 6
XTRIM missing MAXLEN 0
XTRIM d MAXLEN ~ 1 LIMIT 0
XRANGE d - +
XINFO STREAM d
XTRIM d MAXLEN 0
XINFO STREAM d
XINFO STREAM d FULL
XADD d 6-5 z 1
XADD d 8-0 z 1
XINFO STREAM d
"#;

const XSETID: &str = r#"XSETID missing 1-1
XADD x 5-0 a 1
XSETID x 4-0
XSETID x 5-0
XSETID x 10-0
XADD x 9-0 b 2
XADD x 10-* b 2
XSETID x 20-0 ENTRIESADDED 1
XSETID x 20-0 ENTRIESADDED 50 MAXDELETEDID 15-0
XINFO STREAM x
XSETID x 20-0 MAXDELETEDID 0-0
XINFO STREAM x
XDEL x 5-0 10-1
XINFO STREAM x
XSETID x 1-0
XINFO STREAM x
XADD x 1-* c 3
XSETID x 3 ENTRIESADDED 0
XINFO STREAM x
"#;

const XINFO: &str = r#"XINFO STREAM missing
XINFO STREAM missing FULL
XINFO STREAM missing FULL COUNT x
XINFO STREAM missing bogus
XADD i 1-0 a 1
XADD i 2-0 b 2
XADD i 3-0 c 3
XINFO STREAM i
XINFO STREAM i FULL
XINFO STREAM i full count 1
XINFO STREAM i FULL COUNT x
XINFO STREAM i FULL COUNT
XINFO STREAM i bogus
XINFO STREAM i FULL LIMIT 1
XDEL i 1-0
XINFO STREAM i
XDEL i 3-0
XINFO STREAM i
XADD e MAXLEN 0 1-0 a 1
XINFO STREAM e
XINFO STREAM e FULL
XINFO stream
XINFO
XINFO nothing e
"#;

const NOMKSTREAM: &str = r#"XADD n NOMKSTREAM 1-0 a 1
EXISTS n
XLEN n
XADD n 1-0 a 1
XADD n NOMKSTREAM 2-0 b 2
XADD n MAXLEN 2 3-0 c 3
XADD n MAXLEN = 2 4-0 d 4
XADD n MINID 4 5-0 e 5
XADD n MINID = 5 nomkstream 6-0 f 6
XADD n MAXLEN ~ 1 LIMIT 5 7-0 g 7
XRANGE n - +
XINFO STREAM n
"#;

const KEYSPACE: &str = r#"XADD alpha 1-0 a 1
XADD beta 1-0 b 1
EXISTS alpha
EXISTS alpha alpha beta missing
KEYS al*
KEYS b?ta
KEYS [ab]lpha
KEYS nothing*
DEL alpha missing alpha
EXISTS alpha
KEYS al*
DEL beta
KEYS *
PING
PING "hello world"
ping a b
"#;

const SYNTAX_ERRORS: &str = r#"XADD s
XADD s 1-1 a
XADD s 1-1 a b c
XADD s bad a b
XADD s 0-0 a b
XADD s 0 a b
XADD s MAXLEN -1 * a b
XADD s MAXLEN x * a b
XADD s MAXLEN 5 LIMIT 10 * a b
XADD s MAXLEN ~ 5 LIMIT -1 * a b
XADD s MAXLEN 5 MINID 3 * a b
XADD s LIMIT 5 * a b
XADD s LIMIT 0 * a b
XADD s MINID bad * a b
XADD s maxlen
XADD s 12-1 a b maxlen
XADD s maxlen ~ 1-1 a b
XTRIM s
XTRIM s MAXLEN
XTRIM s MAXLEN 1 extra
XTRIM s FOO 1
XTRIM s LIMIT 1
XTRIM s LIMIT 1 MAXLEN 1
XTRIM s MAXLEN = 1 LIMIT 1
XTRIM s NOMKSTREAM MAXLEN 1
XTRIM s MAXLEN -5
XRANGE s
XRANGE s - + COUNT
XRANGE s - + COUNT x
XRANGE s - + foo 1
XRANGE s ( +
XRANGE s (18446744073709551615-18446744073709551615 +
XRANGE s - (0-0
XRANGE s bad +
XREVRANGE s - (0
XREAD
XREAD STREAMS
XREAD STREAMS s
XREAD STREAMS s t 0
XREAD COUNT 1 s 0
XREAD FOO STREAMS s 0
XREAD COUNT x STREAMS s 0
XREAD BLOCK x STREAMS s 0
XREAD BLOCK -1 STREAMS s 0
XREAD STREAMS s bad
XREAD STREAMS s >
XREAD GROUP g c STREAMS s 0
XREAD NOACK STREAMS s 0
XLEN
XLEN a b
XDEL s
XSETID s
XSETID s bad
XSETID s 99-1 ENTRIESADDED
XSETID s 99-1 ENTRIESADDED x
XSETID s 99-1 ENTRIESADDED -1
XSETID s 99-1 MAXDELETEDID 100-1
XSETID s 99-1 MAXDELETEDID bad
XSETID s 99-1 FOO 1
DEL
EXISTS
KEYS
KEYS a b
FOO
FOO a b
FOO "a\nb" "c\x00d" 'e\rf'
fOo "\xff"
xadd
"#;

const PROMPT_LINES: &str = r#"XADD p 1-0 a 1

   
2 XLEN p
"3" XRANGE p - +
0 XLEN p
-1 XLEN p
"" XLEN p
2
XADD p 2-0 "unterminated
XADD p 2-0 "a"b c
XADD p 2-0 'x
XLEN p
"#;
