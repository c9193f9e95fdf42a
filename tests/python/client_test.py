#!/usr/bin/env python3
"""Sluice's API from another language: a Python client on stubs generated from proto/.

It checks what a Python user relies on: Add (single entries with text and binary values, and a
batch), Range (forward and reverse, COUNT, exclusive bounds), Len, Delete, the error statuses
and Redis's texts, and Tail (the existing entries, then live ones). Values that are valid UTF-8
must come back in the text variant (`value`), others in the bytes variant (`value_bytes`).
Then a job pipeline on a consumer group: workers in a read-and-acknowledge loop share the jobs
(each delivered once), a worker that stops is taken over with AutoClaim, a rejected job lands
in the dead-letter stream, and a streaming consumer (Consume) receives and acknowledges on one
call.

tests/python_client.rs starts a server, generates the stubs and runs this script. By hand,
from the repository root, against a fresh server (the checks expect streams named `py:*` to
be absent):

    python3 -m grpc_tools.protoc -I proto --python_out=/tmp/stubs \\
        --grpc_python_out=/tmp/stubs proto/sluice/v1/sluice.proto
    python3 tests/python/client_test.py --stubs /tmp/stubs --address 127.0.0.1:50051

Exits 0 when every check passes; otherwise prints the first mismatch and exits 1.
"""

import argparse
import queue
import sys

# Only a guard against a hung server: every call here completes at once when things work.
CALL_TIMEOUT_S = 60

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
TOP_ITEM = "ERR The ID specified in XADD is equal or smaller than the target stream top item"

STREAM = "py:sensors"
BINARY_VALUE = b"\xff\xfe\x00\x01"  # not UTF-8
BINARY_NAME = b"\xc0raw"  # not UTF-8 either


class Mismatch(Exception):
    """A check failed; the message says which and how."""


def check(actual, expected, what):
    if actual != expected:
        raise Mismatch(f"{what}:\n  expected {expected!r}\n  actual   {actual!r}")


class Client:
    """The checks, over one channel. Fields are compared as (name, value) pairs in which a
    `str` means the text variant and `bytes` the bytes variant, so a value that comes back
    in the wrong variant is a mismatch even when its bytes are right."""

    def __init__(self, grpc, pb, stub, groups):
        self.grpc = grpc
        self.pb = pb
        self.stub = stub
        self.groups = groups

    # --- building requests -------------------------------------------------------------------

    def field(self, name, value):
        """A request field; `str` goes in the text variant, `bytes` in the bytes variant."""
        field = self.pb.Field()
        if isinstance(name, bytes):
            field.name_bytes = name
        else:
            field.name = name
        if isinstance(value, bytes):
            field.value_bytes = value
        else:
            field.value = value
        return field

    def fields(self, pairs):
        return [self.field(name, value) for name, value in pairs]

    def add(self, entry_id, pairs, stream=STREAM):
        return self.stub.Add(
            self.pb.AddRequest(stream=stream, id=entry_id, fields=self.fields(pairs)),
            timeout=CALL_TIMEOUT_S,
        )

    def range(self, start="", end="", count=None, reverse=False, stream=STREAM):
        request = self.pb.RangeRequest(stream=stream, start=start, end=end, reverse=reverse)
        if count is not None:
            request.count = count
        return self.stub.Range(request, timeout=CALL_TIMEOUT_S)

    def length(self, stream=STREAM):
        return self.stub.Len(self.pb.LenRequest(stream=stream), timeout=CALL_TIMEOUT_S).length

    # --- reading replies ---------------------------------------------------------------------

    @staticmethod
    def pair(field):
        """A reply field as (name, value), each `str` if sent as text, `bytes` if as bytes."""
        name_variant = field.WhichOneof("field_name")
        value_variant = field.WhichOneof("field_value")
        name = field.name_bytes if name_variant == "name_bytes" else field.name
        value = field.value_bytes if value_variant == "value_bytes" else field.value
        if name_variant is None or value_variant is None:
            raise Mismatch(f"a reply field has no name or no value: {field!r}")
        return (name, value)

    def entries(self, entries):
        """Reply entries as [(id, [(name, value), ...]), ...]."""
        return [(entry.id, [self.pair(field) for field in entry.fields]) for entry in entries]

    def expect_error(self, call, code, message, what):
        try:
            reply = call()
        except self.grpc.RpcError as error:
            check((error.code(), error.details()), (code, message), what)
            return
        raise Mismatch(f"{what}: expected {code.name} {message!r}, got a reply: {reply!r}")


