"""the control layer around the pinned Chatterbox server, in the server image.

`python3 -m tts_layer` (the image's command) imports upstream's app from /app unchanged, fixes
two of its leaks (fixes.py), counts what it makes (metrics.py), and adds park/unpark/state on a
port of its own (control.py, parking.py). Upstream's files are never patched. The image build runs
`python3 -m tts_layer.check`, which fails if the pinned upstream lacks anything the layer relies on.

Ports
-----
- clients' port (upstream's, server.port, 8004): upstream's API behind an ASGI wrapper
  (admission.py). POST /v1/audio/speech and POST /tts answer **503** with `Retry-After: <s>` and
  `{"detail": "..."}` unless the state is `serving`, and when a park aborts them mid-synthesis
  (before any audio byte; nothing is written to outputs/). POST /api/unload and
  POST /restart_server answer **409** unless `serving`. Everything else is upstream's.
- control port (TTS_CONTROL_PORT, 8005): the API below. Never the clients' port.
- metrics port (TTS_METRICS_PORT, 9403): GET /metrics, Prometheus text; series in metrics.py.

Control API
-----------
Every request carries `Authorization: Bearer <token>`, the token being the content of the file
TTS_CONTROL_TOKEN_FILE (the chart mounts its Secret `<server.name>-control`, key `token`, at
/var/run/secrets/tts-control/token); without it, or with another: **401**. The file is re-read on
every request. Bodies and answers are JSON (`Content-Type: application/json`).

`GET /state` → 200:
    {"state": "serving" | "parking" | "parked" | "unparking" | "failed",
     "since": <unix seconds the state began>,
     "synthesizing": <bool: a synthesis holds the model now>,
     "model": {"loaded": <bool>, "device": "cuda:0" | "cpu" | null},   # where its weights are now
     "card": {"allocated_bytes", "reserved_bytes", "free_bytes", "total_bytes"} | null,  # null without CUDA
     "host": {"rss_bytes": <process RSS>, "model_bytes": <the parked copy; 0 unless parked>},
     "counts": {"parks", "unparks", "failures"},
     "last": <the last park or unpark answer, as below> | null,
     "retry_after_seconds": <what clients are told>}
    `card.allocated_bytes` is what this process's tensors hold, `reserved_bytes` what PyTorch's
    allocator holds (both from torch.cuda), `free_bytes`/`total_bytes` the card's (cudaMemGetInfo,
    every tenant's use counted). The CUDA context (a few hundred MiB) is in neither of the first
    two: the card's own view (nvidia-smi, the per-pod exporter) shows it.

`POST /park`, body empty or {"deadline_seconds": N} (0 < N <= 600; default TTS_PARK_DEADLINE_SECONDS, 60):
    stops admitting speech requests, aborts a synthesis in flight at its next module call, moves
    every tensor of the loaded model to one host arena (pinned with cudaHostRegister when
    TTS_PARK_PIN is on and the driver allows it, else pageable), empties upstream's device-keyed
    caches and PyTorch's allocator cache, and answers when parked:
    200 {"state": "parked", "op": "park", "already": false,
         "seconds": {"abort": <waiting for the synthesis in flight to stop>, "copy": <card to host>,
                     "release": <caches, gc, empty_cache>, "total": <asked to parked>},
         "aborted_synthesis": <bool>,
         "moved": {"tensors", "storages", "bytes", "skipped", "host_memory": "pinned" | "pageable" | "none"},
         "caches_emptied": {<cache>: <entries>},
         "card": {...as in /state, after the park}, "host": {...}}
    Parked already: 200, the last park's answer with "already": true. A park under way: the call
    joins it and gets its answer (a park asked twice is one park). No model loaded: parks with
    nothing moved ("host_memory": "none").

`POST /unpark`, the same body: copies the arena back to the model's device, frees it, admits again:
    200 {"state": "serving", "op": "unpark", "already": false,
         "seconds": {"copy": <host to card>, "release": <gc, empty_cache>, "total"},
         "moved": {"tensors", "storages", "bytes"}, "card": {...}, "host": {...}}
    Serving already: 200 with "already": true. An unpark under way: joined.

Refusals and failures (the state's name in "state", the reason in "error"):
    409  park while unparking; unpark while parking; either while failed; a park while upstream's
         /api/unload or /restart_server is replacing the model. Nothing changes.
    500  the park or unpark raised (e.g. the card had no room for the unpark, or the pod's memory
         limit no room for the park): the state is **failed**.
    504  it passed its deadline: the state is **failed**; the work in its thread may still finish,
         but the state stays failed.
    400  a body that is not {"deadline_seconds": N} within bounds; 404 another path; 405 another
         method; 503 more than 8 control requests at once (nothing changes).
`failed` is final: the server admits nothing (503) and refuses park and unpark (409) until the
pod restarts; the gate scales it to 0, as a plain yield would. A park or unpark runs in a thread
of its own: a control call that is cut or killed does not stop it, and its outcome is in /state
(parking → parked, or failed at its deadline, enforced by a timer whether or not anyone waits).

Timings (measured on the pinned server, CPU, random weights; docs/design.md): a park with a
synthesis in flight stopped it in 0.015 s and answered in 5.5 s for 3.29 GB (CPU memory to CPU
memory on a shared 2-core machine), an unpark in 3.4 s; the in-flight request got its 503 36 ms
after the park was asked. On a GPU, bench/gpu/park.py measures the copies at PCIe speed.

Settings (environment): TTS_APP_DIR, TTS_CONTROL_HOST, TTS_CONTROL_PORT (0: none),
TTS_CONTROL_TOKEN_FILE, TTS_METRICS_HOST, TTS_METRICS_PORT (0: none), TTS_RETRY_AFTER_SECONDS,
TTS_PARK_DEADLINE_SECONDS, TTS_PARK_PIN, TTS_FIXES (off: upstream's classes unfixed, for
measuring the leaks). A bad value stops the start with one line naming it (exit 2).

Modules: states (the table of states, pure), fixes (upstream fixes), upstream (what the layer
relies on in upstream, and its checks), tensors (finding and moving the model's tensors),
parking (the controller), metrics, admission (ASGI), control (HTTP), layer (wiring), check.
"""
