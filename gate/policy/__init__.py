"""The gate's decisions, as plain functions over plain data.

Nothing here opens a socket or reads a clock: the live commands and `gate replay` call the same
functions with what they saw and when. The rules, in the residents' favour every time:

- Residents are every GPU user except the TTS Deployment's own pods, so holding the card never
  counts against itself. The card has room when `total - residents >= floor`, the same test in
  preflight and guard.
- Blind (metrics unreachable, unparseable, stale, implausible, the family missing): preflight
  never takes the card, and guard, holding it, yields. A per-process exporter that lists no
  process at all is blind too, unless the operator says an idle card is normal or a device-level
  source agrees the card is idle: the owner's exporter answers exactly so when its `nvidia-smi`
  fails.
- A device-level second opinion (dcgm, nvidia-smi) read beside a per-pod source: residents are
  the larger of what the per-pod source puts on others and the device's used memory minus our
  own; its total is the card's. Memory the per-pod figures miss (a frozen or failing exporter)
  still counts.
- Our own pod's start-up: the exporter labels a new container `unknown` until its pod cache
  refreshes (up to ~75 s). For a bounded grace after entry, unattributed memory that appeared
  since the entry, up to the floor, is presumed ours; anything beyond, and any attributed
  resident's growth, still counts. With a source that attributes nothing (dcgm or nvidia-smi
  alone), growth since entry up to the server's known peak is presumed ours while it holds.
- After a yield, re-entry waits until the card has had room, with a margin above the floor, for
  a cool-down that adapts: short after an isolated wake, doubling (up to a cap) while yields keep
  cutting entries short, back to short after a hold that lasted. That memory, and what the card
  looked like at entry, lives in annotations on the gate's Lease, so every run of the gate
  (controller, CronJob or sidecar) sees it.
- The state is written before an entry acts (the intent) and after a yield acts (residents
  first). A card given back whose yield was never written (a crash, an API outage between the
  two writes) still reads as a yield: the Lease says the gate entered, and the Deployment has
  been scaled since (its generation moved past the one recorded with the entry).
- The server's budget is the floor: holding the card past the start-up grace, its own memory
  above the floor (less a slack) is a yield (`over-budget`); after a second one the gate does not
  take the card again that night.
- The window is read on the local wall clock of the configured time zone. No entry in its last
  minutes (the entry margin), when the server could not start before the window ends.
- Paused (`enabled: false` in the settings, or the Lease's `tts.gate/paused` set by `gate
  pause`; either is enough): every decider checks it first. Nothing takes the card, and what
  holds it gives it back, without a cool-down (a pause is not a resident's wake). A pause value
  the gate cannot read pauses too, and every decision says so (`read_switch`).
- A try (`gate try`: the Lease's `tts.gate/try-until`, an instant): until then the window counts
  as open (`assess`, `open_try`), so preflight and the controller may take the card with room at
  any hour, and a queue at 0 neither refuses nor idles it (it is work the operator asked for).
  Every other rule holds: room and the floor, blindness, a pause (which wins), the cool-down,
  over-budget. Where only the try lets the card in, the entry margin counts from its end. When
  it passes, the guard gives the card back as at the window's end; the window's end (`down`)
  ends a try with the night. An end further ahead than a try lasts, or unreadable, is ignored,
  and the decisions say so.
- Demand (tripit's queue), when configured: the card is taken only with work waiting, at any
  hour demand may take it, and given back once an explicit 0 has held for `idle_after`, even
  inside the window. A probe that fails in any way is no action: it never idles the server and
  never counts as work; inside the window an unknown demand falls back to the window rule. A
  resident's need always wins over waiting work.
- Time: the window is read on the wall clock; every timer the gate keeps in its Lease (the
  cool-down's room-since, the idle timer, the start-up grace) is a wall-clock instant, trusted
  only when sane: one in the future, or a wall clock the process saw jump against its monotonic
  clock (`View.clock_jump_seconds`, measured by the caller), restarts the timer as a wake would.
  A jump never lengthens the start-up grace: it ends it (the residents' side).

The parts: `settings` (what the operator tunes), `state` (the Lease's annotations and their
merge), `observation` (readings and `assess`), `rules` (a decision's shape and the rules every
decider shares: the cool-down, the budget, the pause), `parking` (warm standby's decisions),
`decisions` (the deciders and `step`). Each part's `__all__` names its share of the package's
names, and they are all here, so `from gate.policy import ...` is the one way in.
"""

from __future__ import annotations

from gate.policy import decisions, observation, parking, rules, settings, state
from gate.policy.decisions import *
from gate.policy.observation import *
from gate.policy.parking import *
from gate.policy.rules import *
from gate.policy.settings import *
from gate.policy.state import *

__all__: list[str] = []
__all__ += decisions.__all__
__all__ += parking.__all__
__all__ += rules.__all__
__all__ += observation.__all__
__all__ += state.__all__
__all__ += settings.__all__
