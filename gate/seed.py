"""The seed stack's policy, as its README describes it, for `gate replay --policy seed`.

free = 16 GiB - the sum of every pod's GPU memory (its own included); the 02:00 preflight
scales to 1 only if free >= floor, the 5-minute guard scales to 0 if free < floor, and 06:00
scales to 0. A scrape that fails makes the seed's job fail: nothing changes.
"""

from __future__ import annotations

from gate.policy import Blind, Decision, Observation, Reason

SEED_TOTAL_BYTES = 16 * 2**30
SEED_SCHEDULES = {"preflight": "0 2 * * *", "guard": "*/5 2-5 * * *", "down": "0 6 * * *"}


def seed_free(observation: Observation) -> int | None:
    if isinstance(observation, Blind):
        return None
    used = sum(p.used_bytes for p in observation.pods) + observation.unattributed_bytes
    return SEED_TOTAL_BYTES - used


def seed_decide(command: str, observation: Observation, replicas: int, floor_bytes: int) -> Decision:
    if command == "down":
        return Decision("down", Reason.WINDOW_END, "06:00", replicas=0 if replicas else None)
    free = seed_free(observation)
    if free is None:
        return Decision(command, Reason.BLIND, "the scrape failed; the job fails and changes nothing")
    room = free >= floor_bytes
    if command == "preflight":
        if replicas >= 1:
            return Decision(command, Reason.ALREADY_UP, "already up")
        return Decision(command, Reason.ENTERED if room else Reason.NO_ROOM, f"free {free}", replicas=1 if room else None)
    if replicas >= 1 and not room:
        return Decision(command, Reason.NO_ROOM, f"free {free}", replicas=0)
    return Decision(command, Reason.HOLDING if replicas else Reason.NOT_HOLDING, f"free {free}")
