"""Where a run directory lives: a local folder (a :class:`~pathlib.Path`) or an object store.

``run_path(text)`` turns what a user typed as ``RUN_DIR`` into one of:

- a :class:`~pathlib.Path` for a local folder (also for ``file://`` URLs): every existing
  behaviour of a run directory (writes renamed into place, an ``flock``) is unchanged;
- a :class:`RemotePath` for any other fsspec URL (``s3://bucket/prefix``, ``gs://...``,
  ``memory://...``): a small pathlib-like view of one key prefix, through
  ``fsspec.url_to_fs``. Object stores have no rename and no append, so every write is one
  whole-object PUT (atomic per object on S3) and the run directory's lock is a lease
  object (segevo.engine.rundir).

Credentials and endpoints come from where fsspec and the cloud libraries look: for S3 the
usual ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_PROFILE``/``AWS_ENDPOINT_URL``
(botocore honours the last one, which points s3fs at MinIO, Ceph or moto), or fsspec's
own configuration (``FSSPEC_S3_ENDPOINT_URL``, ``FSSPEC_S3='{"key": ...}'``, or a file in
``~/.config/fsspec/``). Nothing about them is stored in the run directory.
"""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

_ENV_PREFIXES = ("AWS_", "FSSPEC_", "GOOGLE_", "AZURE_")
_FS_CACHE: dict[tuple[Any, ...], Any] = {}
_FS_LOCK = threading.Lock()

# Modules a protocol needs, for a clear error when one is missing.
_EXTRAS = {"s3": ("s3fs", "segevo[s3]"), "s3a": ("s3fs", "segevo[s3]")}


class StorageError(ValueError):
    """A run directory URL that cannot be used (unknown protocol, missing package...)."""


def is_url(text: str | os.PathLike[str] | RemotePath) -> bool:
    """Whether ``text`` names a location through a protocol (``s3://...``), not a local path."""
    if isinstance(text, RemotePath):
        return True
    if isinstance(text, os.PathLike):
        return False
    return _URL.match(str(text)) is not None


def run_path(location: str | os.PathLike[str] | RemotePath) -> Path | RemotePath:
    """A local :class:`Path`, or a :class:`RemotePath` for a URL (see the module docstring)."""
    if isinstance(location, RemotePath | Path):
        return location
    text = os.fspath(location)
    match = _URL.match(text)
    if match is None:
        return Path(text)
    protocol = match.group(1).lower()
    if protocol == "file":
        return Path(text[len("file://") :])
    return RemotePath.from_url(text)


def _filesystem(url: str) -> tuple[Any, str]:
    protocol = url.split("://", 1)[0].lower()
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with zarr
        raise StorageError(f"{url}: run directories on object storage need fsspec") from None
    needed = _EXTRAS.get(protocol)
    if needed is not None:
        try:
            __import__(needed[0])
        except ImportError:
            raise StorageError(
                f"{url}: {protocol}:// run directories need {needed[0]}: pip install '{needed[1]}'"
            ) from None
    # Instances are reused (a client's first request costs a few hundred milliseconds), but
    # per environment: the endpoint and credentials come from it, and fsspec's own cache
    # would hand out a client for an endpoint the environment no longer names.
    key = (
        protocol,
        os.getpid(),
        tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES))),
    )
    with _FS_LOCK:
        fs = _FS_CACHE.get(key)
    if fs is not None:
        return fs, fs._strip_protocol(url)
    try:
        # Listings are never cached: another process (the coordinator) writes while this one
        # reads, and a stale listing would hide new objects.
        fs, path = fsspec.url_to_fs(url, use_listings_cache=False, skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"{url}: cannot open this location: {exc}") from None
    with _FS_LOCK:
        fs = _FS_CACHE.setdefault(key, fs)
    return fs, path


