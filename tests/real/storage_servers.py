"""Object-store servers for tests, speaking the real protocols on a free local port.

- S3: moto in server mode (`moto.server.ThreadedMotoServer`), reached by s3fs with
  `endpoint_url` and test keys;
- GCS: gcp-storage-emulator, reached by gcsfs with `endpoint_url` and an anonymous token.

Clients find them the way a user points them elsewhere, through fsspec's
configuration: `FSSPEC_S3` / `FSSPEC_GCS` in the environment (inherited by the
`real` and trainer processes a test starts) and `fsspec.config.conf` in this
process. Each test gets its own folder (`Bucket.url`) in one bucket per server.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import uuid
from dataclasses import dataclass

import pytest

pytest.importorskip("fsspec", reason="object-store tests need the cloud extra: pip install 'spotsim[cloud]'")

BUCKET = "spotsim-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Bucket:
    scheme: str
    """s3 or gs."""
    endpoint: str
    name: str = BUCKET

    def url(self, tag: str = "") -> str:
        """A new, empty folder in the bucket."""
        return f"{self.scheme}://{self.name}/{tag or 'run'}-{uuid.uuid4().hex[:8]}"

    def fs(self):
        import fsspec

        return fsspec.filesystem(self.scheme)


def _configure(mp: pytest.MonkeyPatch, protocol: str, options: dict) -> None:
    import fsspec.config

    mp.setenv(f"FSSPEC_{protocol.upper()}", json.dumps(options))
    mp.setitem(fsspec.config.conf, protocol, options)


@pytest.fixture(scope="session")
def s3_bucket():
    """A moto S3 server with one bucket; s3fs pointed at it."""
    pytest.importorskip("s3fs", reason="needs s3fs (pip install 'spotsim[cloud]')")
    server_mod = pytest.importorskip("moto.server", reason="needs moto[server] (pip install 'spotsim[dev]')")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        _configure(mp, "s3", {"endpoint_url": endpoint, "key": "testing", "secret": "testing"})
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        b = Bucket("s3", endpoint)
        b.fs().mkdir(BUCKET)
        yield b
    server.stop()


@pytest.fixture(scope="session")
def gcs_bucket():
    """A gcp-storage-emulator server with one bucket; gcsfs pointed at it."""
    emulator = pytest.importorskip("gcp_storage_emulator.server",
                                   reason="needs gcp-storage-emulator (pip install 'spotsim[dev]')")
    with pytest.MonkeyPatch.context() as mp:
        # gcsfs's experimental bucket-type lookup speaks gRPC to the real service: not to an emulator
        mp.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        gcsfs = pytest.importorskip("gcsfs", reason="needs gcsfs (pip install 'spotsim[cloud]')")
        if "gcsfs.extended_gcsfs" in sys.modules:  # imported earlier with the lookup on
            import fsspec

            fsspec.register_implementation("gs", gcsfs.core.GCSFileSystem, clobber=True)
            fsspec.register_implementation("gcs", gcsfs.core.GCSFileSystem, clobber=True)
        port = free_port()
        server = emulator.create_server("127.0.0.1", port, in_memory=True)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        _configure(mp, "gcs", {"endpoint_url": endpoint, "token": "anon", "project": "spotsim-test"})
        b = Bucket("gs", endpoint)
        b.fs().mkdir(BUCKET)
        yield b
        server.stop()


@pytest.fixture(params=["s3", "gs"])
def bucket(request):
    """Each object store in turn."""
    return request.getfixturevalue("s3_bucket" if request.param == "s3" else "gcs_bucket")


def deny_all(s3: Bucket):
    """Turn on moto's IAM checks and return (key, secret) of a user with no permissions;
    call the returned function to turn the checks off again."""
    import boto3
    import requests

    iam = boto3.client("iam", endpoint_url=s3.endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing", region_name="us-east-1")
    user = f"nobody-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    requests.post(f"{s3.endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
    return (key["AccessKeyId"], key["SecretAccessKey"]), lambda: requests.post(
        f"{s3.endpoint}/moto-api/reset-auth", data=str(float("inf")).encode(), timeout=10)


def env_without(*names: str) -> dict:
    return {k: v for k, v in os.environ.items() if k not in names}