# The stream's contents once the adds below have run, in ID order.
SINGLE_TEXT = ("1-1", [("temp", "21.5"), ("unit", "°C"), ("empty", "")])
SINGLE_BINARY = (
    "2-0",
    [("raw", BINARY_VALUE), (BINARY_NAME, "text value, binary name"), ("utf8", "héllo")],
)
BATCH = [
    ("3-0", [("temp", "22.0")]),
    ("3-1", [("temp", "22.5")]),  # added as "3-*"
    ("5-0", [("temp", "23.0"), ("note", "last of the batch")]),
]


def add_single_entries(client):
    reply = client.add(*SINGLE_TEXT)
    check((reply.id, list(reply.ids)), ("1-1", ["1-1"]), "Add 1-1: id and ids")
    # The UTF-8 value "héllo" goes in as bytes and must come back as text.
    pairs = [("raw", BINARY_VALUE), (BINARY_NAME, "text value, binary name"),
             ("utf8", "héllo".encode())]
    reply = client.add("2-0", pairs)
    check((reply.id, list(reply.ids)), ("2-0", ["2-0"]), "Add 2-0: id and ids")


def add_a_batch(client):
    request = client.pb.AddRequest(
        stream=STREAM,
        entries=[
            client.pb.NewEntry(id="3-0", fields=client.fields(BATCH[0][1])),
            client.pb.NewEntry(id="3-*", fields=client.fields(BATCH[1][1])),
            client.pb.NewEntry(id="5-0", fields=client.fields(BATCH[2][1])),
        ],
    )
    reply = client.stub.Add(request, timeout=CALL_TIMEOUT_S)
    check(
        (reply.id, list(reply.ids)),
        ("5-0", ["3-0", "3-1", "5-0"]),
        "Add batch: id (the last) and ids (all, in order)",
    )


def range_forward_and_reverse(client):
    everything = [SINGLE_TEXT, SINGLE_BINARY] + BATCH
    reply = client.range("-", "+")
    check(reply.exists, True, "Range - +: exists")
    check(client.entries(reply.entries), everything, "Range - +: every entry, exact fields")

    reply = client.range(count=2)
    check(client.entries(reply.entries), everything[:2], "Range COUNT 2")

    reply = client.range("(1-1", "(5-0")
    check(client.entries(reply.entries), everything[1:4], "Range (1-1 (5-0")

    reply = client.range("(1-1", "+", count=2)
    check(client.entries(reply.entries), everything[1:3], "Range (1-1 + COUNT 2")

    reply = client.range("3", "3")  # incomplete IDs: all of millisecond 3
    check(client.entries(reply.entries), BATCH[:2], "Range 3 3")

    reply = client.range(reverse=True, count=2)
    check(client.entries(reply.entries), [BATCH[2], BATCH[1]], "reverse Range COUNT 2")

    reply = client.range("(2-0", "(5-0", reverse=True)
    check(client.entries(reply.entries), [BATCH[1], BATCH[0]], "reverse Range (2-0 (5-0")

    reply = client.range("-", "(3-1", reverse=True, count=1)
    check(client.entries(reply.entries), [BATCH[0]], "reverse Range - (3-1 COUNT 1")

    reply = client.range(stream="py:missing")
    check((reply.exists, list(reply.entries)), (False, []), "Range of a missing stream")


def length_and_delete(client):
    check(client.length(), 5, "Len")
    check(client.length("py:missing"), 0, "Len of a missing stream")
    reply = client.stub.Delete(
        client.pb.DeleteRequest(stream=STREAM, ids=["2-0", "99-0"]), timeout=CALL_TIMEOUT_S
    )
    check(reply.deleted, 1, "Delete 2-0 99-0: only 2-0 existed")
    check(client.length(), 4, "Len after Delete")
    reply = client.range()
    check(
        [entry.id for entry in reply.entries],
        ["1-1", "3-0", "3-1", "5-0"],
        "Range after Delete",
    )


def errors(client):
    code = client.grpc.StatusCode
    client.expect_error(
        lambda: client.range("abc", "+"), code.INVALID_ARGUMENT, INVALID_ID, "Range from abc"
    )
    client.expect_error(
        lambda: client.add("1-x", [("f", "v")]), code.INVALID_ARGUMENT, INVALID_ID, "Add 1-x"
    )
    client.expect_error(
        lambda: client.stub.Delete(
            client.pb.DeleteRequest(stream=STREAM, ids=["5-0", "nope"]), timeout=CALL_TIMEOUT_S
        ),
        code.INVALID_ARGUMENT,
        INVALID_ID,
        "Delete 5-0 nope",
    )
    client.expect_error(
        lambda: client.add("4-0", [("f", "v")]), code.FAILED_PRECONDITION, TOP_ITEM, "Add 4-0"
    )
    client.expect_error(
        lambda: client.add("5-0", [("f", "v")]), code.FAILED_PRECONDITION, TOP_ITEM, "Add 5-0"
    )
    # Nothing was added or removed by the refused calls.
    check(client.length(), 4, "Len after the refused calls")


