"""The server image's control layer (docker/tts_layer), against stand-ins for upstream's
structures built with real PyTorch (CPU) modules; upstream itself is never here.

The stand-ins reproduce what the layer relies on, and nothing else:
- an AlignmentStreamAnalyzer whose `_add_attention_spy(self, tfmr, buffer_idx, layer_idx,
  head_idx)` registers a forward hook on `tfmr.layers[layer_idx].self_attn` and drops the handle,
  built anew for every generate() (chatterbox-v2's t3.inference);
- a model object like ChatterboxMultilingualTTS: nn.Modules t3/s3gen/ve under a plain object, a
  submodule registered twice (t3.patched_model after the first request), a tied weight, a view,
  a tensor attribute filled lazily (EspnetRelPositionalEncoding.pe), voice conditionals in a
  dataclass and a dict, and a prepare_conditionals that computes them from parameters;
- an engine whose synthesize catches every Exception (engine.py), around which the layer wraps.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from prometheus_client import generate_latest
from tts_layer import control, fixes, layer, metrics, settings, tensors, upstream
from tts_layer.admission import AdmissionApp
from tts_layer.parking import Controller, ParkAbort
from tts_layer.states import Phase, Verdict, decide

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")

# -- stand-ins ---------------------------------------------------------------------------------


class Attention(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(width, width)

    def forward(self, x):
        return self.proj(x), torch.softmax(x @ x.transpose(-1, -2), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.self_attn = Attention(width)

    def forward(self, x):
        return x + self.self_attn(x)[0]


class Transformer(torch.nn.Module):
    def __init__(self, width: int = 8, depth: int = 4) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(Layer(width) for _ in range(depth))

    def forward(self, x):
        for block in self.layers:
            x = block(x)
        return x


class LeakyAnalyzer:
    """Registers a hook on three attention layers per instance and keeps no handle."""

    HEADS = ((1, 0), (2, 0), (3, 0))

    def __init__(self, tfmr, queue=None, text_tokens_slice=(0, 1)):
        self.seen = [None] * len(self.HEADS)
        for index, (layer_index, head) in enumerate(self.HEADS):
            self._add_attention_spy(tfmr, index, layer_index, head)

    def _add_attention_spy(self, tfmr, buffer_idx, layer_idx, head_idx):
        def spy(module, inputs, output):
            self.seen[buffer_idx] = output[1].detach().cpu()

        tfmr.layers[layer_idx].self_attn.register_forward_hook(spy)


class T3(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tfmr = Transformer()
        self.speech_head = torch.nn.Linear(8, 8, bias=False)
        self.speech_emb = torch.nn.Embedding(8, 8)
        self.speech_emb.weight = self.speech_head.weight  # tied: one storage, two names

    def inference(self, x):
        LeakyAnalyzer(self.tfmr)
        # A second registration of shared modules, as T3HuggingfaceBackend is after a request.
        self.patched_model = torch.nn.ModuleDict({"model": self.tfmr, "head": self.speech_head})
        return self.speech_head(self.tfmr(x))


class PositionalEncoding(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pe = None  # a plain attribute, filled on first use

    def forward(self, x):
        if self.pe is None:
            self.pe = torch.arange(x.shape[-1], dtype=x.dtype)
        return x + self.pe


class S3Gen(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.flow = torch.nn.Linear(8, 8)
        self.pos = PositionalEncoding()
        self.register_buffer("window", torch.hann_window(8))
        self.window_half = self.window[:4]  # a view of a buffer: same storage

    def embed_ref(self, wav):
        return self.flow(wav)


@dataclass
class Conds:
    speaker: torch.Tensor
    gen: dict


class StandInTTS:
    """The shape of ChatterboxMultilingualTTS that the layer walks."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.sr = 24000
        self.t3, self.s3gen, self.ve = T3().eval(), S3Gen().eval(), torch.nn.Linear(8, 4).eval()
        self.device = "cpu"
        self.conds: Conds | None = None

    def prepare_conditionals(self, wav):
        self.conds = Conds(self.ve(wav), {"embedding": self.s3gen.embed_ref(wav)})

    def generate(self, text_len: int = 3):
        x = torch.ones(1, text_len, 8)
        self.prepare_conditionals(torch.ones(1, 8))
        with torch.inference_mode():
            tokens = self.t3.inference(x)
            return self.s3gen.pos(self.s3gen.flow(tokens)).reshape(1, -1)


