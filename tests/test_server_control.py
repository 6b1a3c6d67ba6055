"""The gate's client of the server's control port (gate/sources/control.py): against the loopback
double (tests/controlport.py) for every answer and misbehaviour, and against the real control
port of docker/tts_layer (with the stand-in model of test_tts_layer.py), so the double and the
client cannot drift from the layer they stand for."""

from __future__ import annotations

import time

import pytest
from controlport import FakeControlPort
from loopback import unused_port
from tts_layer.states import Phase

from gate.sources.control import ANSWER_GRACE_SECONDS, ControlConfig, ControlError, ServerControl


def client(url: str, token_file, park_timeout: float = 0.5, timeout: float = 0.5) -> ServerControl:
    return ServerControl(ControlConfig(url, str(token_file), timeout, park_timeout))


@pytest.fixture
def token(tmp_path):
    path = tmp_path / "token"
    path.write_text("c0ntrol\n")
    return path


def test_park_state_unpark_against_the_double(token):
    with FakeControlPort() as port:
        port.reserved_after_park = 300 * 2**20
        control = client(port.base_url, token)
        assert control.state().phase == "serving"
        report = control.park()
        assert report.seconds > 0 and report.reserved_bytes == 300 * 2**20 and not report.already
        state = control.state()
        assert state.phase == "parked" and state.reserved_bytes == 300 * 2**20 and state.since is not None
        assert control.park().already  # a park asked twice is one park
        assert control.unpark().seconds > 0 and control.state().phase == "serving"
        # The server is told the gate's bound: it fails the park itself at the same deadline.
        assert [body for method, path, body in port.requests if path == "/park"][0] == {"deadline_seconds": 0.5}
        assert port.counts == {"parks": 1, "unparks": 1, "failures": 0}


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        (lambda port: setattr(port, "token", "rotated"), "the token was refused (401)"),
        (lambda port: port.set_phase(Phase.UNPARKING), "refused (409; the server is unparking): an unpark is under way"),
        (lambda port: port.set_phase(Phase.FAILED), "refused (409; the server is failed)"),
        (lambda port: port.fail.add("park"), "it failed (500; the server is now failed)"),
        (lambda port: port.hang.add("park"), "it passed its deadline (504; the server is now failed)"),
    ],
    ids=["401", "409 unparking", "409 failed", "500", "hangs"],
)
def test_a_park_that_does_not_park_is_one_line_naming_why(token, arrange, words):
    with FakeControlPort() as port:
        arrange(port)
        with pytest.raises(ControlError) as raised:
            client(port.base_url, token).park()
        assert words in str(raised.value) and "\n" not in str(raised.value)


def test_a_park_answered_after_its_deadline_fails_within_the_bound_though_the_server_parked(token):
    with FakeControlPort() as port:
        port.answer_delay = 3.0
        started = time.monotonic()
        with pytest.raises(ControlError, match="no complete answer within|no answer within"):
            client(port.base_url, token, park_timeout=0.3).park()
        assert time.monotonic() - started < 0.3 + ANSWER_GRACE_SECONDS + 1.0
        assert port.phase is Phase.PARKED  # the gate scales such a server to 0: parked or not, it goes


def test_a_control_answer_cut_mid_body_or_a_closed_port_is_a_failure_and_state_unreadable(token):
    with FakeControlPort() as port:
        port.cut_answer = True
        with pytest.raises(ControlError, match="connection reset|cut short|not a JSON object"):
            client(port.base_url, token).park()
        port.cut_answer = True
        assert client(port.base_url, token).state().phase is None
    closed = client(f"http://127.0.0.1:{unused_port()}", token)
    with pytest.raises(ControlError, match="connection refused"):
        closed.unpark()
    state = closed.state()
    assert state.phase is None and "connection refused" in state.problem


def test_a_token_file_that_cannot_be_read_fails_the_call_and_the_token_never_shows(tmp_path, token):
    with FakeControlPort() as port:
        with pytest.raises(ControlError, match="cannot read the control token from"):
            client(port.base_url, tmp_path / "missing").park()
        assert port.requests == []  # nothing was asked without it
        port.token = "rotated"
        state = client(port.base_url, token).state()
        assert state.phase is None and "401" in state.problem and "c0ntrol" not in state.problem


# -- the real control port -------------------------------------------------------------------------


def test_the_client_reads_the_real_control_ports_answers(tmp_path):
    """docker/tts_layer's own control server, over a stand-in model (CPU tensors): the answers the
    client parses are the layer's, not the double's."""
    from test_tts_layer import StandInEngine, controller_for
    from tts_layer import control as layer_control

    token = tmp_path / "token"
    token.write_text("s3cret\n")
    ctl, _ = controller_for(StandInEngine())
    server = layer_control.serve(ctl, token, "127.0.0.1", 0)
    try:
        control = client(f"http://127.0.0.1:{server.server_address[1]}", token, park_timeout=20, timeout=5)
        assert control.state().phase == "serving"
        parked = control.park()
        assert parked.seconds > 0 and parked.reserved_bytes is None and not parked.already  # "card": null on a CPU
        assert control.state().phase == "parked" and control.park().already
        assert control.unpark().seconds > 0 and control.state().phase == "serving"
        wrong = tmp_path / "wrong"
        wrong.write_text("not-the-token")
        with pytest.raises(ControlError, match=r"\(401\)"):
            client(control.config.url, wrong).park()
    finally:
        server.shutdown()
        server.server_close()
