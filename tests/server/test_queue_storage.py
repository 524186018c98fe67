"""The reliable huey storage on a real Redis: a taken message stays in flight until it is
settled, and exactly one live replica gets back the messages of a replica whose lease
expired."""

from __future__ import annotations

import threading
import time

from roost.server._queue_storage import LeasedRedisStorage


def storage(redis_url: str, name: str, consumer: str, ttl: float = 0.5) -> LeasedRedisStorage:
    s = LeasedRedisStorage(name, url=redis_url, consumer_id=consumer, lease_ttl=ttl)
    s.renew()
    return s


def _wait_expired(s: LeasedRedisStorage, consumer: str) -> None:
    deadline = time.monotonic() + 10
    while s.conn.exists(s._lease_key(consumer)):
        assert time.monotonic() < deadline, "the lease did not expire"
        time.sleep(0.05)


def test_a_taken_message_stays_in_flight_until_acked(redis_url, redis_name):
    a = storage(redis_url, redis_name, "a")
    a.enqueue(b"m1")
    assert a.dequeue() == b"m1"
    assert a.queue_size() == 0
    assert a.conn.lrange(a.inflight_key, 0, -1) == [b"m1"]
    a.ack(b"m1")
    a.settled()
    assert a.conn.llen(a.inflight_key) == 0


def test_messages_of_a_dead_replica_go_back_to_the_head_of_the_queue_once(redis_url, redis_name):
    dead = storage(redis_url, redis_name, "dead")
    for m in (b"first", b"second", b"later"):
        dead.enqueue(m)
    for expected in (b"first", b"second"):  # two workers, each executing one
        assert dead.dequeue() == expected
        dead.settled()  # (still executing: a worker's next dequeue would ack it)
    live = [storage(redis_url, redis_name, f"live{i}", ttl=30) for i in range(4)]
    assert live[0].reclaim_dead() == {}  # its lease is still alive: nothing to take
    _wait_expired(live[0], "dead")  # the process died: nobody renews the lease

    results: list[dict[str, list[bytes]]] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.reclaim_dead())) for s in live]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if r]
    assert won == [{"dead": [b"second", b"first"]}]  # one replica got them, once
    # the oldest taken message is next in line, before the one never taken
    assert [live[1].dequeue() for _ in range(3)] == [b"first", b"second", b"later"]
    assert live[0].conn.sismember(live[0].consumers_key, "dead") == 0
    # the dead replica, were it only paused, cannot put back what was reclaimed
    assert dead.put_back(b"first", head=True) is False


def test_graceful_stop_hands_back_in_flight_messages(redis_url, redis_name):
    a = storage(redis_url, redis_name, "a", ttl=30)
    a.enqueue(b"m1")
    a.enqueue(b"m2")
    assert a.dequeue() == b"m1"
    a.settled()  # kept: the run was abandoned by the stopping server
    assert a.release_own() == [b"m1"]
    assert not a.conn.exists(a.lease_key)
    b = storage(redis_url, redis_name, "b", ttl=30)
    assert [b.dequeue(), b.dequeue()] == [b"m1", b"m2"]


def test_put_back_moves_a_message_to_the_head_or_the_tail(redis_url, redis_name):
    a = storage(redis_url, redis_name, "a", ttl=30)
    for m in (b"m1", b"m2", b"m3"):
        a.enqueue(m)
    assert a.dequeue() == b"m1"
    assert a.put_back(b"m1", head=False) is True  # a transient error: last in line
    assert a.dequeue() == b"m2"
    assert a.put_back(b"m2", head=True) is True  # abandoned: next in line
    assert [a.dequeue() for _ in range(3)] == [b"m2", b"m3", b"m1"]


def test_a_replica_whose_lease_lapses_takes_nothing(redis_url, redis_name):
    a = storage(redis_url, redis_name, "a", ttl=0.5)
    a.enqueue(b"m1")
    time.sleep(0.3)  # more than half the lease without a renewal
    assert a.dequeue() is None
    assert a.queue_size() == 1
    a.renew()
    assert a.dequeue() == b"m1"