class StandInEngine:
    """engine.py's shape: a module-level model, synthesize catching every Exception."""

    def __init__(self) -> None:
        self.chatterbox_model = StandInTTS()
        self.calls = 0

    def synthesize(self, text="hi", **kwargs):
        self.calls += 1
        try:
            return self.chatterbox_model.generate(), self.chatterbox_model.sr
        except Exception:
            return None, None

    def unload_model(self):
        self.chatterbox_model = None
        return True

    def reload_model(self):
        self.chatterbox_model = StandInTTS()
        return True


def hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


# -- the states --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "op", "busy", "verdict"),
    [
        (Phase.SERVING, "park", (), Verdict.START),
        (Phase.SERVING, "park", ("synthesis",), Verdict.START),
        (Phase.SERVING, "park", ("reload",), Verdict.REFUSE),
        (Phase.SERVING, "park", ("unload",), Verdict.REFUSE),
        (Phase.PARKING, "park", (), Verdict.JOIN),
        (Phase.PARKED, "park", (), Verdict.ALREADY),
        (Phase.UNPARKING, "park", (), Verdict.REFUSE),
        (Phase.FAILED, "park", (), Verdict.REFUSE),
        (Phase.PARKED, "unpark", (), Verdict.START),
        (Phase.UNPARKING, "unpark", (), Verdict.JOIN),
        (Phase.SERVING, "unpark", (), Verdict.ALREADY),
        (Phase.PARKING, "unpark", (), Verdict.REFUSE),
        (Phase.FAILED, "unpark", (), Verdict.REFUSE),
    ],
)
def test_what_a_park_or_an_unpark_does_in_each_state(phase, op, busy, verdict):
    got, reason = decide(phase, op, busy)
    assert got is verdict
    assert bool(reason) == (verdict is Verdict.REFUSE)


# -- the fixes ---------------------------------------------------------------------------------


def fresh_analyzer() -> type:
    return type("AlignmentStreamAnalyzer", (LeakyAnalyzer,), {})


def test_without_the_fix_every_generate_leaks_three_hooks():
    model = StandInTTS()
    model.t3.inference = lambda x, t3=model.t3: (fresh_analyzer()(t3.tfmr), t3.tfmr(x))[1]
    counts = []
    for _ in range(4):
        model.t3.inference(torch.ones(1, 2, 8))
        counts.append(hooks(model.t3))
    assert counts == [3, 6, 9, 12]


def test_the_fix_keeps_the_live_analyzers_three_hooks_and_they_still_see():
    cls = fresh_analyzer()
    registry = fixes.SpyRegistry()
    assert fixes.fix_attention_hooks(cls, registry).applied
    assert fixes.fix_attention_hooks(cls, registry).reason == "already applied"  # once, however often applied
    tfmr = Transformer()
    counts, analyzers = [], []
    for _ in range(5):
        analyzers.append(cls(tfmr))
        tfmr(torch.ones(1, 2, 8))
        counts.append(hooks(tfmr))
    assert counts == [3, 3, 3, 3, 3]
    assert all(seen is not None for seen in analyzers[-1].seen)  # the live analyzer's spies work
    assert registry.removed == 12
    # A stale analyzer no longer sees anything: its hooks are gone.
    analyzers[0].seen = [None] * 3
    tfmr(torch.ones(1, 2, 8))
    assert analyzers[0].seen == [None] * 3


