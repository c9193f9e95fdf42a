//! Command scripts whose output must match `redis-cli --no-raw` byte for byte, one command per
//! line as typed at a redis-cli prompt. IDs are explicit so the output is deterministic; no
//! command blocks for long (redis-cli would print its "(0.50s)" timing line).

/// `(name, script)` pairs: the stream commands, which every front end runs.
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

/// The consumer-group scenarios: `(name, script)` pairs, checked on the engine executor
/// (`cli_render`). Idle, seen and delivery times are clock readings and are masked
/// (`mask_group_times`); every min-idle-time and IDLE threshold is 0 or far from the few
/// milliseconds a script takes, so what is claimed or listed does not depend on timing.
pub const GROUP_SCENARIOS: &[(&str, &str)] = &[
    ("xgroup", XGROUP),
    ("xreadgroup", XREADGROUP),
    ("xack_and_xpending", XACK_AND_XPENDING),
    ("xclaim", XCLAIM),
    ("xautoclaim", XAUTOCLAIM),
    ("xinfo_groups", XINFO_GROUPS),
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

// XGROUP CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER and HELP: errors before and after the
// key and group lookups, BUSYGROUP, MKSTREAM, ENTRIESREAD, DELCONSUMER's pending counts.
const XGROUP: &str = r#"XGROUP
XGROUP foo
XGROUP HELP
XGROUP help x
XGROUP CREATE s
XGROUP CREATE s g $
XGROUP CREATE s g bad
XGROUP CREATE s g $ ENTRIESREAD 1 ENTRIESREAD 2
XGROUP CREATE s g bad MKSTREAM
XGROUP CREATE s g $ MKSTREAM
XGROUP CREATE s g $ MKSTREAM
XGROUP CREATE s g 0
XLEN s
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XGROUP CREATE s g2 0 mkstream ENTRIESREAD 2
XGROUP CREATE s g3 -
XGROUP CREATE s g3 +
XGROUP CREATE s g3 5-*
XGROUP CREATE s g3 $ ENTRIESREAD
XGROUP CREATE s g3 $ ENTRIESREAD -2
XGROUP CREATE s g3 $ ENTRIESREAD x
XGROUP CREATE s g3 $ ENTRIESREAD -1 FOO
XGROUP CREATE s g3 $ ENTRIESREAD 1 ENTRIESREAD 2
XGROUP CREATE s g3 $ MKSTREAM ENTRIESREAD 1 MKSTREAM
XGROUP create s g3 18446744073709551615-18446744073709551615 ENTRIESREAD -1
XINFO GROUPS s
XGROUP SETID s g
XGROUP SETID missing g 0
XGROUP SETID missing g bad
XGROUP SETID s nog bad
XGROUP SETID s g bad
XGROUP SETID s g (1
XGROUP SETID s g 1 MKSTREAM
XGROUP setid s g 1 ENTRIESREAD
XGROUP SETID s g 1 ENTRIESREAD 3 x
XGROUP SETID s g 1 ENTRIESREAD 3 ENTRIESREAD 4
XGROUP SETID s nog 1 ENTRIESREAD 3 ENTRIESREAD 4
XGROUP SETID s g - ENTRIESREAD 0
XGROUP SETID s g2 +
XGROUP SETID s g3 $ ENTRIESREAD 7
XGROUP SETID s g3 2
XINFO GROUPS s
XGROUP CREATECONSUMER s g alice
XGROUP CREATECONSUMER s g alice
XGROUP CREATECONSUMER s g bob
XGROUP CREATECONSUMER s nog alice
XGROUP CREATECONSUMER missing g alice
XGROUP CREATECONSUMER s g
XREADGROUP GROUP g alice COUNT 2 STREAMS s >
XREADGROUP GROUP g bob STREAMS s >
XINFO GROUPS s
XGROUP DELCONSUMER s g alice
XGROUP DELCONSUMER s g alice
XGROUP DELCONSUMER s g nobody
XGROUP DELCONSUMER s nog alice
XGROUP DELCONSUMER missing g alice
XPENDING s g
XINFO GROUPS s
XGROUP DESTROY s g
XGROUP DESTROY s g
XGROUP DESTROY missing g
XGROUP DESTROY s g x
XGROUP DESTROY s "g\x00"
XINFO GROUPS s
XGROUP "crea\x00te" s g $
XGROUP CREATE "k\x00ey" "gr\noup" $ MKSTREAM
XGROUP SETID "k\x00ey" "no\x00pe" 0
XGROUP SETID "k\x00ey" "gr\noup" 0
XINFO GROUPS "k\x00ey"
"#;

// XREADGROUP: option errors, each stream's key and group checked before its ID, `>` and history
// reads, NOACK, history of deleted entries, SETID backwards redelivering, a BLOCK that times out.
const XREADGROUP: &str = r#"XREADGROUP
XREADGROUP GROUP g c STREAMS s
XREADGROUP GROUP g c STREAMS s s >
XREADGROUP GROUP g STREAMS s >
XREADGROUP COUNT 1 NOACK STREAMS s >
XREADGROUP GROUP g c FOO STREAMS s >
XREADGROUP GROUP g c COUNT x STREAMS s >
XREADGROUP GROUP g c BLOCK x STREAMS s >
XREADGROUP GROUP g c BLOCK -1 STREAMS s >
XREADGROUP GROUP g c COUNT 1 s >
XREADGROUP GROUP g c STREAMS s >
XREADGROUP GROUP g c STREAMS s $
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XADD t 1-0 x 1
XREADGROUP GROUP g c STREAMS s >
XREADGROUP GROUP g c STREAMS s bad
XGROUP CREATE s g 0
XGROUP CREATE t g $
XREADGROUP GROUP nog c STREAMS s >
XREADGROUP GROUP nog c STREAMS s $
XREADGROUP GROUP g c STREAMS s missing > $
XREADGROUP GROUP g c STREAMS s missing $ >
XREADGROUP GROUP g c STREAMS s t + >
XREADGROUP GROUP g c STREAMS s t > -
XREADGROUP GROUP g c STREAMS s "$\x00x"
XREADGROUP GROUP "g\x00x" c STREAMS s >
XREADGROUP GROUP g alice COUNT 1 STREAMS s t > >
XREADGROUP GROUP g bob STREAMS s t > >
XREADGROUP GROUP g bob STREAMS s t > >
XREADGROUP GROUP g bob BLOCK 1 STREAMS s t > >
XREADGROUP GROUP g alice STREAMS s t 0 0
XREADGROUP GROUP g bob COUNT 1 STREAMS s t 0 0
XREADGROUP GROUP g bob STREAMS s (2
XREADGROUP GROUP g bob STREAMS s 2-0
XREADGROUP GROUP g nobody BLOCK 1 STREAMS s 0
XADD t 2-0 y 2
XREADGROUP GROUP x y GROUP g carol NOACK STREAMS t >
XPENDING t g
XREADGROUP GROUP g carol STREAMS t 0
XREADGROUP GROUP g carol STREAMS s t 18446744073709551615-18446744073709551615 >
XPENDING s g - + 10
XDEL s 2-0
XREADGROUP GROUP g bob STREAMS s 0
XREADGROUP GROUP g bob COUNT 1 STREAMS s 2
XPENDING s g - + 10
XACK s g 2-0
XREADGROUP GROUP g bob STREAMS s 0
XGROUP SETID s g 0
XREADGROUP GROUP g dave STREAMS s >
XPENDING s g - + 10
XPENDING s g
XINFO CONSUMERS s g
XREADGROUP GROUP g dave count 0 STREAMS s 0
XREADGROUP GROUP g dave count -1 STREAMS s 0-0
XGROUP DESTROY s g
XREADGROUP GROUP g dave STREAMS s 0
XREADGROUP GROUP g dave STREAMS t s > >
"#;

// XACK (a bad ID on a missing key or group still answers 0) and XPENDING's summary and extended
// forms: argument counts, IDLE, exclusive bounds, negative COUNT, consumers.
const XACK_AND_XPENDING: &str = r#"XACK s
XACK s g
XACK missing g 1-0
XACK missing g bad
XPENDING s
XPENDING s g
XPENDING s g - + 10
XPENDING s g - + x
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XADD s 4-0 d 4
XACK s nog bad
XGROUP CREATE s g 0
XPENDING s g
XPENDING s g - + 10
XPENDING s nog
XPENDING s nog - + 10
XACK s g bad
XACK s g 1-0 bad
XACK s g 1-0 "1\x00x"
XREADGROUP GROUP g alice COUNT 2 STREAMS s >
XREADGROUP GROUP g bob STREAMS s >
XPENDING s g
XPENDING s g -
XPENDING s g - +
XPENDING s g - + 10 alice x y
XPENDING s g IDLE 5 - +
XPENDING s g IDLE x - + 1
XPENDING s g IDLE - + 10
XPENDING s g IDLE 5 - + x
XPENDING s g - + x
XPENDING s g bad + 1
XPENDING s g bad + x
XPENDING s g - bad 1
XPENDING s g (18446744073709551615-18446744073709551615 + 1
XPENDING s g - (0-0 1
XPENDING s g idle 1 - + 10 alice extra
XPENDING s g a b c d e f g
XPENDING missing g - + x
XPENDING missing g - + 1
XPENDING s g - + -1
XPENDING s g - + 0
XPENDING s g - + 2
XPENDING s g - + 1 nobody
XPENDING s g (2 + 10
XPENDING s g - (3 10
XPENDING s g 2 3 10 bob
XPENDING s g idle 0 - + 10 bob
XPENDING s g IDLE 99999999 - + 10
XPENDING s g IDLE -5 - + 10
XPENDING s g 4 4 10
XACK s g 1-0 1-0 9-0
XACK s nog 2-0
XACK s g 1-0
XPENDING s g
XDEL s 2-0
XACK s g 2-0
XACK s g 3 4
XPENDING s g
XPENDING s g - + 10
XINFO CONSUMERS s g
"#;

// XCLAIM: NOGROUP before argument errors, the run of IDs then options, IDLE/TIME/RETRYCOUNT/
// FORCE/JUSTID/LASTID, deleted entries dropped from the PEL, delivery counts.
const XCLAIM: &str = r#"XCLAIM s g c 0
XCLAIM missing g c x bad
XCLAIM missing g c 0 1-0
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XADD s 4-0 d 4
XADD s 5-0 e 5
XCLAIM s nog c x bad
XCLAIM s nog c 0 1-0
XGROUP CREATE s g 0
XREADGROUP GROUP g alice COUNT 3 STREAMS s >
XCLAIM s g bob x 1-0
XCLAIM s g bob "1\x00" 1-0
XCLAIM s g bob 0 bad
XCLAIM s g bob 0 1-0 FOO
XCLAIM s g bob 0 1-0 IDLE
XCLAIM s g bob 0 1-0 IDLE x
XCLAIM s g bob 0 1-0 TIME x
XCLAIM s g bob 0 1-0 RETRYCOUNT x
XCLAIM s g bob 0 1-0 LASTID bad
XCLAIM s g bob 0 1-0 FORCE 2-0
XCLAIM s g bob 0 1-0 5-*
XCLAIM s g bob 0 1-0 +
XCLAIM s g bob 0 1-0 "JUST\x00ID"
XCLAIM s g bob 0 1-0 "bad\nopt"
XPENDING s g - + 10
XCLAIM s g bob 99999999 1-0 2-0
XCLAIM s g bob 0 1-0 JUSTID
XCLAIM s g bob -5 2-0
XPENDING s g - + 10
XCLAIM s g bob 0 1-0 2-0 RETRYCOUNT 7 JUSTID
XCLAIM s g carol 0 3-0 IDLE 3600000
XPENDING s g IDLE 1800000 - + 10
XCLAIM s g carol 0 4-0
XCLAIM s g carol 0 4-0 FORCE
XCLAIM s g carol 0 5-0 FORCE JUSTID
XCLAIM s g carol 0 4-0 FORCE
XPENDING s g - + 10
XDEL s 1-0
XCLAIM s g dave 0 1-0 2-0
XPENDING s g
XCLAIM s g dave 0 9-0 FORCE
XCLAIM s g dave 0 2-0 LASTID 100-0 JUSTID
XCLAIM s g dave 0 2-0 LASTID 1-0 JUSTID
XINFO GROUPS s
XCLAIM s g dave 0 2-0 IDLE -100 RETRYCOUNT 3 RETRYCOUNT -1 JUSTID
XCLAIM s g dave 0 2-0 TIME 99999999999999 JUSTID
XCLAIM s g dave 0 2-0 "FORCE\x00x" JUSTID
XCLAIM s g dave 0 FORCE
XCLAIM s g erin 0 7-0 8-0
XINFO CONSUMERS s g
XPENDING s g - + 10
XPENDING s g
"#;

// XAUTOCLAIM: argument errors before NOGROUP, the cursor, COUNT, JUSTID, deleted IDs.
const XAUTOCLAIM: &str = r#"XAUTOCLAIM s g c 0
XAUTOCLAIM missing g c x 0
XAUTOCLAIM missing g c 0 bad
XAUTOCLAIM missing g c 0 (18446744073709551615-18446744073709551615
XAUTOCLAIM missing g c 0 0 COUNT 0
XAUTOCLAIM missing g c 0 0 COUNT -1
XAUTOCLAIM missing g c 0 0 COUNT x
XAUTOCLAIM missing g c 0 0 COUNT 576460752303423488
XAUTOCLAIM missing g c 0 0 COUNT 576460752303423487
XAUTOCLAIM missing g c 0 0 COUNT
XAUTOCLAIM missing g c 0 0 FOO
XAUTOCLAIM missing g c 0 0 JUSTID
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XADD s 4-0 d 4
XADD s 5-0 e 5
XAUTOCLAIM s nog c 0 0 JUSTID
XGROUP CREATE s g 0
XAUTOCLAIM s g c 0 0
XREADGROUP GROUP g alice STREAMS s >
XAUTOCLAIM s g bob 0 - COUNT 1
XAUTOCLAIM s g bob 0 (1-0 COUNT 1 JUSTID
XAUTOCLAIM s g bob 99999999 0
XCLAIM s g alice 0 4-0 IDLE 3600000 JUSTID
XAUTOCLAIM s g carol 1800000 0
XDEL s 3-0 5-0
XAUTOCLAIM s g bob 0 + COUNT 2
XAUTOCLAIM s g bob 0 (2-0 COUNT 2
XPENDING s g
XAUTOCLAIM s g dave -10 0 COUNT 1 COUNT 10 justid
XAUTOCLAIM s g dave 0 2
XAUTOCLAIM s g dave 0 0-1 COUNT 1
XPENDING s g - + 10
XINFO CONSUMERS s g
XREADGROUP GROUP g erin STREAMS s 0
"#;

// XINFO GROUPS, CONSUMERS, HELP and STREAM (plain and FULL) with groups: entries-read and lag
// before and after XDEL, reads and NOACK.
const XINFO_GROUPS: &str = r#"XINFO HELP
XINFO help x
XINFO GROUPS
XINFO GROUPS a b
XINFO CONSUMERS s
XINFO GROUPS missing
XINFO CONSUMERS missing g
XADD s 1-0 a 1
XADD s 2-0 b 2
XADD s 3-0 c 3
XINFO GROUPS s
XINFO CONSUMERS s nog
XGROUP CREATE s at0 0
XGROUP CREATE s atend $
XGROUP CREATE s at2 2
XGROUP CREATE s known 0 ENTRIESREAD 0
XINFO GROUPS s
XINFO STREAM s
XDEL s 2-0
XINFO GROUPS s
XREADGROUP GROUP at0 c STREAMS s >
XREADGROUP GROUP known c COUNT 1 STREAMS s >
XINFO GROUPS s
XADD s 4-0 d 4
XINFO GROUPS s
XREADGROUP GROUP at2 c NOACK STREAMS s >
XINFO GROUPS s
XREADGROUP GROUP at0 zed STREAMS s >
XINFO CONSUMERS s at0
XINFO CONSUMERS s at2
XINFO CONSUMERS s atend
XINFO STREAM s FULL
XINFO STREAM s FULL COUNT 1
XTRIM s MAXLEN 0
XINFO GROUPS s
XINFO STREAM s FULL
XINFO STREAM s
XADD t 1-0 a 1
XGROUP CREATE t ahead 0 ENTRIESREAD 100
XINFO GROUPS t
XADD t 2-0 b 2
XINFO GROUPS t
"#;
