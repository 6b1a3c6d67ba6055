"""A loopback stand-in for the server image's control port (docker/tts_layer; its API is the
package docstring), faithful for the calls the gate makes.

What it reproduces of the real port (docker/tts_layer/control.py and parking.py):
- `GET /state`, `POST /park`, `POST /unpark`; every request needs `Authorization: Bearer
  <token>` (none or another: 401 `{"error"}`, before anything else); another path 404; another
  method 405 with `Allow`; answers are JSON with `Content-Type: application/json` and
  `Content-Length`.
- A body of `{"deadline_seconds": N}` (0 < N <= 600) or none (the default deadline, 60 s);
  anything else 400 and nothing changes.
- The states and what a park or an unpark asked in each does: the layer's own table
  (`tts_layer.states.decide`): a park asked while parking joins it (one park), asked parked
  answers at once with `"already": true`; a park while unparking, an unpark while parking,
  either while failed: 409 `{"state", "op", "error"}`, nothing changes.
- An operation runs in a thread of its own for `park_seconds` / `unpark_seconds`: a caller that
  hangs up does not stop it, and `/state` says `parking` / `unparking` meanwhile. Past its
  deadline (enforced whether or not anyone waits) the state is `failed`, for good, and a caller
  still waiting gets 504; an operation that fails gets 500 and leaves `failed` too.
- 200 answers: `{"state", "op", "already", "seconds": {"total", ...}, "card": {...} | null,
  "host": {...}}`; `/state`: `{"state", "since", "synthesizing", "model", "card", "host",
  "counts", "last", "retry_after_seconds"}`. `card` is null without CUDA (as on a CPU), else
  `reserved_bytes` is what the parked server's allocator keeps (`reserved_after_park`).

And, on demand, what a real one does under stress: an operation that never finishes (`hang`),
that fails (`fail`), an answer held back after the operation finished (`answer_delay`), an answer
cut part-way through its body by a TCP reset (`cut_answer`), the process restarted (`restart`:
serving again, its counts at 0), or the state set by hand (`phase`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from loopback import LoopbackHandler, LoopbackServer
from tts_layer.states import Phase, Verdict, decide

DEFAULT_DEADLINE_SECONDS = 60.0
MAX_DEADLINE_SECONDS = 600
LEADS_TO = {"park": Phase.PARKED, "unpark": Phase.SERVING}
UNDER_WAY = {"park": Phase.PARKING, "unpark": Phase.UNPARKING}


@dataclass
class Operation:
    op: str
    deadline_seconds: float
    started: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    status: int = 0  # 200, 500 or 504 once done
    body: dict[str, Any] = field(default_factory=dict)


class FakeControlPort(LoopbackServer):
    def __init__(self, token: str = "c0ntrol", park_seconds: float = 0.05, unpark_seconds: float = 0.05):
        self.token = token
        self.park_seconds = park_seconds
        self.unpark_seconds = unpark_seconds
        self.phase = Phase.SERVING
        self.since = time.time()
        self.counts = {"parks": 0, "unparks": 0, "failures": 0}
        self.last: dict[str, Any] | None = None
        self.hang: set[str] = set()  # operations that never finish (their deadline fails them)
        self.fail: set[str] = set()  # operations that fail (500, failed)
        self.answer_delay = 0.0  # seconds a finished operation's answer is held back
        self.cut_answer = False  # the next answer: half its body, then a TCP reset
        self.reserved_after_park: int | None = None  # card.reserved_bytes after a park; None: no CUDA
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []  # (method, path, body)
        self._operation: Operation | None = None
        self._lock = threading.Lock()
        self.listen(self._handler())

    # -- the state ---------------------------------------------------------------------------

    def set_phase(self, phase: Phase) -> None:
        with self._lock:
            self.phase, self.since = phase, time.time()

    def restart(self) -> None:
        """The process died and came back: serving (its model loading back onto the card), counts at 0."""
        with self._lock:
            self.phase, self.since = Phase.SERVING, time.time()
            self.counts = {"parks": 0, "unparks": 0, "failures": 0}
            self.last, self._operation = None, None

    def calls(self, path: str) -> int:
        return sum(1 for _, p, _ in self.requests if p == path)

    def card(self) -> dict[str, Any] | None:
        if self.reserved_after_park is None:
            return None
        reserved = self.reserved_after_park if self.phase is Phase.PARKED else 4 * 2**30
        return {"allocated_bytes": reserved, "reserved_bytes": reserved, "free_bytes": 8 * 2**30, "total_bytes": 15 * 2**30}

    def state(self) -> dict[str, Any]:
        return {
            "state": self.phase.value,
            "since": self.since,
            "synthesizing": False,
            "model": {"loaded": True, "device": "cpu" if self.phase is Phase.PARKED else "cuda:0"},
            "card": self.card(),
            "host": {"rss_bytes": 5 * 2**30, "model_bytes": 3_285_479_548 if self.phase is Phase.PARKED else 0},
            "counts": dict(self.counts),
            "last": self.last,
            "retry_after_seconds": 30,
        }

    def request(self, op: str, deadline_seconds: float) -> tuple[int, dict[str, Any]]:
        """What the layer's `Controller.request` answers: the table's verdict, then the operation."""
        with self._lock:
            verdict, reason = decide(self.phase, op)
            if verdict is Verdict.REFUSE:
                return 409, {"state": self.phase.value, "op": op, "error": reason}
            if verdict is Verdict.ALREADY:
                answer = dict(self.last or {"op": op, "seconds": {"total": 0.0}}, state=self.phase.value, already=True)
                return 200, answer
            if verdict is Verdict.START:
                operation = Operation(op, deadline_seconds)
                self._operation = operation
                self.phase, self.since = UNDER_WAY[op], time.time()
                threading.Thread(target=self._run, args=(operation,), daemon=True).start()
                threading.Thread(target=self._expire, args=(operation,), daemon=True).start()
            operation = self._operation
        assert operation is not None
        operation.done.wait()
        return operation.status, operation.body

    def _run(self, operation: Operation) -> None:
        op = operation.op
        if op in self.hang:
            return  # never finishes: its deadline fails it
        time.sleep(self.park_seconds if op == "park" else self.unpark_seconds)
        with self._lock:
            if operation.done.is_set():
                return  # past its deadline: failed for good
            if op in self.fail:
                self._finish(operation, 500, Phase.FAILED, f"{op} failed: CUDA error: out of memory")
                return
            self.phase, self.since = LEADS_TO[op], time.time()
            self.counts["parks" if op == "park" else "unparks"] += 1
            seconds = round(time.monotonic() - operation.started, 3)
            body = {"state": self.phase.value, "op": op, "already": False, "seconds": {"copy": seconds, "total": seconds}}
            self.last = body
            operation.status, operation.body = 200, {**body, "card": self.card(), "host": self.state()["host"]}
            operation.done.set()

    def _expire(self, operation: Operation) -> None:
        if operation.done.wait(operation.deadline_seconds):
            return
        with self._lock:
            if not operation.done.is_set():
                self._finish(operation, 504, Phase.FAILED, f"the {operation.op} passed its deadline of {operation.deadline_seconds:g}s")

    def _finish(self, operation: Operation, status: int, phase: Phase, error: str) -> None:
        self.phase, self.since = phase, time.time()
        self.counts["failures"] += 1
        operation.status, operation.body = status, {"state": phase.value, "op": operation.op, "error": error}
        operation.done.set()

    # -- serving -----------------------------------------------------------------------------

    def _handler(self) -> type[LoopbackHandler]:
        port = self

        class Handler(LoopbackHandler):
            def reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body, sort_keys=True).encode()
                if port.cut_answer:
                    port.cut_answer = False
                    head = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
                    self.connection.sendall(self.raw_head(status, head) + data[: len(data) // 2])
                    self.reset()
                    return
                self.answer(status, "application/json", data, {"Cache-Control": "no-store", **(headers or {})})

            def route(self, method: str) -> None:
                raw = self.read_body()
                path = self.path.split("?")[0]
                try:
                    parsed = json.loads(raw) if raw.strip() else None
                except ValueError:
                    parsed = {"unparseable": raw[:40].decode(errors="replace")}
                port.requests.append((method, path, parsed))
                if self.headers.get("Authorization", "") != f"Bearer {port.token}":
                    self.reply(401, {"error": "missing or wrong token: send Authorization: Bearer <the control token>"})
                    return
                routes = {"/state": "GET", "/park": "POST", "/unpark": "POST"}
                if path not in routes:
                    self.reply(404, {"error": f"{path}: not a control endpoint (GET /state, POST /park, POST /unpark)"})
                    return
                if method != routes[path]:
                    self.send_head(405, "application/json", 0, {"Allow": routes[path]})
                    return
                if path == "/state":
                    with port._lock:
                        self.reply(200, port.state())
                    return
                deadline = DEFAULT_DEADLINE_SECONDS
                if parsed is not None:
                    value = parsed.get("deadline_seconds") if isinstance(parsed, dict) and set(parsed) == {"deadline_seconds"} else None
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_DEADLINE_SECONDS:
                        self.reply(400, {"error": f'body {raw[:80]!r}: expected a JSON object such as {{"deadline_seconds": 30}}'})
                        return
                    deadline = float(value)
                status, body = port.request(path.lstrip("/"), deadline)
                if port.answer_delay:
                    time.sleep(port.answer_delay)
                with contextlib.suppress(OSError):  # the caller hung up first (its deadline): the outcome stands
                    self.reply(status, body)

            def do_GET(self) -> None:
                self.route("GET")

            def do_POST(self) -> None:
                self.route("POST")

            def do_PUT(self) -> None:
                self.route("PUT")

        return Handler