def test_a_renamed_spy_or_a_changed_signature_leaves_the_class_as_upstream_made_it():
    renamed = type("AlignmentStreamAnalyzer", (), {"__init__": LeakyAnalyzer.__init__, "_spy": LeakyAnalyzer._add_attention_spy})
    result = fixes.fix_attention_hooks(renamed, fixes.SpyRegistry())
    assert not result.applied and result.reason == "AlignmentStreamAnalyzer._add_attention_spy not found"
    assert renamed.__init__ is LeakyAnalyzer.__init__

    def other(self, tfmr, layer_idx):
        pass

    changed = type("AlignmentStreamAnalyzer", (LeakyAnalyzer,), {"_add_attention_spy": other})
    result = fixes.fix_attention_hooks(changed, fixes.SpyRegistry())
    assert not result.applied and "expected (self, tfmr, buffer_idx, layer_idx, head_idx)" in result.reason
    assert changed._add_attention_spy is other


def test_a_transformer_without_layers_falls_back_to_upstreams_spy_and_logs_once(caplog):
    def spy(self, tfmr, buffer_idx, layer_idx, head_idx):
        pass

    cls = type("AlignmentStreamAnalyzer", (LeakyAnalyzer,), {"_add_attention_spy": spy})
    registry = fixes.SpyRegistry()
    assert fixes.fix_attention_hooks(cls, registry).applied
    cls(torch.nn.Linear(2, 2))
    cls(torch.nn.Linear(2, 2))
    assert [r.message for r in caplog.records if "at run time" in r.message] == [
        "fix attention-hooks not applied at run time: tfmr.layers[1].self_attn: 'Linear' object has no attribute 'layers'"
    ]


def test_conditioning_keeps_no_autograd_graph_with_the_fix():
    leaky = StandInTTS()
    leaky.prepare_conditionals(torch.ones(1, 8))
    assert leaky.conds.gen["embedding"].grad_fn is not None  # the graph upstream keeps between requests

    cls = type("ChatterboxMultilingualTTS", (StandInTTS,), {})
    assert fixes.fix_conditioning([cls]).applied
    fixed = cls()
    fixed.prepare_conditionals(torch.ones(1, 8))
    assert fixed.conds.gen["embedding"].grad_fn is None and fixed.conds.speaker.grad_fn is None
    assert torch.equal(fixed.conds.gen["embedding"], leaky.conds.gen["embedding"])
    # And the model still speaks, the same, with conditionals made under inference_mode.
    assert torch.equal(fixed.generate(), leaky.generate())
    missing = fixes.fix_conditioning([type("ChatterboxTTS", (), {})])
    assert not missing.applied and missing.reason == "prepare_conditionals not found on ChatterboxTTS"


# -- finding and moving the tensors ------------------------------------------------------------


def storages(tensors_: list[torch.Tensor]) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in tensors_}


def test_every_tensor_is_found_once_and_shared_storage_moves_once():
    model = StandInTTS()
    reference = model.generate()  # fills pe, conds and patched_model
    found = tensors.find_tensors(model, CPU)
    ids = {id(t) for t in found}
    for expected in (model.t3.speech_head.weight, model.s3gen.pos.pe, model.s3gen.window, model.s3gen.window_half, model.conds.speaker):
        assert id(expected) in ids
    assert id(model.conds.gen["embedding"]) in ids
    assert len(ids) == len(found)
    plan = tensors.Plan.of(found)
    # The tied weight is one Parameter; the buffer and its view share one storage.
    assert len(plan.groups) == len(storages(found)) < len(found)
    weight = model.t3.speech_head.weight
    expected_bytes = sum(group[0].untyped_storage().nbytes() for group in plan.groups)
    host = tensors.to_host(found, CPU, pinned=True)
    assert not host.pinned  # no CUDA here: pageable
    arena = host.arena.untyped_storage().data_ptr()
    assert storages(found) == {arena}  # every tensor now views the one arena
    assert model.t3.speech_head.weight is weight and model.t3.speech_emb.weight is weight  # same objects, moved
    assert model.s3gen.window_half.data_ptr() == model.s3gen.window.data_ptr()
    assert host.nbytes == expected_bytes
    assert torch.equal(model.generate(), reference)  # parked on a CPU, it still computes the same
    tensors.to_device(host)
    assert host.arena.numel() == 0
    assert len(storages(found)) == len(plan.groups)  # one storage per group again, shared as before
    assert model.s3gen.window_half.data_ptr() == model.s3gen.window.data_ptr()
    assert model.t3.speech_emb.weight.data_ptr() == model.t3.speech_head.weight.data_ptr()
    assert torch.equal(model.generate(), reference)


