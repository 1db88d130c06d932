"""``RUN_DIR`` arguments: a local folder or an object-store URL (``s3://bucket/prefix``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from segevo.engine.location import RemotePath, StorageError, is_url, run_path


class RunDirType(click.ParamType):
    """A run directory: a :class:`Path`, or a :class:`RemotePath` for a URL."""

    name = "RUN_DIR"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path | RemotePath):
            return value
        try:
            return run_path(str(value))
        except StorageError as exc:
            self.fail(str(exc), param, ctx)


class TokenFileType(click.ParamType):
    """A token file: an existing local file, or a URL (read when it is used)."""

    name = "FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, Path | RemotePath):
            return value
        text = str(value)
        if is_url(text):
            try:
                return run_path(text)
            except StorageError as exc:
                self.fail(str(exc), param, ctx)
        return click.Path(exists=True, dir_okay=False, path_type=Path).convert(text, param, ctx)


RUN_DIR_TYPE = RunDirType()
TOKEN_FILE_TYPE = TokenFileType()


def looks_like_run_dir(target: str) -> bool:
    """Whether a ``TARGET`` (run directory or ``HOST:PORT``) names a run directory."""
    return is_url(target) or Path(target).is_dir()
