"""Park and unpark a ~4.5 GB model on an NVIDIA GPU, with the server image's own code
(docker/tts_layer), and print one table. For a machine with a GPU and PyTorch, no network; at most
5 minutes. On a machine without a GPU it says so and exits 3.

Measured:
- park / unpark with pinned host memory (cudaHostRegister on one arena) and with pageable memory:
  seconds, and what the card still holds after the park: this process's allocated and reserved
  bytes (torch.cuda) and the card's used bytes (cudaMemGetInfo: total - free, the CUDA context
  included) against the same reading before the model existed;
- the latency of aborting a step: a "synthesis" thread calls the model's modules in a loop, a park
  is asked, and the time from asking to the thread's ParkAbort is the abort;
- where the driver offers it (cuCheckpointProcess*, driver 575 or later), the CUDA driver's
  checkpoint/restore of a child process holding the same model: checkpoint and restore seconds
  and the card's used bytes while it is checkpointed (NVML), as a second mechanism.

    python3 bench/gpu/park.py [--gib 4.5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docker"))

NO_GPU = 3
CHECKPOINT_TIMEOUT_SECONDS = 90
MIB = 2**20


def no_gpu() -> str:
    """Why this machine cannot run the measurement ("" when it can)."""
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)"
    return ""


def build_model(gib: float, device: str):
    """A stand-in of the server's model: Linear layers of 4096 x 6912 fp32 (113 MB each) adding up
    to ~gib, one weight shared by two modules (as t3.patched_model shares tfmr)."""
    import torch

    layer_bytes = 4096 * 6912 * 4
    count = max(2, round(gib * 2**30 / layer_bytes))
    layers = torch.nn.ModuleList(torch.nn.Linear(4096, 6912, bias=False, device=device) for _ in range(count))
    holder = type("Model", (), {})()
    holder.t3 = torch.nn.Sequential(*layers)
    holder.patched_model = torch.nn.ModuleDict({"shared": layers[0]})
    return holder


def card_used() -> int:
    import torch

    free, total = torch.cuda.mem_get_info()
    return total - free


def park_round(model, pinned: bool) -> dict:
    import torch
    from tts_layer import tensors

    device = tensors.model_device(model)
    torch.cuda.synchronize()
    started = time.monotonic()
    host = tensors.to_host(tensors.find_tensors(model, device), device, pinned=pinned)
    tensors.release([])
    park_seconds = time.monotonic() - started
    after = {
        "allocated": torch.cuda.memory_allocated(),
        "reserved": torch.cuda.memory_reserved(),
        "used": card_used(),
        "pinned": host.pinned,
        "bytes": host.nbytes,
    }
    started = time.monotonic()
    tensors.to_device(host)
    unpark_seconds = time.monotonic() - started
    return {"park": park_seconds, "unpark": unpark_seconds, **after}


def abort_latency(model) -> float:
    """Seconds from a park asked to the synthesis thread's ParkAbort (one step at most)."""
    import torch
    from tts_layer.parking import Controller, ParkAbort

    controller = Controller(lambda: model, deadline_seconds=120)
    first = model.t3[0]
    inside, stopped = threading.Event(), {}

    def synthesis():
        x = torch.ones(1, 4096, device="cuda")
        try:
            with controller.synthesis():
                inside.set()
                while True:
                    first(x)
                    torch.cuda.synchronize()  # a T3 step ends on the host (sampling), as upstream's do
        except ParkAbort:
            stopped["at"] = time.monotonic()

    thread = threading.Thread(target=synthesis)
    thread.start()
    inside.wait(30)
    time.sleep(0.2)
    asked = time.monotonic()
    status, _ = controller.request("park", 120)
    thread.join(30)
    if status != 200 or "at" not in stopped:
        raise RuntimeError(f"park answered {status}")
    latency = stopped["at"] - asked
    controller.request("unpark", 120)
    return latency


class Driver:
    """The CUDA driver's checkpoint API and NVML's memory reading, through ctypes."""

    def __init__(self) -> None:
        self.cuda = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int()
        self.cuda.cuInit(0)
        self.cuda.cuDriverGetVersion(ctypes.byref(version))
        self.version = version.value
        self.nvml = ctypes.CDLL("libnvidia-ml.so.1")
        self.nvml.nvmlInit_v2()
        self.handle = ctypes.c_void_p()
        self.nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(self.handle))
        driver = ctypes.create_string_buffer(96)
        self.nvml.nvmlSystemGetDriverVersion(driver, 96)
        self.driver = driver.value.decode()

    def offers_checkpoint(self) -> str:
        major = int(self.driver.split(".")[0]) if self.driver[:1].isdigit() else 0
        if major < 575:
            return f"driver {self.driver} (checkpoint of a PyTorch process needs 575 or later)"
        if not hasattr(self.cuda, "cuCheckpointProcessCheckpoint"):
            return f"driver {self.driver} has no cuCheckpointProcessCheckpoint"
        return ""

    def used(self) -> int:
        class Memory(ctypes.Structure):
            _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]

        memory = Memory()
        self.nvml.nvmlDeviceGetMemoryInfo(self.handle, ctypes.byref(memory))
        return memory.used

    def call(self, name: str, pid: int) -> None:
        status = getattr(self.cuda, name)(ctypes.c_int(pid), None)
        if status != 0:
            raise RuntimeError(f"{name} returned CUresult {status}")


