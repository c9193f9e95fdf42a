#!/usr/bin/env bash
# Sluice's Redis-protocol (RESP) front end against Redis, driven by the same client:
# redis-benchmark. Run from anywhere: `bash benches/resp.sh`.
#
# Each round starts a fresh `sluice serve --fsync always` and a fresh `redis-server
# --appendonly yes --appendfsync always --save ""`, each with its data in a new temporary
# directory, and runs three workloads against both, back to back per workload (Sluice first in
# odd rounds, Redis first in even ones), all with CLIENTS connections and 100-byte values:
#   xadd     XADD s * f <100 bytes>, no pipelining                 (N_XADD requests)
#   xadd-p16 the same with -P 16                                   (N_XADD_P16 requests)
#   xrange   XRANGE r - + COUNT 100 of a stream r prefilled with PREFILL entries
#            of 100-byte values (through redis-cli --pipe)         (N_XRANGE requests)
# For each run it reads the server's CPU time (utime + stime of all its threads, from
# /proc/PID/stat, in clock ticks of `getconf CLK_TCK`) before and after, and reports it per
# request (per entry returned for xrange, whose entries/s is requests/s x 100) beside the
# throughput. Redis's append-only-file rewrites run in forked children whose CPU is not in
# utime + stime; it is shown apart ("child s": cutime + cstime of children reaped during the
# run). After every round it checks both servers' stream lengths and that their XRANGE replies
# agree once the IDs are removed; it prints the round's table, and after the last round a
# summary: per workload the range over rounds of the Sluice/Redis throughput ratio and of both
# servers' CPU us per operation.
#
# The machine is shared: redis-benchmark runs on the same CPUs as the server it measures.
#
# A run that gives no result, or whose server dies, is marked in its round's table (FAILED,
# DIED, DOWN) and left out of the summary; a dead server's log and the round's redis-benchmark
# outputs are kept in $DATA_PARENT/sluice-resp-bench-failure.*, and the script exits 1.
#
# Settings (environment):
#   ROUNDS (3), CLIENTS (50), N_XADD (200000), N_XADD_P16 (1500000), N_XRANGE (60000),
#   PREFILL (10000)
#   SLUICE        the sluice binary (default: target/release/sluice, built first with
#                 `cargo build --release --bin sluice`; set SLUICE to skip the build)
#   REDIS_SERVER  (redis-server), REDIS_BENCHMARK (redis-benchmark), REDIS_CLI (redis-cli)
#   DATA_PARENT   where the temporary data directories go (${TMPDIR:-/tmp}); put it on the
#                 disk you want to measure (fsync on tmpfs is free)
#   PERF_OUT      if set, `perf record -F 2000 -g` Sluice for 4 s into this file during the
#                 first round's unpipelined XADD (that row is then disturbed by the profiler)
#   KEEP_LOGS     if set to a directory, copy each round's server logs and redis-benchmark
#                 outputs there

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
N_XADD=${N_XADD:-200000}
N_XADD_P16=${N_XADD_P16:-1500000}
N_XRANGE=${N_XRANGE:-60000}
PREFILL=${PREFILL:-10000}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-redis-benchmark}
REDIS_CLI=${REDIS_CLI:-redis-cli}
DATA_PARENT=${DATA_PARENT:-${TMPDIR:-/tmp}}
PERF_OUT=${PERF_OUT:-}
KEEP_LOGS=${KEEP_LOGS:-}
RANGE_COUNT=100
START_TIMEOUT_S=30

for name in ROUNDS CLIENTS N_XADD N_XADD_P16 N_XRANGE PREFILL; do
    value=${!name}
    if ! [[ $value =~ ^[1-9][0-9]*$ ]]; then
        echo "resp.sh: $name must be a whole number of at least 1, got '$value'" >&2
        exit 2
    fi
done
if ((PREFILL < RANGE_COUNT)); then
    echo "resp.sh: PREFILL must be at least $RANGE_COUNT" >&2
    exit 2
fi
for tool in "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI"; do
    command -v "$tool" >/dev/null || {
        echo "resp.sh: $tool not found (apt-get install redis-server redis-tools)" >&2
        exit 2
    }
done
if [[ -z ${SLUICE:-} ]]; then
    SLUICE=$repo/target/release/sluice
    echo "building: cargo build --release --bin sluice" >&2
    (cd "$repo" && cargo build --release --bin sluice) >&2
