"""``segevo dashboard TARGET``: the live web dashboard of a run directory or a coordinator."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from segevo.cli.common import setup_logging
from segevo.cli.locations import TOKEN_FILE_TYPE


@click.command("dashboard")
@click.argument("target")
@click.option(
    "--token-file",
    type=TOKEN_FILE_TYPE,
    help="the run's token file (needed for HOST:PORT; a run directory has its own)",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to serve on")
@click.option("--port", type=int, default=0, help="port to serve on (default: a free one)")
@click.option("-v", "--verbose", count=True)
def dashboard_command(
    target: str, token_file: Path | None, host: str, port: int, verbose: int
) -> None:
    """Watch a search in the browser: TARGET is a run directory (live or finished) or the
    HOST:PORT of a live coordinator (with --token-file).

    Read-only. On a loopback --host (the default) it needs no login; on any other address
    the page asks for the run's token (or take it as ?token=...).
    """
    import anyio

    from segevo.engine.dashboard.serve import serve_source
    from segevo.engine.dashboard.sources import RemoteSource, RunDirSource, Source
    from segevo.engine.rundir import read_token
    from segevo.engine.wire import Endpoint, is_loopback, parse_endpoint

    setup_logging(verbose)
    if not 0 <= port <= 65535:
        raise click.UsageError(f"--port must be in 0..65535, got {port}")
    from segevo.cli.locations import looks_like_run_dir
    from segevo.engine.location import run_path

    source: Source
    if looks_like_run_dir(target):
        run_source = RunDirSource(target)
        if token_file is not None:
            run_source.token = read_token(token_file)
        source = run_source
    else:
        if token_file is None:
            raise click.UsageError(
                f"{target!r} is not a run directory; a coordinator's HOST:PORT needs "
                "--token-file (the run's RUN_DIR/token)"
            )
        try:
            endpoint = parse_endpoint(target)
        except ValueError as exc:
            raise click.UsageError(f"{exc} (or give a run directory)") from None
        source = RemoteSource(endpoint, read_token(token_file))
    address = Endpoint(host, port)
    token_path = token_file or (run_path(target) / "token")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            try:
                url = await tg.start(serve_source, source, address)
            except (OSError, ConnectionError) as exc:
                raise click.ClickException(
                    f"cannot serve on {address} / read {target}: {exc}"
                ) from None
            click.echo(f"dashboard: {url}", err=False)
            if not is_loopback(host):
                click.echo(f"  log in with the token in {token_path}", err=True)
            click.echo("  (read-only; Ctrl-C stops it)", err=True)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    return

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
    except BaseExceptionGroup as group:
        raise _first(group) from None


def _first(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        return exc
    return group