def checkpoint_round(gib: float) -> dict:
    """Checkpoint and restore a child holding the model; the child is killed whatever happens."""
    driver = Driver()
    why = driver.offers_checkpoint()
    if why:
        return {"note": why}
    child = subprocess.Popen([sys.executable, __file__, "--child", str(gib)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if child.stdout.readline().strip() != "ready":
            return {"note": "the child did not load its model"}
        with_model = driver.used()
        started = time.monotonic()
        driver.call("cuCheckpointProcessLock", child.pid)
        driver.call("cuCheckpointProcessCheckpoint", child.pid)
        checkpoint = time.monotonic() - started
        parked_used = driver.used()
        started = time.monotonic()
        driver.call("cuCheckpointProcessRestore", child.pid)
        driver.call("cuCheckpointProcessUnlock", child.pid)
        restore = time.monotonic() - started
        child.stdin.write("check\n")
        child.stdin.flush()
        answer = child.stdout.readline().strip()
        return {
            "park": checkpoint,
            "unpark": restore,
            "used": parked_used,
            "freed": with_model - parked_used,
            "note": f"driver {driver.driver}; the restored model {answer}",
        }
    except Exception as error:
        return {"note": f"failed: {error}"}
    finally:
        child.kill()
        child.wait(10)


def child(gib: float) -> int:
    """The checkpointed process: loads the model, waits, then checks its weights survived."""
    import torch

    model = build_model(gib, "cuda")
    probe = model.t3[0].weight[0, :8].clone()
    torch.cuda.synchronize()
    print("ready", flush=True)
    sys.stdin.readline()
    same = torch.equal(model.t3[0].weight[0, :8], probe)
    print("computes as before" if same else "CHANGED", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.5, help="model size in GiB (default 4.5)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per host memory kind (the first pins cold pages)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child)
    if not 0.1 <= args.gib <= 64:
        parser.error(f"--gib {args.gib}: expected 0.1 to 64")
    why = no_gpu()
    if why:
        print(f"park.py: no GPU: {why}; nothing measured")
        return NO_GPU
    import torch

    torch.cuda.init()
    torch.ones(1, device="cuda")
    baseline = card_used()  # the CUDA context, before the model
    name = torch.cuda.get_device_name(0)
    model = build_model(args.gib, "cuda")
    loaded = card_used()
    rows = []
    for pinned in (True, False):
        for round_number in range(1, args.repeat + 1):
            result = park_round(model, pinned)
            kind = "pinned" if result["pinned"] else "pageable"
            rows.append(
                (
                    f"tensors to host, {kind} #{round_number}",
                    result["park"],
                    result["unpark"],
                    result["used"] - baseline,
                    f"allocated {result['allocated'] / MIB:.0f} MiB, reserved {result['reserved'] / MIB:.0f} MiB, "
                    f"{result['bytes'] / 2**30:.2f} GiB moved",
                )
            )
    latency = abort_latency(model)
    del model
    torch.cuda.empty_cache()
    checkpoint = checkpoint_round(args.gib)
    model_gib = (loaded - baseline) / 2**30
    print(f"{name}; CUDA {torch.version.cuda}; model {model_gib:.2f} GiB on the card; context {baseline / MIB:.0f} MiB")
    print(f"{'mechanism':<34} {'park s':>7} {'unpark s':>8} {'card after park (MiB, above context)':>38}  note")
    for label, park, unpark, residue, note in rows:
        print(f"{label:<34} {park:>7.2f} {unpark:>8.2f} {residue / MIB:>38.0f}  {note}")
    if "park" in checkpoint:
        print(
            f"{'cuda checkpoint (whole process)':<34} {checkpoint['park']:>7.2f} {checkpoint['unpark']:>8.2f} "
            f"{'all freed: ' + format(checkpoint['freed'] / MIB, '.0f') + ' MiB':>38}  {checkpoint['note']}"
        )
    else:
        print(f"{'cuda checkpoint (whole process)':<34} {'-':>7} {'-':>8} {'-':>38}  {checkpoint['note']}")
    print(f"{'abort of a step in flight':<34} {latency:>7.3f} {'':>8} {'':>38}  seconds from park asked to the step's ParkAbort")
    return 0


if __name__ == "__main__":
    sys.exit(main())