class RemotePath:
    """One key (or key prefix) in an fsspec file system, with the pathlib calls segevo uses.

    ``str()`` gives the URL. "Folders" are key prefixes: :meth:`mkdir` does nothing and
    :meth:`is_dir` is true when some key lies below. Writes are whole objects.
    """

    def __init__(self, fs: Any, protocol: str, key: str) -> None:
        self.fs = fs
        self.protocol = protocol
        self.key = key.rstrip("/")

    @classmethod
    def from_url(cls, url: str) -> RemotePath:
        protocol = url.split("://", 1)[0].lower()
        fs, key = _filesystem(url)
        key = key.rstrip("/")
        if not key or (protocol in ("s3", "s3a", "gs", "gcs", "az", "abfs") and "/" not in key):
            raise StorageError(
                f"{url}: name a prefix inside the bucket (e.g. {protocol}://bucket/runs/search-1), "
                "not the bucket itself"
            )
        return cls(fs, protocol, key)

    # -- names -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.key.lstrip('/')}"

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __truediv__(self, name: str) -> RemotePath:
        name = str(name).strip("/")
        if not name or ".." in name.split("/"):
            raise ValueError(f"bad name {name!r} below {self.url}")
        return RemotePath(self.fs, self.protocol, f"{self.key}/{name}")

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.fs, self.protocol, self.key.rsplit("/", 1)[0])

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def with_name(self, name: str) -> RemotePath:
        return self.parent / name

    # -- queries ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.fs.exists(self.key))

    def _type(self) -> str | None:
        # Not fs.isfile/isdir: those answer False for any error (a timeout, a refused
        # request), which would make a run directory look absent. Only a missing key is.
        try:
            return str(self.fs.info(self.key).get("type"))
        except FileNotFoundError:
            return None

    def is_file(self) -> bool:
        return self._type() == "file"

    def is_dir(self) -> bool:
        return self._type() == "directory"

    def iterdir(self) -> Iterator[RemotePath]:
        try:
            names = self.fs.ls(self.key, detail=False)
        except FileNotFoundError:
            return
        for name in names:
            name = str(name).rstrip("/")
            if name != self.key:
                yield RemotePath(self.fs, self.protocol, name)

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        """Direct children whose name matches ``pattern`` (no ``**``)."""
        for child in self.iterdir():
            if fnmatch.fnmatchcase(child.name, pattern):
                yield child

    def size(self) -> int:
        return int(self.fs.size(self.key))

    # -- reading ---------------------------------------------------------------------------
    def read_bytes(self, start: int | None = None) -> bytes:
        return bytes(self.fs.cat_file(self.key, start=start))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    # -- writing (each call is one whole-object PUT) -----------------------------------------
    def write_bytes(self, data: bytes, *, exclusive: bool = False) -> int:
        """Write the whole object; ``exclusive``: FileExistsError when it already exists."""
        if exclusive:
            # A conditional PUT (If-None-Match) where the store has one (S3, s3fs >= 2024.10).
            try:
                self.fs.pipe_file(self.key, data, mode="create")
            except TypeError:  # a file system without modes: check, then write
                if self.fs.exists(self.key):
                    raise FileExistsError(self.url) from None
                self.fs.pipe_file(self.key, data)
        else:
            self.fs.pipe_file(self.key, data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: object stores have no folders (a key's prefix is its folder)."""

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmtree(self) -> None:
        """Delete every key below this prefix."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.key, recursive=True)

    # -- zarr ------------------------------------------------------------------------------
    def zarr_store(self, *, read_only: bool) -> Any:
        """A zarr v3 ``FsspecStore`` rooted at this prefix."""
        from zarr.storage import FsspecStore

        with _FS_LOCK:
            twin = getattr(self.fs, "_segevo_async_twin", None)
            if twin is None:
                if not getattr(self.fs, "async_impl", False):
                    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

                    twin = AsyncFileSystemWrapper(self.fs)
                else:
                    # zarr drives the store from its own event loop (one per process): give
                    # it an asynchronous twin of this file system, made once.
                    options = {**self.fs.storage_options, "asynchronous": True}
                    twin = type(self.fs)(**options, skip_instance_cache=True)
                    if not _TWINS:
                        atexit.register(_close_twins)  # after zarr's own exit handler: first
                    _TWINS.append(twin)
                self.fs._segevo_async_twin = twin
        return FsspecStore(fs=twin, path=self.key, read_only=read_only)


_TWINS: list[Any] = []


def _close_twins() -> None:
    """Close the clients of the asynchronous file systems zarr used, on zarr's loop (else
    aiohttp warns about unclosed sessions at exit)."""
    from zarr.core.sync import sync

    for twin in _TWINS:
        creator = getattr(twin, "_s3creator", None)  # s3fs's client, made on first use
        if creator is None:
            continue
        with contextlib.suppress(Exception):
            sync(creator.__aexit__(None, None, None), timeout=2)


RunPath = Path | RemotePath
"""A run directory (or a file in one): local or on an object store."""


@contextlib.contextmanager
def local_file_for(target: Path | RemotePath) -> Iterator[Path]:
    """A local path to write ``target`` through: itself, or a temporary file then uploaded."""
    if isinstance(target, Path):
        yield target
        return
    with tempfile.TemporaryDirectory(prefix="segevo-") as folder:
        local = Path(folder) / target.name
        yield local
        if local.exists():
            target.write_bytes(local.read_bytes())


@contextlib.contextmanager
def local_copy_of(source: Path | RemotePath) -> Iterator[Path]:
    """A local path holding ``source``'s content: itself, or a temporary download."""
    if isinstance(source, Path):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="segevo-") as folder:
        local = Path(folder) / source.name
        try:
            local.write_bytes(source.read_bytes())
        except FileNotFoundError:
            raise FileNotFoundError(f"{source} does not exist") from None
        yield local
