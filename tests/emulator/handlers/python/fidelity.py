"""Test handler: reports its own init timestamps and does what the event asks."""

import time

INIT_START_MS = time.time() * 1000

import hashlib  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402

SANDBOX_ID = uuid.uuid4().hex
_count: list[int] = []  # one entry per invocation
_hold: list[bytes] = []
INIT_END_MS = time.time() * 1000


def handler(event, context):
    _count.append(1)
    start = time.perf_counter()
    action = event.get("action", "echo")
    if action == "sleep":
        time.sleep(event["s"])
    elif action == "alloc":
        # b"x" * n writes every page, so it is resident (a bytearray(n) might not be).
        _hold.append(b"x" * (event["mb"] * 1024 * 1024))
    elif action == "cpu":
        digest = b""
        for _ in range(event["rounds"]):
            digest = hashlib.sha256(digest).digest()
    elif action == "print":
        for line in event["lines"]:
            print(line)
    elif action == "raise":
        raise ValueError(event.get("message", "boom"))
    elif action == "exit":
        os._exit(event["code"])  # the runtime dies mid-invoke, without answering
    elif action == "big":
        return "x" * event["bytes"]
    return {
        "sandbox_id": SANDBOX_ID,
        "pid": os.getpid(),
        "init_start_ms": INIT_START_MS,
        "init_end_ms": INIT_END_MS,
        "invocation": len(_count),
        "handler_ms": (time.perf_counter() - start) * 1000,
        "env": dict(os.environ) if event.get("env") else None,
        "echo": event.get("echo"),
    }