fi
[[ -x $SLUICE ]] || {
    echo "resp.sh: $SLUICE is not an executable" >&2
    exit 2
}
SLUICE=$(cd "$(dirname "$SLUICE")" && pwd)/$(basename "$SLUICE")

TICKS=$(getconf CLK_TCK)
# Everything this script creates lives under $work; servers run with it as their directory,
# so nothing (dump.rdb, appendonlydir) lands in the repository.
work=$(mktemp -d "$DATA_PARENT/sluice-resp-bench.XXXXXX")
cd "$work"
pids=()

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# /proc/PID/stat -> "utime+stime cutime+cstime" in ticks. The command name (field 2) may hold
# spaces, so the fields are counted after its closing parenthesis: state is the 1st there,
# utime the 12th, stime the 13th, cutime the 14th, cstime the 15th.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat") || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo "$((${12} + ${13})) $((${14} + ${15}))"
}

# Whether a process is running: a child that exited stays a zombie (state Z) until waited
# for, and kill -0 would still succeed on it.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# Keeps what a server that died left (its log, the round's redis-benchmark outputs) where the
# cleanup does not remove it, and says what became of it.
report_death() {
    local server=$1 pid=$2 log=$3 status=0 kept
    [[ -z ${dead[$pid]:-} ]] || return 0
    wait "$pid" 2>/dev/null || status=$?
    kept=$(mktemp -d "$DATA_PARENT/sluice-resp-bench-failure.XXXXXX")
    cp "$log" "$kept/$server.log" 2>/dev/null || true
    cp "$round_dir"/* "$kept/" 2>/dev/null || true
    if ((status > 128)); then
        echo "resp.sh: $server (pid $pid) died: signal $((status - 128)) ($(kill -l $((status - 128)) 2>/dev/null))" >&2
    else
        echo "resp.sh: $server (pid $pid) exited with status $status" >&2
    fi
    echo "resp.sh: the last lines of its log (all kept in $kept):" >&2
    tail -n 20 "$log" >&2 || true
    dead[$pid]=1
}

# Starts sluice serve; sets sluice_pid, sluice_port (RESP), sluice_dir.
start_sluice() {
    sluice_dir=$(mktemp -d "$work/sluice.XXXXXX")
    # Created here: the background job below opens it only once it has forked.
    : >"$sluice_dir/log"
    "$SLUICE" serve --listen 127.0.0.1:0 --resp-listen 127.0.0.1:0 --fsync always \
        --data-dir "$sluice_dir/data" </dev/null >/dev/null 2>"$sluice_dir/log" &
    sluice_pid=$!
    pids+=("$sluice_pid")
    local deadline=$((SECONDS + START_TIMEOUT_S)) line
    while :; do
        line=$(grep -m1 ' listening address=' "$sluice_dir/log" || true)
        if [[ -n $line ]]; then
            sluice_port=$(sed -n 's/.* resp=[0-9.]*:\([0-9][0-9]*\).*/\1/p' <<<"$line")
            [[ -n $sluice_port ]] && return 0
            echo "resp.sh: sluice listens without a resp= address: $line" >&2
            return 1
        fi
        if ! alive "$sluice_pid" || ((SECONDS >= deadline)); then
            echo "resp.sh: sluice did not start:" >&2
            cat "$sluice_dir/log" >&2
            return 1
        fi
        sleep 0.05
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 30000))
}

