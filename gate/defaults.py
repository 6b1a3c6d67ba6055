"""The gate's defaults, which are the chart's (a test keeps chart/values.yaml equal to these)."""

DEPLOYMENT = "chatterbox-tts"
METRICS_URL = "http://gpu-pod-exporter.nvidia.svc:80/metrics"
SOURCE = "gpu-pod-exporter"
FLOOR = "6GiB"
TOTAL = "15360MiB"  # a T4 as nvidia-smi reports it
WINDOW = "02:00-06:00"
TIMEZONE = "Europe/London"
# After a yield: the first cool-down, doubled for each yield in a row that cut an entry short, up
# to the cap (gate/policy.py, `cooldown`).
COOLDOWN = "10s"
COOLDOWN_MAX = "2m"
HYSTERESIS = "512MiB"
MAX_AGE = "60s"
EMPTY_IS_IDLE = False
STARTUP_GRACE = "3m"
TIMEOUT = "5s"
SIDECAR_INTERVAL = "10s"
CONTROLLER_INTERVAL = "10s"
DEMAND_FIELD = "queued"
DEMAND_IDLE_AFTER = "5m"
ENTRY_MARGIN = "5m"
METRICS_PORT = 9402
# A one-shot run (a CronJob's) that has not decided by then gives up (the guard gives the card
# back first). An iteration's worst case is about 7 timeouts (two API reads with a retry, three
# fetches); the chart sets half the Job's activeDeadlineSeconds (120 s) instead.
ONE_SHOT_DEADLINE = "60s"

WINDOW_UP_SCHEDULE = "0 2 * * *"
GUARD_SCHEDULE = "*/5 2-5 * * *"
WINDOW_DOWN_SCHEDULE = "0 6 * * *"

# The simulated TTS pod of `gate replay`: peak memory, container start, model load, release.
# Also the gate's presumed own peak for a source that cannot attribute memory (GATE_OWN_PEAK).
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
