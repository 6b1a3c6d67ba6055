"""Where the chart's refusals come from: one template, templates/validation/checks.yaml, which Helm
renders before every other (the deepest first, then reverse alphabetical: validation/ after
tests/), so an error never names the test pod's template or any other; and what a render leaves
to the gate."""

from __future__ import annotations

import pytest
import yaml
from helm import documents, one, render
from helm_python.errors import HelmError
from typer.testing import CliRunner

from gate.cli import app

PLACE = "execution error at (tts/templates/validation/checks.yaml:"

REFUSED = {
    "two settings that disagree": {"gate": {"source": "dcgm", "device": {"source": "dcgm", "url": "http://dcgm:9400/metrics"}}},
    "a window whose start is its end": {"gate": {"window": "02:00-02:00"}},
    "a mistyped time zone": {"gate": {"timeZone": "Europe/Londn"}},
    "an explicit schedule": {"gate": {"cronJobs": {"windowUp": {"schedule": "0 2 * * *"}}}},
    "nothing to give the card back": {
        "gate": {"controller": {"enabled": False}, "sidecar": {"enabled": False}, "cronJobs": {"guard": {"enabled": False}}}
    },
    "an existing claim without a name": {"persistence": {"type": "existingClaim"}},
    "an NFS volume without a server": {"persistence": {"type": "nfs"}},
    "a memory limit that cannot hold a parked model": {"server": {"resources": {"limits": {"memory": "8Gi"}}}},
    "a memory quantity not in whole Mi or Gi": {"server": {"resources": {"limits": {"memory": "12.5G"}}}},
    "a PriorityClass to create without a name": {"priorityClass": {"create": True}, "server": {"priorityClassName": ""}},
}


@pytest.mark.parametrize("values", REFUSED.values(), ids=REFUSED.keys())
def test_every_refusal_is_one_line_from_the_validation_template(values):
    with pytest.raises(HelmError) as error:
        render(values)
    message = str(error.value).strip()
    assert message.startswith(PLACE), message
    assert len(message.splitlines()) == 1, message


# A value one setting's rule refuses, or a key no setting has: values.schema.json (generated from
# the gate's table) refuses it before any template runs, naming the path and the value; no
# template is named at all.
SCHEMA_REFUSED = {
    "a setting": ({"gate": {"floor": "6.5"}}, "at '/gate/floor': '6.5' does not match pattern"),
    "an unknown value under gate": ({"gate": {"flooor": "6GiB"}}, "at '/gate': additional properties 'flooor' not allowed"),
}


@pytest.mark.parametrize(("values", "says"), SCHEMA_REFUSED.values(), ids=SCHEMA_REFUSED.keys())
def test_a_value_the_schema_refuses_is_named_with_its_path_before_any_template(values, says):
    with pytest.raises(HelmError) as error:
        render(values)
    message = str(error.value)
    assert "values don't meet the specifications of the schema" in message, message
    assert says in message, message
    assert "templates/" not in message, message


def test_a_floor_at_or_above_the_total_is_refused_by_the_gate_in_one_line():
    """The chart parses no size: a floor the card cannot leave free renders, and every gate
    container (and `helm test`'s check) refuses the settings file it mounts, in the gate's words."""
    rendered = render({"gate": {"floor": "16GiB", "total": "15360MiB"}})
    document = one(documents(rendered), "ConfigMap", "tts-gate-config")["data"]["gate.yaml"]
    assert yaml.safe_load(document)["floor"] == "16GiB"
    result = CliRunner().invoke(app, ["check-config", "-"], input=document)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "floor: invalid floor '16GiB': it is not below the card's total 15.00 GiB" in result.stderr