# Starts redis-server; sets redis_pid, redis_port, redis_dir. Retries if the port was taken
# between finding it free and Redis binding it.
start_redis() {
    redis_dir=$(mktemp -d "$work/redis.XXXXXX")
    local attempt deadline
    for attempt in 1 2 3 4 5; do
        redis_port=$(free_port)
        (cd "$redis_dir" && exec "$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 \
            --dir "$redis_dir" --logfile "$redis_dir/log" --daemonize no \
            --appendonly yes --appendfsync always --save "" </dev/null >/dev/null 2>&1) &
        redis_pid=$!
        pids+=("$redis_pid")
        deadline=$((SECONDS + START_TIMEOUT_S))
        while alive "$redis_pid" && ((SECONDS < deadline)); do
            if [[ $("$REDIS_CLI" -p "$redis_port" PING 2>/dev/null) == PONG ]]; then
                return 0
            fi
            sleep 0.05
        done
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        echo "resp.sh: redis-server on port $redis_port did not start (attempt $attempt)" >&2
    done
    cat "$redis_dir/log" >&2 || true
    return 1
}

stop_server() {
    local pid=$1 kept=() p
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${pids[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    pids=("${kept[@]}")
}

value=$(printf 'v%.0s' $(seq 100))

# Writes PREFILL entries into stream r, exactly, in one pipe.
prefill() {
    local port=$1
    awk -v n="$PREFILL" -v value="$value" 'BEGIN {
        command = sprintf("*5\r\n$4\r\nXADD\r\n$1\r\nr\r\n$1\r\n*\r\n$1\r\nf\r\n$%d\r\n%s\r\n", length(value), value)
        for (i = 0; i < n; i++) printf "%s", command
    }' | "$REDIS_CLI" -p "$port" --pipe >"$round_dir/prefill-$port.out" 2>&1 || {
        echo "resp.sh: prefill on port $port failed:" >&2
        cat "$round_dir/prefill-$port.out" >&2
        return 1
    }
}

# run_one SERVER PORT PID LOG WORKLOAD: one redis-benchmark run; appends a line to $results:
# round workload server requests rps entries_per_s cpu_s child_s wall_s us_per_unit errors
# status (ok; failed: no result; died: the server died during the run; down: not run, the
# server had died before)
run_one() {
    local server=$1 port=$2 pid=$3 log=$4 workload=$5 requests per args=() perf_pid= status=ok
    case $workload in
    xadd) requests=$N_XADD per=1 args=(XADD s '*' f "$value") ;;
    xadd-p16) requests=$N_XADD_P16 per=1 args=(-P 16 XADD s '*' f "$value") ;;
    xrange) requests=$N_XRANGE per=$RANGE_COUNT args=(XRANGE r - + COUNT "$RANGE_COUNT") ;;
    esac
    local out="$round_dir/$workload-$server.csv"
    if ! alive "$pid"; then
        if [[ -z ${dead[$pid]:-} ]]; then
            echo "resp.sh: $server died before $workload in round $round" >&2
            report_death "$server" "$pid" "$log"
        fi
        echo "$round $workload $server $requests 0 0 0 0 0 0 0 down" >>"$results"
        failures=$((failures + 1))
        return 0
    fi
    if [[ -n $PERF_OUT && $server == sluice && $workload == xadd && $round == 1 ]]; then
        (sleep 1 && exec perf record -F 2000 -g -p "$pid" -o "$PERF_OUT" -- sleep 4) \
            >"$round_dir/perf.log" 2>&1 &
        perf_pid=$!
    fi
    local before after start end
    before=$(cpu_ticks "$pid")
    start=$(date +%s.%N)
    "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$requests" --csv "${args[@]}" \
        >"$out" 2>&1 || echo "redis-benchmark exited with status $?" >>"$out"
    end=$(date +%s.%N)
    after=$(cpu_ticks "$pid") || after=
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid" || echo "resp.sh: perf record failed, see $round_dir/perf.log" >&2
    fi
    if [[ -z $after ]] || ! alive "$pid"; then
        echo "resp.sh: $server died during $workload in round $round" >&2
        report_death "$server" "$pid" "$log"
        after="$before" status=died
    fi
    # The result line: "<test>","<rps>",...; error lines: anything else that mentions error.
    local rps errors
    rps=$(awk -F'"' 'NR > 1 && NF >= 4 && $4 ~ /^[0-9.]+$/ { print $4; exit }' "$out")
    errors=$(grep -ci 'error' "$out" || true)
    if [[ -z $rps ]]; then
        rps=0
        [[ $status == died ]] || status=failed
    fi
    [[ $status == ok ]] || failures=$((failures + 1))
    awk -v round="$round" -v workload="$workload" -v server="$server" -v requests="$requests" \
        -v rps="$rps" -v per="$per" -v before="$before" -v after="$after" -v ticks="$TICKS" \
        -v start="$start" -v end="$end" -v errors="$errors" -v status="$status" 'BEGIN {
            split(before, b, " "); split(after, a, " ")
            cpu = (a[1] - b[1]) / ticks; child = (a[2] - b[2]) / ticks
            printf "%s %s %s %d %.0f %.0f %.2f %.2f %.2f %.3f %d %s\n", round, workload, server,
                requests, rps, rps * per, cpu, child, end - start, cpu * 1e6 / (requests * per),
                errors, status
        }' >>"$results"
}

