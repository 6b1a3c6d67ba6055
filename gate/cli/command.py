"""How a command is declared and run: the shared options it takes, its settings resolved, every
expected failure mapped to one stderr line and its exit status, its report printed."""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import typer

from gate import settings as gate_settings
from gate.cli.options import COMMON, SETTING_PARAMS, Group
from gate.kube.errors import KubeError
from gate.options import Options, obtain, request
from gate.sources import SourceError, deprecation
from gate.status import ExitStatus, for_kube_error
from gate.units import InvalidValue

# A bearer token, or a JWT (a service account token) wherever it appears in text.
_SECRETS = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """Tokens out of anything the gate prints about a failure: a library's error message or a
    traceback may carry a request's Authorization header."""
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "<redacted>", text)


def fail(message: str, status: ExitStatus) -> NoReturn:
    """One line on stderr, then the exit status: the only way the gate reports a failure."""
    typer.echo(f"gate: {redact(' '.join(message.split()))}", err=True)
    raise typer.Exit(code=int(status))


def run_reporting_errors(body: Callable[[], None], debug: bool) -> None:
    """Run a command, turning every expected failure into one stderr line and its exit status."""
    try:
        body()
    except typer.Exit:
        raise
    except InvalidValue as exc:
        fail(str(exc), ExitStatus.USAGE)
    except KubeError as exc:
        fail(str(exc), for_kube_error(exc))
    except SourceError as exc:
        fail(str(exc), ExitStatus.METRICS)
    except KeyboardInterrupt:
        fail("interrupted", ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # The reader left (`gate ... | head`): nothing is wrong and nothing more can be said.
        _quiet_stdout()
        raise typer.Exit(code=int(ExitStatus.BROKEN_PIPE)) from None
    except Exception as exc:  # a bug: one line unless asked for the traceback
        if debug:
            typer.echo(redact(traceback.format_exc()), err=True, nl=False)
        fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", ExitStatus.ERROR)


def warn_deprecated(written: Mapping[str, Any]) -> None:
    """One line for each old name among the settings as written (a source renamed), once, at start."""
    for key in ("source", "device.source"):
        line = deprecation(written.get(key))
        if line:
            typer.echo(f"gate: warning: {line}", err=True)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit does not fail again."""
    # Not a file descriptor (a test's captured stream): nothing flushes to a pipe.
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def echo_json(payload: Any) -> None:
    """Pretty for a person at a terminal; one line for a log (a CronJob's, a pipe)."""
    typer.echo(json.dumps(payload, indent=2 if sys.stdout.isatty() else None))


# Click's ParameterSource, by name (Typer carries its own copy of Click).
_ORIGINS = {"COMMANDLINE": gate_settings.Origin.FLAG, "ENVIRONMENT": gate_settings.Origin.VARIABLE}
# Typer passes the Click context to a parameter annotated so; the commands declare it to learn
# where each value came from.
CONTEXT = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)


def given_settings(ctx: typer.Context, names: dict[str, str], values: dict[str, Any]) -> dict[str, tuple[Any, gate_settings.Origin]]:
    """The settings a flag or a variable gave (parameter name -> its key in `names`), with which
    of the two; what neither gave is left to the file and the defaults (`settings.resolve`)."""
    given = {}
    for param, key in names.items():
        source = ctx.get_parameter_source(param)
        origin = _ORIGINS.get(source.name) if source is not None else None
        if origin is not None:
            given[key] = (values[param], origin)
    return given


def with_groups(command: Callable[..., None]) -> Callable[..., None]:
    """`command` as Typer reads it: each parameter whose default is a `Group` replaced, in its
    place, by the group's options; the command receives what the group builds of them."""
    declared = inspect.signature(command, eval_str=True).parameters
    groups = {name: p.default for name, p in declared.items() if isinstance(p.default, Group)}

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        for name, group in groups.items():
            options = inspect.signature(group.build).parameters
            kwargs[name] = group.build(**{option: kwargs.pop(option) for option in options})
        command(*args, **kwargs)

    parameters = [
        option
        for name, p in declared.items()
        for option in (inspect.signature(groups[name].build, eval_str=True).parameters.values() if name in groups else [p])
    ]
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    del wrapper.__wrapped__  # Typer must read the options, not the groups
    return wrapper


def with_settings(command: Callable[..., None], names: tuple[str, ...]) -> Callable[..., None]:
    """`command` as Typer reads it: its own parameters but `**given`, then the shared options
    `names` (which arrive in `**given`). For the commands that resolve settings without a
    cluster (check-config, replay)."""
    own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "given"]
    command.__signature__ = inspect.Signature([*own, *(COMMON[name] for name in names)])  # type: ignore[attr-defined]
    return command


def gate_command(
    *groups: set[str], needs_total: bool = True, own_settings: dict[str, str] | None = None, gives_back: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options of `groups` and the shared error handling.

    The command is written as `def cmd(options: Options, <its own options>)`; the wrapper shows
    Typer one signature with both, parses the command line's settings and shared options (the
    others at their defaults), and obtains the options (`gate.options.obtain`: who and where,
    then the --config document; flag > variable > file > default), mapping every expected
    failure to one stderr line and its exit status. `own_settings` maps a command's own option
    to its settings key (`--interval`).

    A refused --config file stops a command here (exit 2, one line, before any API call) unless
    it `gives_back`: down, guard, run and pause then run blind on the defaults and say the file
    was refused in their exit status and one line.
    """
    declared = set().union(*groups) if groups else set(COMMON)
    own_keys = own_settings or {}

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "options"]
        assert not {q.name for q in own} & set(COMMON), "a command's own option shadows a shared one"

        @functools.wraps(command)
        def wrapper(ctx: typer.Context, **kwargs: Any) -> None:
            raw = {name: (kwargs.pop(name) if name in declared else p.default) for name, p in COMMON.items()}
            names = {param: s.key for param, s in SETTING_PARAMS.items() if param in declared}
            given = given_settings(ctx, {**names, **own_keys}, {**raw, **kwargs})

            def body() -> None:
                options = obtain(request(raw, given, needs_total))
                if options.refused is not None and not gives_back:
                    raise InvalidValue(options.refused)
                if options.settled is not None:
                    warn_deprecated(options.settled.raw)
                command(options, **kwargs)

            run_reporting_errors(body, raw["debug"])

        parameters = [CONTEXT, *own, *(p for name, p in COMMON.items() if name in declared)]
        wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        del wrapper.__wrapped__  # Typer must read the combined signature, not the command's
        return wrapper

    return decorate


def refused_line(options: Options, what: str) -> str:
    """The one line of a command that ran without its settings file: what it did, and why."""
    return f"settings refused, {what} all the same: {options.refused}"
