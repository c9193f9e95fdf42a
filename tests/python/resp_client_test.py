"""redis-py (PyPI `redis`) against Sluice's Redis-protocol port, unchanged: a producer and a
consumer group with acknowledgements, a blocked XREAD woken by another client, pipelines, and
the same calls over RESP3. Run by tests/resp.rs as `python3 resp_client_test.py PORT`; any
failed check raises, and the script prints "ok" at the end.
"""

import sys
import threading
import time

import redis

PORT = int(sys.argv[1])


def client(protocol):
    return redis.Redis(host="127.0.0.1", port=PORT, protocol=protocol, decode_responses=True)


def produce_and_consume(r, stream):
    r.delete(stream)
    ids = [r.xadd(stream, {"job": str(n), "payload": "x" * 100}) for n in range(50)]
    assert len(set(ids)) == 50, ids
    assert r.xlen(stream) == 50
    assert r.xgroup_create(stream, "workers", id="0") is True
    done = []
    while True:
        reply = r.xreadgroup("workers", "alice", {stream: ">"}, count=8)
        if not reply:
            break
        # RESP2: [[name, entries]]; RESP3: {name: [entries]} (redis-py keeps the shape).
        entries = reply[stream][0] if isinstance(reply, dict) else reply[0][1]
        for entry_id, fields in entries:
            assert fields["payload"] == "x" * 100
            done.append(fields["job"])
        assert r.xack(stream, "workers", *[entry_id for entry_id, _ in entries]) == len(entries)
    assert done == [str(n) for n in range(50)], done
    pending = r.xpending(stream, "workers")
    assert pending["pending"] == 0, pending
    groups = r.xinfo_groups(stream)
    assert groups[0]["name"] == "workers" and groups[0]["pending"] == 0, groups
    assert groups[0]["last-delivered-id"] == ids[-1], groups
    info = r.xinfo_stream(stream)
    assert info["length"] == 50 and info["last-generated-id"] == ids[-1], info
    assert info["first-entry"][0] == ids[0], info


def claim_and_redeliver(r, stream):
    r.delete(stream)
    r.xadd(stream, {"a": "1"}, id="1-1")
    r.xgroup_create(stream, "g", id="0")
    r.xreadgroup("g", "bob", {stream: ">"})
    claimed = r.xclaim(stream, "g", "carol", min_idle_time=0, message_ids=["1-1"])
    assert claimed[0][0] == "1-1", claimed
    detail = r.xpending_range(stream, "g", min="-", max="+", count=10)
    assert detail[0]["consumer"] == "carol" and detail[0]["times_delivered"] == 2, detail
    cursor, entries, deleted = r.xautoclaim(stream, "g", "dave", min_idle_time=0)
    assert entries[0][0] == "1-1" and deleted == [], (cursor, entries, deleted)


def blocked_read_is_woken(r, stream):
    r.delete(stream)
    r.xadd(stream, {"seed": "0"}, id="1-0")
    got = {}

    def reader():
        reader_client = client(r.connection_pool.connection_kwargs.get("protocol", 2))
        got["reply"] = reader_client.xread({stream: "$"}, block=10000)

    thread = threading.Thread(target=reader)
    thread.start()
    # Wait until the reader is blocked, as INFO reports it.
    for _ in range(500):
        if r.info("clients")["blocked_clients"] >= 1:
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the reader never blocked")
    r.xadd(stream, {"wake": "up"}, id="2-0")
    thread.join(20)
    reply = got["reply"]
    entries = reply[stream][0] if isinstance(reply, dict) else reply[0][1]
    assert entries == [("2-0", {"wake": "up"})], reply


def pipelines(r, stream):
    r.delete(stream)
    with r.pipeline(transaction=False) as pipe:
        for n in range(1, 101):
            pipe.xadd(stream, {"n": str(n)}, id=f"{n}-0")
        pipe.xlen(stream)
        replies = pipe.execute()
    assert replies[:100] == [f"{n}-0" for n in range(1, 101)], replies[:3]
    assert replies[100] == 100
    with r.pipeline(transaction=True) as pipe:
        pipe.xadd(stream, {"n": "101"}, id="101-0")
        pipe.xrange(stream, "101", "+")
        replies = pipe.execute()
    assert replies == ["101-0", [("101-0", {"n": "101"})]], replies


def errors(r, stream):
    r.delete(stream)
    r.xadd(stream, {"a": "1"}, id="5-0")
    try:
        r.xadd(stream, {"a": "1"}, id="4-0")
    except redis.ResponseError as error:
        assert "equal or smaller than the target stream top item" in str(error), error
    else:
        raise AssertionError("XADD below the top item was accepted")
    try:
        r.xreadgroup("nogroup", "c", {stream: ">"})
    except redis.ResponseError as error:
        assert str(error).startswith("No such key") or "NOGROUP" in str(error), error
    else:
        raise AssertionError("XREADGROUP without a group was accepted")


for protocol in (2, 3):
    r = client(protocol)
    assert r.ping() is True
    name = f"resp{protocol}"
    produce_and_consume(r, name)
    claim_and_redeliver(r, name + "-claim")
    blocked_read_is_woken(r, name + "-block")
    pipelines(r, name + "-pipe")
    errors(r, name + "-errors")
    assert r.type(name) == "stream"
    assert r.exists(name) == 1
    assert name in r.keys("resp*")
    assert sorted(r.scan_iter(match=f"{name}*")) == sorted(
        [name, name + "-claim", name + "-block", name + "-pipe", name + "-errors"]
    )
print("ok")