# Stream lengths and an ID-free XRANGE of each server, for the round's sanity line.
check_replies() {
    if ! alive "$sluice_pid" || ! alive "$redis_pid"; then
        echo "check: skipped, a server is down"
        return 0
    fi
    local sluice_len redis_len sluice_range redis_range
    sluice_len="s=$("$REDIS_CLI" -p "$sluice_port" XLEN s) r=$("$REDIS_CLI" -p "$sluice_port" XLEN r)"
    redis_len="s=$("$REDIS_CLI" -p "$redis_port" XLEN s) r=$("$REDIS_CLI" -p "$redis_port" XLEN r)"
    sluice_range=$("$REDIS_CLI" -p "$sluice_port" XRANGE r - + COUNT "$RANGE_COUNT" | grep -cv '^[0-9]*-[0-9]*$' || true)
    redis_range=$("$REDIS_CLI" -p "$redis_port" XRANGE r - + COUNT "$RANGE_COUNT" | grep -cv '^[0-9]*-[0-9]*$' || true)
    local same=differ
    if cmp -s <("$REDIS_CLI" -p "$sluice_port" XRANGE r - + COUNT "$RANGE_COUNT" | grep -v '^[0-9]*-[0-9]*$') \
        <("$REDIS_CLI" -p "$redis_port" XRANGE r - + COUNT "$RANGE_COUNT" | grep -v '^[0-9]*-[0-9]*$'); then
        same=agree
    fi
    echo "check: XLEN sluice $sluice_len, redis $redis_len (s: both XADD runs, of which -P 16 may send" \
        "up to a pipeline more per client than -n; r: $PREFILL prefilled);" \
        "XRANGE r replies without IDs $same ($sluice_range and $redis_range lines)"
}

print_round() {
    awk -v round="$1" '
        BEGIN {
            printf "%-9s %-7s %9s %10s %11s %7s %7s %7s %5s %10s %6s\n", "workload", "server",
                "requests", "req/s", "entries/s", "cpu s", "child s", "wall s", "cpu%",
                "cpu us/op", "errors"
        }
        $1 == round {
            note = ($2 == "xrange") ? " /entry" : ""
            if ($12 != "ok") note = note " " toupper($12)
            printf "%-9s %-7s %9d %10.0f %11.0f %7.2f %7.2f %7.2f %5.0f %10.3f %6d%s\n", $2, $3, $4,
                $5, $6, $7, $8, $9, ($9 > 0 ? 100 * $7 / $9 : 0), $10, $11, note
        }' "$results"
}

print_summary() {
    awk '
        function lo(x, y) { return (x == "" || y < x) ? y : x }
        function hi(x, y) { return (x == "" || y > x) ? y : x }
        $12 == "ok" { rps[$1, $2, $3] = $6; us[$1, $2, $3] = $10 }
        { rounds[$1] = 1; seen[$2] = 1 }
        END {
            split("xadd xadd-p16 xrange", order, " ")
            printf "%-9s %6s %-22s %-20s %-20s\n", "workload", "rounds", "sluice/redis thr.",
                "sluice cpu us/op", "redis cpu us/op"
            for (w = 1; w <= 3; w++) {
                name = order[w]
                if (!(name in seen)) continue
                rlo = rhi = slo = shi = dlo = dhi = ""; n = 0
                for (r in rounds) {
                    if (!((r, name, "sluice") in rps) || !((r, name, "redis") in rps)) continue
                    if (rps[r, name, "redis"] <= 0) continue
                    ratio = rps[r, name, "sluice"] / rps[r, name, "redis"]; n++
                    rlo = lo(rlo, ratio); rhi = hi(rhi, ratio)
                    slo = lo(slo, us[r, name, "sluice"]); shi = hi(shi, us[r, name, "sluice"])
                    dlo = lo(dlo, us[r, name, "redis"]); dhi = hi(dhi, us[r, name, "redis"])
                }
                if (n == 0) { printf "%-9s %6d (not measured on both in any round)\n", name, 0; continue }
                unit = (name == "xrange") ? " (us/entry)" : ""
                printf "%-9s %6d %-22s %-20s %-20s%s\n", name, n,
                    sprintf("%.2f-%.2fx", rlo, rhi), sprintf("%.3f-%.3f", slo, shi),
                    sprintf("%.3f-%.3f", dlo, dhi), unit
            }
        }' "$results"
}

