"""The loops' watchdog: it gives the card back when the loop stops deciding.

It shares nothing with the loop's read path: its own API client (a stuck call must not hold it
up) behind its own target and store, and the loop's word after each iteration (`decided`).
Whether the card is held is what it reads (the Deployment's replicas), not what the loop last
decided: an operator who scales the server up while the loop is wedged is seen.

When the loop has not decided within its bound, the watchdog steps in (`step_in`):
1. it vetoes every entry decided before that moment (`veto`): an iteration still in flight
   never takes the card afterwards, however long it was stuck;
2. it gives the card back through `cycle.give_back` when the target reads held (or cannot be
   read: presumed held), recording the yield and an Event;
3. every other entry is vetoed too until that give-back has succeeded (a scale-down that
   failed, a 503, is retried at every check) or the target read at 0 replicas, or an iteration
   that started after the watchdog stepped in has decided: a fresh read supersedes its verdict.
An entry's scale-up and the veto's setting exclude each other (a lock), so a give-back never
lands before an entry decided earlier: at worst it waits for that one call to return.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import typer

from gate import cycle
from gate.cycle import Target
from gate.kube.errors import KubeError
from gate.policy import Settings
from gate.store import StateStore
from gate.units import format_duration


def watchdog_bound(interval_seconds: float, timeout_seconds: float) -> float:
    """How long the loop may go without deciding while it holds the card: two intervals (one
    missed tick is not an outage) plus one call's timeout."""
    return 2 * interval_seconds + timeout_seconds


class Watchdog:
    def __init__(
        self,
        target: Target,
        store: StateStore,
        settings: Settings,
        bound_seconds: float,
        clock: Callable[[], datetime],
        dry_run: bool = False,
        on_yield: Callable[[], None] | None = None,
    ):
        self.target = target
        self.store = store
        self.settings = settings  # the loop replaces it on a reload
        self.bound = bound_seconds
        self.clock = clock
        self.dry_run = dry_run
        self.on_yield = on_yield
        self.last_decided = time.monotonic()
        self.stepped_in_at = float("-inf")
        self.unfinished = False  # stepped in, and the card is not known to be back yet
        self._entry = threading.Lock()  # an entry's scale-up, or the veto being set

    def decided(self, started: float) -> None:
        """The loop decided, in the iteration that started at `started` (monotonic)."""
        with self._entry:
            self.last_decided = time.monotonic()
            if started > self.stepped_in_at:
                self.unfinished = False  # a decision from a fresh read supersedes the watchdog's

    def veto(self, started: float) -> _Veto:
        """For the iteration that started at `started` (monotonic)."""
        return _Veto(self, started)

    def overdue(self) -> float | None:
        """Seconds since the last decision, when the watchdog must step in now: past the bound
        and not stepped in within it, or a give-back still unfinished (retried at every check)."""
        now = time.monotonic()
        silent = now - self.last_decided
        if self.unfinished or (silent > self.bound and now - self.stepped_in_at > self.bound):
            return silent
        return None

    def check(self) -> bool:
        silent = self.overdue()
        if silent is None:
            return False
        return self.step_in(f"no decision for {format_duration(silent)} (bound {format_duration(self.bound)})")

    def step_in(self, why: str, record: bool = True) -> bool:
        """Veto every entry decided so far, then give the card back if the target reads held.
        True once the card was given back; the veto lifts only when the card is known back."""
        with self._entry:
            self.stepped_in_at = time.monotonic()
            self.unfinished = True
        if self.dry_run:
            typer.echo(f"gate: watchdog: would yield the card: {why}", err=True)
            self.unfinished = False
            return False
        try:
            outcome = cycle.give_back(self.settings, self.store, self.target, self.clock(), why, record)
        except KubeError as exc:
            typer.echo(f"gate: watchdog: could not give the card back ({why}): {exc}", err=True)
            return False  # unfinished: every entry stays vetoed, and the next check tries again
        self.unfinished = False
        if outcome is None:
            return False  # read at 0 replicas: nothing held, nothing to give back
        typer.echo(f"gate: watchdog: yielding the card: {why}", err=True)
        for warning in outcome.warnings:
            typer.echo(f"gate: watchdog: {warning}", err=True)
        if self.on_yield is not None:
            self.on_yield()
        return True

    def watch(self, stop: threading.Event) -> None:
        """The thread's body: check a few times per bound until `stop`."""
        step = max(0.05, min(1.0, self.bound / 4))
        while not stop.wait(step):
            try:
                self.check()
            except Exception as exc:  # the watchdog itself must never die
                typer.echo(f"gate: watchdog: {type(exc).__name__}: {exc}", err=True)


class _Veto:
    def __init__(self, watchdog: Watchdog, started: float):
        self.watchdog = watchdog
        self.started = started

    @contextmanager
    def entering(self) -> Iterator[bool]:
        dog = self.watchdog
        with dog._entry:
            yield not dog.unfinished and dog.stepped_in_at < self.started