def tail_existing_then_live(client):
    existing = [SINGLE_TEXT] + BATCH  # 2-0 was deleted
    tail = client.stub.Tail(client.pb.TailRequest(stream=STREAM, id="0"), timeout=CALL_TIMEOUT_S)
    try:
        received = []
        while len(received) < len(existing):
            received += client.entries(next(tail).entries)
        check(received, existing, "Tail from 0: the existing entries")

        # Added after the subscription delivered everything it had: these arrive live.
        live = [
            ("6-0", [("temp", "24.0"), ("raw", BINARY_VALUE)]),
            ("7-0", [("temp", "24.5")]),
            ("7-1", [("temp", "25.0")]),
        ]
        reply = client.add(*live[0])
        check(reply.id, "6-0", "Add 6-0 while tailing")
        reply = client.stub.Add(
            client.pb.AddRequest(
                stream=STREAM,
                entries=[
                    client.pb.NewEntry(id=entry_id, fields=client.fields(pairs))
                    for entry_id, pairs in live[1:]
                ],
            ),
            timeout=CALL_TIMEOUT_S,
        )
        check(list(reply.ids), ["7-0", "7-1"], "Add batch 7-0 7-1 while tailing")
        received = []
        while len(received) < len(live):
            received += client.entries(next(tail).entries)
        check(received, live, "Tail: the live entries")
    finally:
        tail.cancel()


JOBS = "py:jobs"
GROUP = "workers"


def add_jobs(client, stream, count, first=1):
    """Adds jobs `first`..`first + count - 1` with IDs `<n>-0`; returns their IDs."""
    request = client.pb.AddRequest(
        stream=stream,
        entries=[
            client.pb.NewEntry(id=f"{n}-0", fields=client.fields([("job", f"job {n}")]))
            for n in range(first, first + count)
        ],
    )
    return list(client.stub.Add(request, timeout=CALL_TIMEOUT_S).ids)


def read_group(client, consumer, count, stream=JOBS):
    """One XREADGROUP `>` of up to `count`: [(id, fields), ...]."""
    reply = client.groups.Read(
        client.pb.ReadGroupRequest(
            group=GROUP,
            consumer=consumer,
            streams=[client.pb.GroupStreamOffset(stream=stream)],
            count=count,
        ),
        timeout=CALL_TIMEOUT_S,
    )
    return [pair for served in reply.streams for pair in client.entries(served.entries)]


def ack(client, ids, stream=JOBS):
    reply = client.groups.Ack(
        client.pb.AckRequest(stream=stream, group=GROUP, ids=ids), timeout=CALL_TIMEOUT_S
    )
    return reply.acknowledged


def pending_count(client, stream=JOBS):
    reply = client.groups.Pending(
        client.pb.PendingRequest(stream=stream, group=GROUP), timeout=CALL_TIMEOUT_S
    )
    return reply.count


def consumer_loop(client):
    """Two workers take turns reading up to three jobs and acknowledging what they read, until
    there is nothing new: every job is done exactly once."""
    client.groups.Create(
        client.pb.CreateGroupRequest(stream=JOBS, group=GROUP, id="0", mkstream=True),
        timeout=CALL_TIMEOUT_S,
    )
    ids = add_jobs(client, JOBS, 10)
    done = {}
    idle = set()
    turn = 0
    while len(idle) < 2:
        worker = ["w1", "w2"][turn % 2]
        turn += 1
        batch = read_group(client, worker, 3)
        if not batch:
            idle.add(worker)
            continue
        idle.discard(worker)
        for entry_id, fields in batch:
            check(entry_id in done, False, f"job {entry_id} delivered twice")
            done[entry_id] = (worker, fields)
        check(ack(client, [entry_id for entry_id, _ in batch]), len(batch), "Ack of a batch")
    check(sorted(done, key=lambda i: int(i.split("-")[0])), ids, "every job done")
    check({worker for worker, _ in done.values()}, {"w1", "w2"}, "both workers had jobs")
    check(done["7-0"][1], [("job", "job 7")], "a job's fields")
    check(pending_count(client), 0, "nothing pending after the loop")
    info = client.groups.Info(client.pb.GroupsInfoRequest(stream=JOBS), timeout=CALL_TIMEOUT_S)
    group = info.groups[0]
    check((group.group, group.entries_read, group.lag), (GROUP, 10, 0), "XINFO GROUPS")