def test_an_unpark_that_cannot_copy_leaves_the_model_on_the_host():
    model = StandInTTS()
    model.generate()
    found = tensors.find_tensors(model, CPU)
    host = tensors.to_host(found, CPU)
    before = [t.data_ptr() for t in found]
    host.home = torch.device("cuda")  # no card here: the copy back fails, as on a card with no room
    with pytest.raises((RuntimeError, AssertionError)):
        tensors.to_device(host)
    assert [t.data_ptr() for t in found] == before and host.arena.numel() > 0


def test_device_caches_are_emptied():
    table, calls = {"8000_cpu": 1, "8000_cuda:0": 2}, []

    @__import__("functools").lru_cache(4)
    def resampler(rate):
        calls.append(rate)
        return rate

    resampler(16000)
    cleared = tensors.release(
        [upstream.DeviceCache("mel", upstream.clear_dict(table)), upstream.DeviceCache("resampler", upstream.clear_lru(resampler))]
    )
    assert cleared == {"mel": 2, "resampler": 1} and table == {} and resampler.cache_info().currsize == 0


# -- the controller ----------------------------------------------------------------------------


def controller_for(engine: StandInEngine, **kwargs) -> tuple[Controller, metrics.ServerMetrics]:
    server_metrics = metrics.ServerMetrics()
    ctl = Controller(lambda: engine.chatterbox_model, list, server_metrics, **kwargs)
    layer.bind_engine(engine, ctl, server_metrics)
    return ctl, server_metrics


def sample(server_metrics: metrics.ServerMetrics, name: str, labels: dict | None = None) -> float | None:
    return server_metrics.registry.get_sample_value(name, labels or {})


def test_park_then_unpark_moves_the_model_and_reports_each_step():
    engine = StandInEngine()
    ctl, server_metrics = controller_for(engine)
    wav, _ = engine.synthesize()
    status, parked = ctl.request("park")
    assert status == 200 and parked["state"] == "parked" and not parked["already"]
    assert set(parked["seconds"]) == {"abort", "copy", "release", "total"}
    assert parked["moved"]["bytes"] > 0 and parked["moved"]["host_memory"] == "pageable"
    assert parked["host"]["model_bytes"] == parked["moved"]["bytes"] and parked["card"] is None
    assert not ctl.admitting() and ctl.state()["state"] == "parked"
    with pytest.raises(ParkAbort):
        engine.synthesize()
    status, again = ctl.request("park")
    assert status == 200 and again["already"] and again["seconds"] == parked["seconds"]
    status, unparked = ctl.request("unpark")
    assert status == 200 and unparked["state"] == "serving" and set(unparked["seconds"]) == {"copy", "release", "total"}
    assert torch.equal(engine.synthesize()[0], wav)
    assert ctl.counts == {"parks": 1, "unparks": 1, "failures": 0}
    assert sample(server_metrics, "tts_server_parks_total") == 1 and sample(server_metrics, "tts_server_unparks_total") == 1
    assert sample(server_metrics, "tts_server_park_state", {"state": "serving"}) == 1
    assert sample(server_metrics, "tts_server_chunks_total", {"outcome": "aborted"}) == 0  # refused at the door, not aborted


def test_a_synthesis_in_flight_is_aborted_at_its_next_module_call():
    engine = StandInEngine()
    ctl, server_metrics = controller_for(engine)
    inside, outcome = threading.Event(), {}
    model = engine.chatterbox_model
    steps = []

    def long_generate():
        inside.set()
        for _ in range(100000):  # a T3 sampling loop: one module call per step
            model.t3.tfmr(torch.ones(1, 2, 8))
            steps.append(time.monotonic())
        return torch.zeros(1, 10)

    model.generate = long_generate

    def client():
        try:
            outcome["result"] = engine.synthesize()
        except Exception as error:  # upstream's handlers catch every Exception: ParkAbort must not be one
            outcome["exception"] = error
        except BaseException as error:
            outcome["base"] = error

    thread = threading.Thread(target=client)
    thread.start()
    inside.wait(5)
    asked = time.monotonic()
    status, parked = ctl.request("park", 10)
    thread.join(5)
    assert status == 200 and parked["aborted_synthesis"]
    assert isinstance(outcome.get("base"), ParkAbort) and "exception" not in outcome
    assert parked["seconds"]["abort"] < 1 and all(step <= asked + parked["seconds"]["abort"] for step in steps)
    assert sample(server_metrics, "tts_server_chunks_total", {"outcome": "aborted"}) == 1
    assert not torch.nn.modules.module._global_forward_pre_hooks  # the abort hook is gone once parked
    assert ctl.request("unpark")[0] == 200


