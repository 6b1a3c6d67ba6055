"""The gate's defaults that are not settings (those are gate/settings.py's table): the server's
name, the loops' port, the one-shot deadline, the schedules the chart derives from the default
window, and the simulated server of `gate replay`. A test keeps each equal to the chart's."""

DEPLOYMENT = "chatterbox-tts"
METRICS_PORT = 9402
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
# The owner's exporter: a new container reads `unknown` until its 60 s pod cache refreshes and
# the next 15 s collection runs.
EXPORTER_LAG = "75s"
