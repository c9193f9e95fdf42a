#!/usr/bin/env bash
# Runs Redis 7.0.15's own stream test suites (tests/unit/type/stream.tcl and
# stream-cgroups.tcl) against Sluice's Redis-protocol front end, in Redis's external mode.
#
#   scripts/redis-test-suite.sh /path/to/redis-7.0.15 [extra runtest flags]
#
# The Redis source tree is not part of this repository (it is Redis's test code, and CI has
# no network to fetch it): get it with `git clone --branch 7.0.15 --depth 1
# https://github.com/redis/redis`. It needs tclsh (Debian: tcl). The script builds Sluice,
# starts it on free ports in a fresh data directory, runs the two units with the tags
# -needs:debug -needs:repl, and skips (with --skiptest) the tests listed below, each for the
# reason given; see the README's "Redis's own test suites" for the counts.
set -euo pipefail

redis_source=${1:?usage: $0 /path/to/redis-7.0.15 [runtest flags]}
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v tclsh >/dev/null || { echo "tclsh is required (apt-get install tcl)" >&2; exit 2; }
[ -x "$redis_source/runtest" ] || { echo "$redis_source/runtest not found" >&2; exit 2; }

# Tests that need what Sluice does not have: other data types (Sluice stores streams only),
# more than one database, or Redis's persistence formats.
skipped=(
  # LPUSH: lists.
  "XREAD: XADD + DEL + LPUSH should not awake client"
  # SET / SADD: strings and sets.
  "Blocking XREADGROUP: key type changed with SET"
  "Blocking XREADGROUP: key type changed with transaction"
  "Blocking XREAD: key type changed with SET"
  # SWAPDB and SELECT 4/9: one database only.
  "Blocking XREADGROUP: swapped DB, key doesn't exist"
  "Blocking XREADGROUP: swapped DB, key is not a stream"
  # RESTORE of an RDB payload.
  "Loading from legacy (Redis <= v6.2.x, rdb_ver < 10) persistence"
)

cargo build --release --manifest-path "$repo/Cargo.toml" --quiet
data=$(mktemp -d)
log=$(mktemp)
"$repo/target/release/sluice" serve --data-dir "$data" --listen 127.0.0.1:0 \
  --resp-listen 127.0.0.1:0 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$log"' EXIT
port=
for _ in $(seq 1 200); do
  port=$(sed -n 's/.* resp=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { cat "$log" >&2; echo "sluice did not start" >&2; exit 1; }
echo "sluice serves RESP on port $port"

flags=()
for name in "${skipped[@]}"; do
  flags+=(--skiptest "$name")
done
cd "$redis_source"
./runtest --host 127.0.0.1 --port "$port" --singledb \
  --single unit/type/stream --single unit/type/stream-cgroups \
  --tags -needs:debug --tags -needs:repl "${flags[@]}" "$@"
