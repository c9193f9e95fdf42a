//! Sluice's own group commands, which no Redis has: a fixed script and the transcript
//! `redis-cli --no-raw` would print for it, checked on the engine executor (`cli_render`) and
//! through the real client and server (`cli_client`). Dead letters get `*` IDs, whose clock
//! readings are masked (`masks::mask_clock_ids`).

/// Sluice's group extensions: policy options, XRENEW, XNACK (with DELAY and REJECT), dead
/// letters once MAXDELIVERIES is reached, XREADGROUP's CLAIM, XGROUP SETPOLICY.
pub const EXTENSIONS_SCRIPT: &str = r#"XADD jobs 1-0 n 1
XADD jobs 2-0 n 2
XADD jobs 3-0 n 3
XGROUP CREATE jobs g 0 MAXDELIVERIES 2 DEADLETTER dead LEASE 3600000
XGROUP CREATE jobs g2 0 DEADLETTER jobs
XGROUP CREATE jobs g3 0 LEASE x
XREADGROUP GROUP g a STREAMS jobs >
XRENEW jobs g a 1-0 2-0
XRENEW jobs g b 1-0
XRENEW jobs nog a 1-0
XNACK jobs g a IDS 2 1-0 1-0
XREADGROUP GROUP g b COUNT 1 STREAMS jobs >
XNACK jobs g b IDS 1 1-0
XREADGROUP GROUP g c COUNT 1 STREAMS jobs >
XNACK jobs g a REJECT IDS 1 2-0
XLEN dead
XREVRANGE dead + - COUNT 1
XNACK jobs g a IDS 1 9-0
XNACK jobs nog a IDS 1 3-0
XNACK jobs g a DELAY 3600000 IDS 1 3-0
XREADGROUP GROUP g c STREAMS jobs >
XPENDING jobs g
XADD jobs 4-0 n 4
XREADGROUP GROUP g d CLAIM 3600000 STREAMS jobs >
XREADGROUP GROUP g d CLAIM -1 STREAMS jobs >
XGROUP SETPOLICY jobs g LEASE 5
XGROUP SETPOLICY jobs nog
XGROUP SETPOLICY missing g
XGROUP SETPOLICY jobs g DEADLETTER jobs
XGROUP SETPOLICY jobs g MAXDELIVERIES
"#;

/// What Sluice prints for [`EXTENSIONS_SCRIPT`].
pub const EXTENSIONS_TRANSCRIPT: &str = r#""1-0"
"2-0"
"3-0"
OK
(error) ERR invalid group policy: the dead-letter stream must not be the group's own stream
(error) ERR value is not an integer or out of range
1) 1) "jobs"
   2) 1) 1) "1-0"
         2) 1) "n"
            2) "1"
      2) 1) "2-0"
         2) 1) "n"
            2) "2"
      3) 1) "3-0"
         2) 1) "n"
            2) "3"
(integer) 2
(error) ERR no pending entry 1-0 for this consumer
(error) NOGROUP No such key 'jobs' or consumer group 'nog'
(integer) 1
1) 1) "jobs"
   2) 1) 1) "1-0"
         2) 1) "n"
            2) "1"
(integer) 1
1) 1) "jobs"
   2) (empty array)
(integer) 1
(integer) 2
1) 1) "<time>-<seq>"
   2)  1) "n"
       2) "2"
       3) "origin-stream"
       4) "jobs"
       5) "origin-id"
       6) "2-0"
       7) "origin-group"
       8) "g"
       9) "last-consumer"
      10) "a"
      11) "delivery-count"
      12) "1"
(error) ERR no pending entry 9-0 for this consumer
(error) NOGROUP No such key 'jobs' or consumer group 'nog'
(integer) 1
(nil)
1) (integer) 1
2) "3-0"
3) "3-0"
4) 1) 1) "a"
      2) "1"
"4-0"
1) 1) "jobs"
   2) 1) 1) "4-0"
         2) 1) "n"
            2) "4"
         3) (integer) 0
         4) (integer) 0
(error) ERR min-idle-time must be a positive integer
OK
(error) NOGROUP No such consumer group 'nog' for key name 'jobs'
(error) ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.
(error) ERR invalid group policy: the dead-letter stream must not be the group's own stream
(error) ERR unknown subcommand or wrong number of arguments for 'SETPOLICY'. Try XGROUP HELP.
"#;