def hold_synthesis(ctl: Controller) -> tuple[threading.Event, threading.Thread]:
    """A synthesis that holds the model without a module call (upstream's numpy mel): a park waits for it."""
    release, entered = threading.Event(), threading.Event()

    def run():
        try:
            with ctl.synthesis():
                entered.set()
                release.wait(10)
        except ParkAbort:
            entered.set()

    thread = threading.Thread(target=run)
    thread.start()
    entered.wait(5)
    return release, thread


def test_a_park_asked_twice_is_one_park_and_an_unpark_meanwhile_is_refused():
    engine = StandInEngine()
    ctl, _ = controller_for(engine)
    release, holder = hold_synthesis(ctl)
    answers = []
    parks = [threading.Thread(target=lambda: answers.append(ctl.request("park", 10))) for _ in range(2)]
    for park in parks:
        park.start()
    time.sleep(0.2)
    assert ctl.phase is Phase.PARKING
    status, refused = ctl.request("unpark")
    assert status == 409 and refused["state"] == "parking" and "a park is under way" in refused["error"]
    release.set()
    for park in parks + [holder]:
        park.join(5)
    assert [a[0] for a in answers] == [200, 200] and answers[0][1] is answers[1][1]
    assert ctl.counts["parks"] == 1


def test_a_park_past_its_deadline_leaves_failed_and_nothing_is_admitted():
    engine = StandInEngine()
    ctl, server_metrics = controller_for(engine)
    release, holder = hold_synthesis(ctl)
    started = time.monotonic()
    status, body = ctl.request("park", 0.3)
    took = time.monotonic() - started
    release.set()
    holder.join(5)
    assert status == 504 and body["state"] == "failed" and body["error"].startswith("park passed its deadline of 0.3s")
    assert took < 2
    time.sleep(0.2)
    assert ctl.phase is Phase.FAILED  # the park's thread ended later: the state stays failed
    assert ctl.request("unpark")[0] == 409 and ctl.request("park")[0] == 409
    assert not ctl.admitting()
    assert sample(server_metrics, "tts_server_park_failures_total", {"op": "park"}) == 1


def test_a_park_is_refused_while_upstream_replaces_the_model_and_a_reload_is_refused_while_parked():
    engine = StandInEngine()
    ctl, _ = controller_for(engine)
    inside, release = threading.Event(), threading.Event()
    reload_model = engine.reload_model

    def slow_reload():
        inside.set()
        release.wait(5)

    engine.reload_model = slow_reload
    layer.bind_engine(engine, ctl, ctl.metrics)
    thread = threading.Thread(target=engine.reload_model)
    thread.start()
    inside.wait(5)
    status, body = ctl.request("park")
    release.set()
    thread.join(5)
    assert status == 409 and "reload" in body["error"] and ctl.phase is Phase.SERVING
    engine.reload_model = reload_model
    layer.bind_engine(engine, ctl, ctl.metrics)
    assert ctl.request("park")[0] == 200
    with pytest.raises(ParkAbort):
        engine.reload_model()


def test_a_park_the_pods_memory_limit_cannot_hold_fails_and_leaves_the_model_where_it_was():
    engine = StandInEngine()
    ctl, _ = controller_for(engine, memory_room=lambda: 1024)
    weight = engine.chatterbox_model.t3.speech_head.weight
    where = weight.data_ptr()
    status, body = ctl.request("park")
    assert status == 500 and body["state"] == "failed" and "the pod's memory limit leaves 1024" in body["error"]
    assert weight.data_ptr() == where