results=$work/results
: >"$results"
failures=0
declare -A dead=()
echo "Sluice RESP vs Redis, both driven by $("$REDIS_BENCHMARK" --version 2>/dev/null | head -1)"
echo "sluice: $SLUICE serve --fsync always (built $(date -r "$SLUICE" +%FT%T), tree $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown))"
echo "redis:  $("$REDIS_SERVER" --version | head -1)"
echo "        --appendonly yes --appendfsync always --save \"\""
echo "data:   $DATA_PARENT ($(df -PT "$DATA_PARENT" | awk 'NR == 2 { print $2 " on " $1 }'))"
echo "load:   $CLIENTS clients, 100-byte values; xadd -n $N_XADD; xadd-p16 -P 16 -n $N_XADD_P16;" \
    "xrange COUNT $RANGE_COUNT of $PREFILL entries -n $N_XRANGE (entries/s = req/s x $RANGE_COUNT)"
echo "cpu:    $(nproc) logical CPUs shared by the servers and redis-benchmark; CLK_TCK $TICKS;" \
    "cpu s = server utime+stime during the run; child s = its reaped children's (Redis AOF rewrites)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

for ((round = 1; round <= ROUNDS; round++)); do
    round_dir=$(mktemp -d "$work/round$round.XXXXXX")
    start_sluice
    start_redis
    if ((round % 2)); then order=(sluice redis); else order=(redis sluice); fi
    echo
    echo "round $round of $ROUNDS (${order[0]} first in each workload): sluice pid $sluice_pid" \
        "resp port $sluice_port, redis pid $redis_pid port $redis_port"
    prefill "$sluice_port"
    prefill "$redis_port"
    for workload in xadd xadd-p16 xrange; do
        for server in "${order[@]}"; do
            if [[ $server == sluice ]]; then
                run_one sluice "$sluice_port" "$sluice_pid" "$sluice_dir/log" "$workload"
            else
                run_one redis "$redis_port" "$redis_pid" "$redis_dir/log" "$workload"
            fi
            sleep 1
        done
    done
    print_round "$round"
    check_replies
    for server in sluice redis; do
        for workload in xadd xadd-p16 xrange; do
            f="$round_dir/$workload-$server.csv"
            if [[ -f $f ]] && grep -qi 'error' "$f"; then
                echo "errors in $workload against $server (first 3 lines):"
                grep -i 'error' "$f" | head -3
            fi
        done
    done
    if grep -E ' (WARN|ERROR) ' "$sluice_dir/log" >/dev/null; then
        echo "sluice logged warnings or errors (first 5):"
        grep -E ' (WARN|ERROR) ' "$sluice_dir/log" | head -5
    fi
    alive "$sluice_pid" || echo "sluice is not running at the end of round $round"
    alive "$redis_pid" || echo "redis-server is not running at the end of round $round"
    if [[ -n $KEEP_LOGS ]]; then
        mkdir -p "$KEEP_LOGS/round$round"
        cp "$round_dir"/* "$KEEP_LOGS/round$round/" 2>/dev/null || true
        cp "$sluice_dir/log" "$KEEP_LOGS/round$round/sluice.log"
        cp "$redis_dir/log" "$KEEP_LOGS/round$round/redis.log"
    fi
    stop_server "$sluice_pid"
    stop_server "$redis_pid"
    rm -rf "$sluice_dir" "$redis_dir"
done

echo
echo "summary over $ROUNDS rounds (ranges are min-max; throughput ratio in requests/s," \
    "which for xrange is the entries/s ratio too)"
print_summary
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n $PERF_OUT ]]; then
    echo "perf: $PERF_OUT (perf report --no-children --stdio -i $PERF_OUT)"
fi
if ((failures > 0)); then
    echo "FAILED: $failures run(s) gave no result or lost their server (marked in the tables;" \
        "left out of the summary)"
    exit 1
fi