def a_stopped_worker_is_taken_over(client):
    """w3 takes two jobs and stops; w1 claims them with AutoClaim and finishes them."""
    add_jobs(client, JOBS, 2, first=11)
    taken = [entry_id for entry_id, _ in read_group(client, "w3", 2)]
    check(taken, ["11-0", "12-0"], "w3 takes the new jobs")
    check(pending_count(client), 2, "w3's jobs are pending")
    reply = client.groups.AutoClaim(
        client.pb.AutoClaimRequest(stream=JOBS, group=GROUP, consumer="w1", min_idle_ms=0),
        timeout=CALL_TIMEOUT_S,
    )
    check(reply.cursor, "0-0", "AutoClaim went through the whole list")
    claimed = [entry.id for entry in reply.entries]
    check(claimed, taken, "w1 claims w3's jobs")
    check([entry.delivered_before for entry in reply.entries], [1, 1], "claimed once before")
    check(ack(client, claimed), 2, "w1 finishes them")
    check(pending_count(client), 0, "nothing pending after the takeover")


def a_rejected_job_is_dead_lettered(client):
    """A job a worker rejects goes to the dead-letter stream with where it came from."""
    add_jobs(client, JOBS, 1, first=13)
    check(read_group(client, "w2", 1)[0][0], "13-0", "w2 takes job 13")
    reply = client.groups.Nack(
        client.pb.NackRequest(stream=JOBS, group=GROUP, consumer="w2", ids=["13-0"], reject=True),
        timeout=CALL_TIMEOUT_S,
    )
    check(list(reply.dead_lettered), ["13-0"], "Nack reject")
    check(pending_count(client), 0, "the rejected job is no longer pending")
    letters = client.entries(client.range(stream=JOBS + ":dead-letter").entries)
    check(len(letters), 1, "one dead letter")
    check(
        letters[0][1],
        [("job", "job 13"), ("origin-stream", JOBS), ("origin-id", "13-0"),
         ("origin-group", GROUP), ("last-consumer", "w2"), ("delivery-count", "1")],
        "the dead letter's fields",
    )


def a_streaming_consumer(client):
    """Consume with a window of 2: the server pushes two of three new jobs, then the third once
    the first two are acknowledged on the same call."""
    add_jobs(client, JOBS, 3, first=14)
    requests = queue.Queue()
    requests.put(client.pb.ConsumeRequest(start=client.pb.ConsumeStart(
        stream=JOBS, group=GROUP, consumer="streamer", window=2)))

    def outgoing():
        while True:
            request = requests.get()
            if request is None:
                return
            yield request

    call = client.groups.Consume(outgoing(), timeout=CALL_TIMEOUT_S)
    try:
        received = []
        while len(received) < 2:
            message = next(call)
            check(message.WhichOneof("message"), "entries", "Consume pushes entries first")
            received += [entry.id for entry in message.entries.entries]
        check(received, ["14-0", "15-0"], "the window's worth")
        requests.put(client.pb.ConsumeRequest(ack=client.pb.Settle(ids=received)))
        rest = []
        settled = None
        while settled is None or not rest:
            message = next(call)
            if message.WhichOneof("message") == "settled":
                settled = message.settled.count
            else:
                rest += [entry.id for entry in message.entries.entries]
        check((settled, rest), (2, ["16-0"]), "the ack is answered and the window refilled")
        requests.put(client.pb.ConsumeRequest(ack=client.pb.Settle(ids=rest)))
        message = next(call)
        check((message.WhichOneof("message"), message.settled.count), ("settled", 1), "last ack")
    finally:
        requests.put(None)
        call.cancel()
    check(pending_count(client), 0, "the streaming consumer settled everything")


CHECKS = [
    add_single_entries,
    add_a_batch,
    range_forward_and_reverse,
    length_and_delete,
    errors,
    tail_existing_then_live,
    consumer_loop,
    a_stopped_worker_is_taken_over,
    a_rejected_job_is_dead_lettered,
    a_streaming_consumer,
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="the server, HOST:PORT")
    parser.add_argument("--stubs", required=True, help="where grpc_tools.protoc wrote the stubs")
    arguments = parser.parse_args()

    sys.path.insert(0, arguments.stubs)
    import grpc
    from sluice.v1 import sluice_pb2, sluice_pb2_grpc

    with grpc.insecure_channel(arguments.address) as channel:
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT_S)
        client = Client(
            grpc,
            sluice_pb2,
            sluice_pb2_grpc.StreamsStub(channel),
            sluice_pb2_grpc.GroupsStub(channel),
        )
        for step in CHECKS:
            try:
                step(client)
            except Mismatch as mismatch:
                print(f"FAILED in {step.__name__}: {mismatch}", file=sys.stderr)
                return 1
            except grpc.RpcError as error:
                print(
                    f"FAILED in {step.__name__}: unexpected status "
                    f"{error.code().name}: {error.details()}",
                    file=sys.stderr,
                )
                return 1
            print(f"ok {step.__name__}")
    print(f"all {len(CHECKS)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
