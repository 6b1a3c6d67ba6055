"""The `gate` command line: a thin layer over `gate.controller`, `gate.report` and the
offline modules. Each command's body parses, calls and prints.

Every option is also a GATE_* environment variable (the CronJobs set only those). Values are
parsed into plain settings; a value that cannot mean anything stops the command before any I/O
with one line on stderr and exit status 2.

- `options`: every option alias, once (the settings' from gate/settings.py's table);
- `command`: how a command takes its shared options and reports its failures;
- `live`: preflight, down; `loops`: guard, run; `checks`: status, check;
  `configure`: check-config, pause, resume, try; `recorded`: replay, measure.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gate import __version__
from gate.cli import checks, configure, live, loops, recorded
from gate.cli.command import fail, redact
from gate.status import EXIT_STATUS_HELP

__all__ = ["app", "fail", "main", "redact"]

app = typer.Typer(
    name="gate",
    help=(
        "Lets the TTS Deployment hold a shared GPU only when the resident tenants leave it room.\n\n"
        + EXIT_STATUS_HELP.replace("\n", "\n\n")
    ),
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"gate {__version__}")
        raise typer.Exit()


@app.callback()
def _gate(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print the gate's version and exit.")
    ] = False,
) -> None:
    """Lets the TTS Deployment hold a shared GPU only when the resident tenants leave it room."""


# The commands, in the order `gate --help` lists them.
app.command()(live.preflight)
app.command()(loops.guard)
app.command(name="run")(loops.run_controller)
app.command()(live.down)
app.command()(checks.status)
app.command()(configure.pause)
app.command()(configure.resume)
app.command(name="try")(configure.try_window)
app.command(name="check-config")(configure.check_config)
app.command()(checks.check)
app.command()(recorded.replay)
app.command()(recorded.measure)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
