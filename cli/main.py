"""The ``segevo`` command-line application.

Every command runs under one error handler: an error a person can act on (a missing data
set folder, a latency table for another space, a folder that is not a run directory, a
port in use, a coordinator that is gone...) prints one line saying what is wrong and what
to do, and exits non-zero; ``segevo --debug ...`` (or ``SEGEVO_DEBUG=1``) shows the
traceback instead. See :mod:`segevo.cli.errors` for the exit codes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

import segevo.engine.problems.mosegnas  # noqa: F401  (registers the mosegnas problem)
from segevo.cli.errors import explain
from segevo.cli.run_commands import add_run_commands


class SegevoGroup(click.Group):
    """A click group whose commands' errors become one actionable line (unless --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.UsageError, click.Abort):
            raise
        except click.ClickException as exc:
            # Commands' own errors, in the same one-line form as everything else.
            click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            ctx.exit(exc.exit_code)
        except (Exception, KeyboardInterrupt) as exc:
            if _debug(ctx):
                raise
            explained = explain(exc)
            if explained is None:
                message = (
                    f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                    "(run `segevo --debug ...` for the traceback, and please report it)"
                )
                code = 1
            else:
                message, code = explained.message, explained.code
            click.echo(f"error: {message}", err=True)
            ctx.exit(code)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("SEGEVO_DEBUG", "") not in ("", "0")


@click.group(cls=SegevoGroup)
@click.version_option(package_name="segevo")
@click.option("--debug", is_flag=True, help="show tracebacks instead of one-line errors")
def main(debug: bool) -> None:
    """segevo: multi-objective neural architecture search for fast, accurate segmentation.

    Start with `segevo run` (the quick start: a small search on the CPU in minutes).
    """


def _register() -> None:
    from segevo.cli.archive_commands import archive_group, pick_command
    from segevo.cli.dashboard_commands import dashboard_command
    from segevo.cli.fleet_commands import fleet_command
    from segevo.cli.lut_commands import lut_group
    from segevo.cli.network_commands import export_command, train_command
    from segevo.cli.search import run_command
    from segevo.cli.supernet_commands import supernet_group
    from segevo.cli.surrogate_commands import surrogate_group

    add_run_commands(main)  # evaluator, status
    main.add_command(run_command, "run")
    for command in (
        supernet_group,
        lut_group,
        surrogate_group,
        archive_group,
        pick_command,
        export_command,
        train_command,
        dashboard_command,
        fleet_command,
    ):
        main.add_command(command)


_register()

if __name__ == "__main__":
    sys.exit(main())