# -- the control port --------------------------------------------------------------------------


@pytest.fixture
def control_port(tmp_path):
    engine = StandInEngine()
    ctl, _ = controller_for(engine)
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    server = control.serve(ctl, token, "127.0.0.1", 0)
    yield server.server_address[1], ctl, token
    server.shutdown()
    server.server_close()


def call(port: int, method: str, path: str, token: str | None = "s3cret", body: bytes | None = None) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}"), dict(answer.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else {}, dict(error.headers)


def test_the_control_port_wants_the_token_and_says_what_it_serves(control_port):
    port, ctl, token = control_port
    assert call(port, "GET", "/state", token=None)[0] == 401
    assert call(port, "GET", "/state", token="wrong")[0] == 401
    status, state, _ = call(port, "GET", "/state")
    assert status == 200 and state["state"] == "serving" and state["model"] == {"loaded": True, "device": "cpu"}
    assert set(state) == {"state", "since", "synthesizing", "model", "card", "host", "counts", "last", "retry_after_seconds"}
    assert call(port, "GET", "/nope")[0] == 404
    status, _, headers = call(port, "GET", "/park")
    assert status == 405 and headers["Allow"] == "POST"
    for bad in (b"[]", b'{"deadline_seconds": 0}', b'{"deadline_seconds": "30"}', b'{"deadline": 3}', b"not json"):
        status, body, _ = call(port, "POST", "/park", body=bad)
        assert status == 400 and "expected" in body["error"], bad
    assert ctl.phase is Phase.SERVING  # nothing was done
    token.write_text("rotated")  # a rotated Secret takes effect without a restart
    assert call(port, "GET", "/state")[0] == 401 and call(port, "GET", "/state", token="rotated")[0] == 200


def test_a_killed_control_call_does_not_stop_its_park(control_port):
    port, ctl, _ = control_port
    release, holder = hold_synthesis(ctl)
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"POST /park HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Length: 0\r\n\r\n")
        time.sleep(0.2)
    # The caller is gone; the park waits for the synthesis, then parks.
    assert call(port, "GET", "/state")[1]["state"] == "parking"
    release.set()
    holder.join(5)
    for _ in range(100):
        if ctl.phase is Phase.PARKED:
            break
        time.sleep(0.05)
    status, state, _ = call(port, "GET", "/state")
    assert state["state"] == "parked" and state["counts"]["parks"] == 1 and state["last"]["op"] == "park"


# -- the clients' port (ASGI) ------------------------------------------------------------------


class StandInApp:
    """Upstream's app as the layer sees it: speech handlers that synthesize blocking and turn any
    Exception into a 500; everything else answers 200."""

    def __init__(self, engine: StandInEngine) -> None:
        self.engine = engine

    async def __call__(self, scope, receive, send):
        try:
            if scope["path"] in ("/v1/audio/speech", "/tts"):
                wav, _ = self.engine.synthesize()
            status = 200
        except Exception:
            status = 500
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"RIFF"})


