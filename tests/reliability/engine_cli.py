"""The engine's own commands (``run``, ``evaluator``, ``status``) as a stand-alone CLI.

The reliability tests start ``segevo`` children through :func:`relhelpers.segevo`, which
uses the full ``segevo.cli.main`` application when it imports, and this module when it
does not (the rest of the CLI is developed separately and may be mid-change); both run
the very same ``segevo.cli.run_commands`` functions.
"""

from __future__ import annotations

import click

from segevo.cli.run_commands import add_run_commands


@click.group()
def main() -> None:
    """segevo run | evaluator | status."""


add_run_commands(main)

if __name__ == "__main__":
    main()
