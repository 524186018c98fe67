"""Fuzz the host side of the sandbox kernel channel (roost.sandbox.isolation.channel) with atheris.

Each input is a stream a compromised sandbox could write: some frames built from the
fuzzer's choices (JSON headers with odd values, parts that may not add up, ids that were
or were not asked, payload sizes around the limits) and raw bytes in between. The
channel must end with EOF or a protocol error, never with another exception; a waiter
may only receive a payload within the limit it asked for.

Run: ``python scripts/fuzz_sandbox_channel.py -runs=500000`` (any libFuzzer flag, e.g.
``-max_total_time=600 -seed=1``); tests/sandbox/test_channel_fuzz.py runs a short one.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from typing import Any, cast

import atheris

with atheris.instrument_imports(include=["roost.sandbox.isolation.channel"]):
    from roost.sandbox.errors import SandboxProtocolError
    from roost.sandbox.isolation.channel import KernelChannel, KernelGone

_LIMITS = {1: 0, 2: 64, 3: 4096}
_VALUES: list[Any] = [0, 1, 2, 3, -1, 99, 2**40, True, None, "x", 1.5, [], {}, [["a", 1]]]


class _Sink:
    """The part of a StreamWriter the channel uses (requests go nowhere)."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    async def drain(self) -> None:
        pass


def _frame(fdp: atheris.FuzzedDataProvider) -> bytes:
    header: dict[str, Any] = {"id": fdp.PickValueInList(_VALUES[:7])}
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        key = fdp.PickValueInList(["ok", "parts", "code", "message", "id", "x"])
        header[key] = fdp.PickValueInList(_VALUES)
    payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 300))
    if fdp.ConsumeBool():
        cut = fdp.ConsumeIntInRange(0, len(payload))
        header["parts"] = [["stdout", cut], ["stderr", len(payload) - cut]]
    raw = json.dumps(header).encode()
    if fdp.ConsumeBool():
        raw = raw[: fdp.ConsumeIntInRange(0, len(raw))]  # truncated / malformed JSON
    hlen = fdp.PickValueInList([len(raw), len(raw), 1 << 20, 0, 2**32 - 1])
    plen = fdp.PickValueInList([len(payload), len(payload), 65, 2**31])
    return struct.pack("!II", hlen, plen) + raw + payload


async def _feed(stream: bytes) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    violations: list[str] = []
    chan = KernelChannel(
        reader, cast(asyncio.StreamWriter, _Sink()), on_violation=violations.append
    )
    waiters = {rid: chan.expect(rid, limit) for rid, limit in _LIMITS.items()}
    error = await chan.wait_closed()  # any other exception escapes: a finding
    assert isinstance(error, KernelGone | SandboxProtocolError), error
    assert isinstance(error, SandboxProtocolError) == bool(violations), (error, violations)
    for rid, fut in waiters.items():
        if not fut.cancelled() and fut.exception() is None:
            _header, parts = fut.result()
            assert sum(len(data) for _, data in parts) <= _LIMITS[rid]
    await chan.aclose()


_LOOP = asyncio.new_event_loop()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    stream = b"".join(
        _frame(fdp) if fdp.ConsumeBool() else fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        for _ in range(fdp.ConsumeIntInRange(0, 6))
    )
    _LOOP.run_until_complete(_feed(stream))


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