def asgi(app, method: str, path: str) -> tuple[int, dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_the_clients_port_answers_503_with_retry_after_unless_serving():
    engine = StandInEngine()
    ctl, server_metrics = controller_for(engine, retry_after_seconds=45)
    app = AdmissionApp(StandInApp(engine), ctl, server_metrics)
    assert asgi(app, "POST", "/v1/audio/speech")[0] == 200
    ctl.request("park")
    status, headers = asgi(app, "POST", "/v1/audio/speech")
    assert status == 503 and headers["retry-after"] == "45"
    assert asgi(app, "POST", "/tts")[0] == 503
    assert asgi(app, "POST", "/api/unload")[0] == 409 and asgi(app, "POST", "/restart_server")[0] == 409
    assert asgi(app, "GET", "/api/model-info")[0] == 200  # the rest is upstream's
    ctl.request("unpark")
    assert asgi(app, "POST", "/api/unload")[0] == 200
    assert sample(server_metrics, "tts_server_requests_total", {"endpoint": "/v1/audio/speech", "code": "503"}) == 1
    assert sample(server_metrics, "tts_server_requests_total", {"endpoint": "/tts", "code": "503"}) == 1


def test_a_synthesis_aborted_by_a_park_answers_503_not_upstreams_500():
    engine = StandInEngine()
    ctl, server_metrics = controller_for(engine)
    app = AdmissionApp(StandInApp(engine), ctl, server_metrics)
    model = engine.chatterbox_model
    inside = threading.Event()

    def long_generate():
        inside.set()
        while True:
            model.t3.tfmr(torch.ones(1, 2, 8))

    model.generate = long_generate
    answer = {}
    thread = threading.Thread(target=lambda: answer.setdefault("it", asgi(app, "POST", "/v1/audio/speech")))
    thread.start()
    inside.wait(5)
    assert ctl.request("park", 10)[0] == 200
    thread.join(5)
    assert answer["it"][0] == 503 and "retry-after" in answer["it"][1]


# -- metrics, settings, the build check --------------------------------------------------------


def test_metrics_count_chunks_audio_and_the_real_time_factor_and_read_hooks_live():
    engine = StandInEngine()
    ctl, server_metrics = controller_for(engine)
    layer.live_metrics(server_metrics, ctl, lambda: engine.chatterbox_model)
    text = generate_latest(server_metrics.registry).decode()
    assert "tts_server_realtime_factor " not in text  # no chunk yet: no factor, rather than a 0
    for _ in range(3):
        engine.synthesize()
    assert sample(server_metrics, "tts_server_chunks_total", {"outcome": "ok"}) == 3
    assert sample(server_metrics, "tts_server_audio_seconds_total") == pytest.approx(3 * 24 / 24000)
    assert sample(server_metrics, "tts_server_synthesis_seconds_count") == 3
    assert sample(server_metrics, "tts_server_realtime_factor_baseline") > 0
    assert sample(server_metrics, "tts_server_model_hooks") == 9  # the stand-in leaks: 3 per generate
    assert sample(server_metrics, "tts_server_host_memory_bytes") > 0
    assert sample(server_metrics, "process_cpu_seconds_total") > 0  # the soak's measure of work per request
    engine.chatterbox_model.generate = lambda: (_ for _ in ()).throw(RuntimeError("CUDA error"))
    assert engine.synthesize() == (None, None)
    assert sample(server_metrics, "tts_server_chunks_total", {"outcome": "failed"}) == 1
    assert sample(server_metrics, "tts_server_errors_total", {"stage": "synthesis"}) == 1


def test_a_stalled_scraper_does_not_hold_the_metrics_port(monkeypatch):
    monkeypatch.setattr(metrics, "SCRAPE_SOCKET_TIMEOUT", 0.3)
    server = metrics.serve(metrics.ServerMetrics().registry, "127.0.0.1", 0)
    try:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port)):  # connects and says nothing
            started = time.monotonic()
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            assert time.monotonic() - started < 2
        assert 'tts_server_park_state{state="serving"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"TTS_CONTROL_PORT": "http"}, "TTS_CONTROL_PORT='http': expected a port, 1-65535, or 0 for no control port"),
        ({"TTS_PARK_DEADLINE_SECONDS": "0"}, "TTS_PARK_DEADLINE_SECONDS='0': expected seconds, 1-600"),
        ({"TTS_PARK_PIN": "maybe"}, "TTS_PARK_PIN='maybe': expected true or false"),
    ],
)
def test_a_bad_setting_stops_the_start_with_one_line(env, error):
    result = subprocess.run(
        [sys.executable, "-m", "tts_layer"], env={"PYTHONPATH": str(ROOT / "docker"), **env}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and result.stderr == f"tts_layer: {error}\n"


def test_settings_default_to_the_charts_ports():
    settings_ = settings.Settings.from_env({"TTS_FIXES": "off", "TTS_METRICS_PORT": "0"})
    assert (settings_.control_port, settings_.metrics_port, settings_.fixes, settings_.park_pin) == (8005, 0, False, True)


STAND_IN_CHATTERBOX = {
    "chatterbox/__init__.py": "",
    "chatterbox/models/__init__.py": "",
    "chatterbox/models/t3/__init__.py": "",
    "chatterbox/models/t3/inference/__init__.py": "",
    "chatterbox/models/t3/inference/alignment_stream_analyzer.py": (
        "class AlignmentStreamAnalyzer:\n"
        "    def __init__(self, tfmr, queue, text_tokens_slice): pass\n"
        "    def _add_attention_spy(self, tfmr, buffer_idx, layer_idx, head_idx): pass\n"
    ),
    "chatterbox/mtl_tts.py": "class ChatterboxMultilingualTTS:\n    def prepare_conditionals(self, wav_fpath): pass\n",
    "chatterbox/tts.py": "class ChatterboxTTS:\n    def prepare_conditionals(self, wav_fpath): pass\n",
    "chatterbox/tts_turbo.py": "class ChatterboxTurboTTS:\n    def prepare_conditionals(self, wav_fpath): pass\n",
    "chatterbox/models/s3gen/__init__.py": "",
    "chatterbox/models/s3gen/s3gen.py": "import functools\n@functools.lru_cache(100)\ndef get_resampler(a, b, device): pass\n",
    "chatterbox/models/s3gen/utils/__init__.py": "",
    "chatterbox/models/s3gen/utils/mel.py": "mel_basis = {}\nhann_window = {}\n",
    "app/engine.py": (
        "chatterbox_model = None\nMODEL_LOADED: bool = False\nmodel_device = None\n"
        "def load_model(): pass\ndef synthesize(text): pass\ndef unload_model(): pass\ndef reload_model(): pass\n"
    ),
    "app/server.py": (
        "app = FastAPI()\n"
        "@app.post('/v1/audio/speech')\nasync def a(): pass\n@app.post('/tts', responses={})\nasync def b(): pass\n"
        "@app.post('/api/unload')\nasync def c(): pass\n@app.post('/restart_server')\nasync def d(): pass\n"
    ),
}


def build_check() -> list[str]:
    """The image build's check, as Dockerfile.cu128 runs it."""
    lines = [line for line in (ROOT / "Dockerfile.cu128").read_text().splitlines() if "tts_layer.check" in line and line.startswith("RUN")]
    assert len(lines) == 1, "Dockerfile.cu128 must run the layer's check once"
    return lines[0].removeprefix("RUN ").split()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (None, None),
        (("chatterbox/models/t3/inference/alignment_stream_analyzer.py", "_add_attention_spy", "_spy"), "_add_attention_spy not found"),
        (("chatterbox/tts_turbo.py", "ChatterboxTurboTTS", "TurboTTS"), "chatterbox.tts_turbo.ChatterboxTurboTTS not found"),
        (("chatterbox/models/s3gen/utils/mel.py", "hann_window = {}", "hann_window = None"), "hann_window is not a dict"),
        (("app/engine.py", "def reload_model", "def reload"), "engine.py: no function reload_model()"),
        (("app/server.py", "'/api/unload'", "'/api/free'"), "server.py: no route POST /api/unload"),
    ],
)
def test_the_image_build_fails_when_upstream_moved_what_the_layer_relies_on(tmp_path, change, problem):
    for name, text in STAND_IN_CHATTERBOX.items():
        if change and name == change[0]:
            text = text.replace(change[1], change[2])
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    command = build_check()
    assert command[:3] == ["python3", "-m", "tts_layer.check"]
    result = subprocess.run(
        [sys.executable, "-m", "tts_layer.check", str(tmp_path / "app")],
        env={"PYTHONPATH": f"{tmp_path}:{ROOT / 'docker'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if problem is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1 and problem in result.stderr.splitlines()[0], result.stderr


def test_the_gpu_park_bench_says_no_gpu_cleanly_on_a_machine_without_one():
    """bench/gpu/park.py is for a machine with an NVIDIA GPU; here (CPU PyTorch) it says so and stops."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu" / "park.py")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("park.py: no GPU: torch ") and result.stdout.endswith("; nothing measured\n")
    assert result.stderr == ""
