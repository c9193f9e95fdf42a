#!/usr/bin/env bash
# What a durable write's sync costs in CPU, the rest of the server held the same: the load
# benchmark's unary Add and no-op calls (`add`, `ping`, `health` by default), for Sluice and
# Redis, with each server's data in one of three places, alternated round by round:
#   shm    tmpfs (/dev/shm): fdatasync returns at once, nothing waits on a disk
#   sleep  tmpfs, and every fsync/fdatasync followed by a 150 µs sleep (SLEEP_US), through an
#          LD_PRELOAD shim built here: the server's thread blocks as a disk's sync blocks it,
#          without the disk's requests, interrupts and completions
#   disk   the disk ($DISK_DIR, default /tmp)
# Then, unless SKIP_SYNC_LOOP is set, a loop outside any server: 2,000 pwrites of 3,600 bytes
# (a round of about 28 Adds), each followed by fdatasync, into a file prepared four ways
# (appended, sparse, fallocated, written with zeros first), with its CPU time (user + system)
# per sync and, through `perf stat -a` when perf is installed, block requests and inodes
# marked dirty per sync (machine-wide, and including the file's preparation: one sync of up
# to 7 MB, small beside 2,000).
#
# Each row: server CPU per call and the client's latency p99 (for `tail`, a call is the writer's
# Add and the latency is from the Add to a subscriber's receipt: with PLACES="shm disk" it
# shows how much of Tail's p99 is the disk's syncs).
#
# Usage: bash benches/sync_cost.sh [ROUNDS]   (default 3)
# Env: LOAD (the load benchmark: default `cargo bench --bench load`, or a built one as
# `target/release/deps/load-<hash> --bench`), SERVERS (default
# sluice,redis), WORKLOADS (default add,ping,health), PLACES (default "shm sleep disk"),
# SECONDS_EACH (default 5), SLEEP_US, DISK_DIR, SKIP_SYNC_LOOP.
# Needs cc (for the shim), python3 and, for Redis's rows, redis-server.
set -euo pipefail

rounds=${1:-3}
disk_dir=${DISK_DIR:-/tmp}
if [ "$(stat -f -c %T "$disk_dir")" = tmpfs ]; then
    echo "DISK_DIR=$disk_dir is on tmpfs: set DISK_DIR to a directory on the disk" >&2
    exit 2
fi
load=${LOAD:-cargo bench --bench load}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/slowsync.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
/* fsync and fdatasync, each followed by a sleep of SLOWSYNC_US microseconds. */
static void nap(void) {
    const char *s = getenv("SLOWSYNC_US");
    long us = s ? atol(s) : 150;
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    if (us > 0) nanosleep(&t, 0);
}
/* Calls the C library's `name` (looked up once into `*real`), then naps. */
static int call_then_nap(int (**real)(int), const char *name, int fd) {
    if (!*real) *real = (int (*)(int))dlsym(RTLD_NEXT, name);
    int r = (*real)(fd);
    nap();
    return r;
}
int fdatasync(int fd) {
    static int (*real)(int);
    return call_then_nap(&real, "fdatasync", fd);
}
int fsync(int fd) {
    static int (*real)(int);
    return call_then_nap(&real, "fsync", fd);
}
EOF
cc -O2 -shared -fPIC -o "$work/slowsync.so" "$work/slowsync.c" -ldl

echo "round place workload server calls/s srv_us_per_call client_us_per_call p99_ms"
for round in $(seq 1 "$rounds"); do
    for place in ${PLACES:-shm sleep disk}; do
        case $place in
            shm) env=(TMPDIR=/dev/shm) ;;
            sleep) env=(TMPDIR=/dev/shm LD_PRELOAD="$work/slowsync.so" SLOWSYNC_US="${SLEEP_US:-150}") ;;
            disk) env=(TMPDIR="$disk_dir") ;;
            *) echo "unknown place '$place' (shm, sleep or disk)" >&2 && exit 2 ;;
        esac
        # The table's columns: workload server clients ops/s entries/s x-redis p50 p99 p99.9
        # errors srv-µs/call srv-µs/entry server-cpu% client-cpu% other-cpu%.
        env "${env[@]}" SLUICE_LOAD_SERVERS="${SERVERS:-sluice,redis}" \
            SLUICE_LOAD_WORKLOADS="${WORKLOADS:-add,ping,health}" \
            SLUICE_LOAD_SECONDS="${SECONDS_EACH:-5}" $load 2>"$work/load.err" |
            awk -v r="$round" -v p="$place" '$2 ~ /^(sluice|redis)$/ && $3 ~ /^[0-9+]+$/ && $4 ~ /^[0-9]+$/ {
                printf "%s %s %s %s %s %s %.1f %s\n", r, p, $1, $2, $4, $11, $14 * 1e4 / $4, $8 }' ||
            { echo "the load benchmark failed:" >&2; tail -20 "$work/load.err" >&2; exit 1; }
    done
done

[ -n "${SKIP_SYNC_LOOP:-}" ] && exit 0
cat >"$work/sync_loop.py" <<'EOF'
import os, resource, sys
mode, directory = sys.argv[1], sys.argv[2]
n, rec = 2000, b"x" * 3600
path = os.path.join(directory, "f")
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
size = n * len(rec) + 4096
if mode == "zeroed":
    os.write(fd, b"\0" * size); os.fsync(fd)
elif mode == "sparse":
    os.ftruncate(fd, size); os.fsync(fd)
elif mode == "fallocated":
    os.posix_fallocate(fd, 0, size); os.fsync(fd)
before = resource.getrusage(resource.RUSAGE_SELF)
for i in range(n):
    os.pwrite(fd, rec, i * len(rec))
    os.fdatasync(fd)
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print(f"{mode:10s} cpu {cpu / n * 1e6:5.1f} us per pwrite+fdatasync", end="")
os.close(fd); os.unlink(path)
EOF
dir=$(mktemp -d -p "$disk_dir")
for round in $(seq 1 "$rounds"); do
    for mode in appended sparse fallocated zeroed; do
        if command -v perf >/dev/null; then
            perf stat -a -x, -o "$work/perf.txt" \
                -e block:block_rq_issue,ext4:ext4_mark_inode_dirty \
                python3 "$work/sync_loop.py" "$mode" "$dir"
            awk -F, 'NF > 2 { printf "  %s %.2f/sync", $3, $1 / 2000 }' "$work/perf.txt"
        else
            python3 "$work/sync_loop.py" "$mode" "$dir"
        fi
        echo
    done
done
rmdir "$dir"
