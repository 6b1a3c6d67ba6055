"""The server's control port (docker/tts_layer, whose package docstring is the API): park, unpark
and state, for the loops that park (the controller through the Service `<server>-control`, the
sidecar over 127.0.0.1). Thin: the gate's policy decides, this asks and reads the answers.

- Every call carries `Authorization: Bearer <token>`, the token read from its file on every call
  (a rotated Secret takes effect at once); a file that cannot be read is a failure of that call.
- Every call has one deadline, enforced from outside the read (`scrape.exchange`, through
  `gate.socket_deadline`): a state read the loop's timeout; a park or an unpark its bound
  (park.timeout), which the server is told too (`{"deadline_seconds": N}`: past it, the server
  itself turns `failed` and answers 504), plus `ANSWER_GRACE_SECONDS` for that answer to arrive.
- A park or an unpark that does not come back 200 with the state it asked for raises
  `ControlError` in one line: 401 (the token), 409 (refused: the other operation is under way,
  upstream is replacing the model, or the server failed earlier), 500 (it failed: the server is
  now `failed`), 504 (past its deadline: `failed`), anything else, no answer, a cut answer, an
  answer that is not the API's JSON. `state` never raises: unreadable is a `ServerState` with
  no phase and the reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gate.policy import SERVER_PHASES, ParkReport, ServerState
from gate.sources import SourceError
from gate.sources.scrape import exchange

# Answers of the control API are small JSON documents; anything larger is not one.
MAX_ANSWER_BYTES = 64 * 1024
# The server answers 504 at the deadline it was given: this long more for that answer to arrive.
ANSWER_GRACE_SECONDS = 1.0
# The largest deadline the control port takes (docker/tts_layer/control.py); park.timeout's bound
# (1m, a pattern of digits per unit) stays under it but for a value such as 9m99s.
MAX_DEADLINE_SECONDS = 600
WHAT = "the control port"


class ControlError(Exception):
    """A park, an unpark or a state read that failed, in one line naming why."""


@dataclass(frozen=True)
class ControlConfig:
    url: str  # the control port's base URL: http://<server>-control.<namespace>.svc:8005, http://127.0.0.1:8005
    token_file: str
    timeout_seconds: float  # a state read
    park_timeout_seconds: float  # a park or an unpark (park.timeout)


class ServerControl:
    def __init__(self, config: ControlConfig):
        self.config = config

    def state(self) -> ServerState:
        """GET /state: the server's state, or why it cannot be read (never raises)."""
        try:
            status, document = self._call("GET", "/state", None, self.config.timeout_seconds)
        except ControlError as exc:
            return ServerState(None, problem=str(exc))
        if status != 200:
            return ServerState(None, problem=_refusal(status, document))
        phase = document.get("state")
        if phase not in SERVER_PHASES:
            return ServerState(None, problem=f"{WHAT} answered a state {str(phase)[:40]!r}, not one of {', '.join(SERVER_PHASES)}")
        since = document.get("since")
        when = datetime.fromtimestamp(since, UTC) if _number(since) and 0 <= since < 1e11 else None
        return ServerState(phase, since=when, reserved_bytes=_reserved(document))

    def park(self) -> ParkReport:
        return self._operate("park", "parked")

    def unpark(self) -> ParkReport:
        return self._operate("unpark", "serving")

    def _operate(self, op: str, leads_to: str) -> ParkReport:
        bound = self.config.park_timeout_seconds
        body = json.dumps({"deadline_seconds": min(bound, MAX_DEADLINE_SECONDS)}).encode()
        status, document = self._call("POST", f"/{op}", body, bound + ANSWER_GRACE_SECONDS)
        if status != 200:
            raise ControlError(f"{op}: {_refusal(status, document)}")
        if document.get("state") != leads_to:
            raise ControlError(f"{op}: {WHAT} answered 200 with the state {str(document.get('state'))[:40]!r}, not {leads_to!r}")
        seconds = (document.get("seconds") or {}).get("total") if isinstance(document.get("seconds"), dict) else None
        return ParkReport(
            float(seconds) if _number(seconds) and seconds >= 0 else 0.0,
            reserved_bytes=_reserved(document),
            already=document.get("already") is True,
        )

    def _call(self, method: str, path: str, body: bytes | None, timeout_seconds: float) -> tuple[int, dict[str, Any]]:
        token = self._token()
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        url = self.config.url.rstrip("/") + path
        try:
            status, _, raw = exchange(method, url, timeout_seconds, MAX_ANSWER_BYTES, headers, body, what=WHAT)
        except SourceError as exc:
            raise ControlError(str(exc)) from exc
        try:
            document = json.loads(raw) if raw.strip() else {}
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ControlError(f"{WHAT} answered HTTP {status} with {len(raw)} bytes that are not a JSON object")
        return status, document

    def _token(self) -> str:
        try:
            token = Path(self.config.token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ControlError(f"cannot read the control token from {self.config.token_file}: {why}") from exc
        if not token or any(c.isspace() for c in token):
            raise ControlError(f"the control token in {self.config.token_file} is empty or not one word")
        return token


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reserved(document: dict[str, Any]) -> int | None:
    """What the answer says the server's allocator holds on the card (None: no CUDA, or not said)."""
    card = document.get("card")
    value = card.get("reserved_bytes") if isinstance(card, dict) else None
    return int(value) if _number(value) and value >= 0 else None


def _refusal(status: int, document: dict[str, Any]) -> str:
    """One line for an answer that is not a 200: what the status means in this API, and its words."""
    meaning = {
        401: "the token was refused (401)",
        409: f"refused (409; the server is {str(document.get('state'))[:20]})",
        500: "it failed (500; the server is now failed)",
        504: "it passed its deadline (504; the server is now failed)",
        503: "the control port is busy (503)",
    }.get(status, f"HTTP {status}")
    error = " ".join(str(document.get("error") or "").split())[:200]
    return f"{WHAT}: {meaning}" + (f": {error}" if error else "")
