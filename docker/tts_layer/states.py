"""The control layer's states and what a park or an unpark asked in each of them does: a table,
no I/O, no torch (tests read it; parking.py acts on it)."""

from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    SERVING = "serving"
    PARKING = "parking"
    PARKED = "parked"
    UNPARKING = "unparking"
    FAILED = "failed"


class Verdict(str, Enum):
    START = "start"  # begin the operation
    JOIN = "join"  # the same operation is under way: wait for it (a park asked twice is one park)
    ALREADY = "already"  # already where the operation leads: answer at once
    REFUSE = "refuse"  # 409: the other operation is under way, the model is being (re)loaded, or the server failed


# Upstream's own model operations (engine.unload_model through /api/unload, engine.reload_model
# through /restart_server): a park cannot move a model that is being replaced.
MODEL_CHANGES = ("unload", "reload")


def decide(phase: Phase, op: str, busy: tuple[str, ...] = ()) -> tuple[Verdict, str]:
    """What `op` ("park" or "unpark") asked in `phase` does, with the reason of a refusal. `busy`
    names what holds the model now ("synthesis", "unload", "reload")."""
    if op not in ("park", "unpark"):
        raise ValueError(f"operation {op!r}: expected park or unpark")
    if phase is Phase.FAILED:
        return Verdict.REFUSE, f"the server failed an earlier park or unpark: no {op} until it restarts"
    if op == "park":
        if phase is Phase.SERVING:
            changing = [b for b in busy if b in MODEL_CHANGES]
            if changing:
                return Verdict.REFUSE, f"the model is being changed by upstream's {changing[0]}: park refused until it ends"
            return Verdict.START, ""
        if phase is Phase.PARKING:
            return Verdict.JOIN, ""
        if phase is Phase.PARKED:
            return Verdict.ALREADY, ""
        return Verdict.REFUSE, "an unpark is under way: park refused until it ends"
    if phase is Phase.PARKED:
        return Verdict.START, ""
    if phase is Phase.UNPARKING:
        return Verdict.JOIN, ""
    if phase is Phase.SERVING:
        return Verdict.ALREADY, ""
    return Verdict.REFUSE, "a park is under way: unpark refused until it ends"


def admits_speech(phase: Phase) -> bool:
    """Client requests that synthesize are admitted only while serving (else 503 + Retry-After)."""
    return phase is Phase.SERVING
