"""The ``segevo`` command-line application."""

from __future__ import annotations

import click

from segevo.cli.run_commands import add_run_commands


@click.group()
@click.version_option(package_name="segevo")
def main() -> None:
    """segevo: multi-objective neural architecture search for fast, accurate segmentation."""


add_run_commands(main)

if __name__ == "__main__":
    main()
