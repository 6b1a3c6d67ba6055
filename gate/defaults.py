"""The gate's defaults that are not settings (those are gate/settings.py's table): the server's
name, the loops' port, the one-shot deadline, the schedules the chart derives from the default
window, and the simulated server of `gate replay`. A test keeps each equal to the chart's."""

DEPLOYMENT = "chatterbox-tts"
METRICS_PORT = 9402
# Where the chart mounts the server's control token (its Secret `<server.name>-control`) in the
# server pod and in the controller's.
CONTROL_TOKEN_FILE = "/var/run/secrets/tts-control/token"
# A one-shot run (a CronJob's) that has not decided by then gives up (the guard gives the card
# back first). An iteration's worst case is about 7 timeouts (two API reads with a retry, three
# fetches); the chart sets half the Job's activeDeadlineSeconds (120 s) instead.
ONE_SHOT_DEADLINE = "60s"

WINDOW_UP_SCHEDULE = "0 2 * * *"
GUARD_SCHEDULE = "*/5 2-5 * * *"
WINDOW_DOWN_SCHEDULE = "0 6 * * *"

# The simulated TTS pod of `gate replay`: peak memory, container start, model load, release.
TTS_PEAK = "4.5GiB"
TTS_START = "45s"
TTS_LOAD = "60s"
# Release: SIGTERM to exit measured 0.3 s with the image's entrypoint, idle, mid-synthesis or
# queued (bench/bench.py prints the figures); the rest is the API's and the kubelet's way from
# replicas 0 to SIGTERM and the driver's teardown of the CUDA context, not measured on a CPU.
TTS_RELEASE = "5s"
# Warm standby (`gate replay --park`), assumed until bench/gpu/park.py runs on the card
# (docs/design.md, Warm standby): the residue is the CUDA context and the allocator's leftovers,
# which other servers report at 1.2-1.4 GB after an unload (upstream-facts) and issue 25 put at
# ~768 MiB: the middle of the reports, the safer side of both; a park copies ~3.3 GB to host memory
# (0.3-0.6 s pinned, 2-4x that pageable, over the T4's PCIe Gen3) after a synthesis step's abort and
# before the allocator's release, an unpark the same back: issue 25's 3 s and 5 s leave room for all.
TTS_RESIDUE = "1280MiB"
TTS_PARK = "3s"
TTS_UNPARK = "5s"
# The server's real-time factor on CUDA, fresh, as upstream measured it (resemble-ai/chatterbox #504:
# 0.49x real time). Not measured on a T4 (no GPU here; the soak ran on a CPU with random weights):
# pass --rtf from the server's own tts_server_realtime_factor.
REALTIME_FACTOR = "0.49"
# The owner's exporter: a new container reads `unknown` until its 60 s pod cache refreshes and
# the next 15 s collection runs.
EXPORTER_LAG = "75s"
