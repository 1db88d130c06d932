"""An S3-compatible server on loopback for tests: moto in server mode (not a test module).

``moto_s3()`` starts ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (a free port), makes
a bucket, and yields an :class:`S3Server` whose ``env`` points the AWS libraries (and so
s3fs, and child processes) at it with dummy credentials. Tests that use it skip when
moto or s3fs is not installed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    env: dict[str, str]

    def url(self, *parts: str) -> str:
        """``s3://bucket/part/...``"""
        return "s3://" + "/".join([self.bucket, *parts])

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url)

    def keys(self, prefix: str) -> list[str]:
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@contextlib.contextmanager
def moto_s3() -> Iterator[S3Server]:
    """A moto S3 server on loopback with one bucket; the process environment points at it."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "segevo-test",
        "AWS_SECRET_ACCESS_KEY": "segevo-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    saved = {key: os.environ.get(key) for key in [*env, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(env)
    try:
        bucket = f"segevo-{secrets.token_hex(4)}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield S3Server(endpoint, bucket, env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
