"""A newcomer's first hour, as the README writes it.

A copy of this tree (what a fresh clone holds), the README's laptop commands run as written in it (a new venv
with the `laptop` extra), then `surecast up` in an empty folder with no SURECAST_ or AWS_ variable (so the
spool is the relative default `spool` and every port the default one); the URL it prints is decoded by an
independent FFmpeg, and every other README command that needs no Docker is run the same way beside it.
Fixtures of other tests pass absolute temporary paths and free ports; this one passes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.ffmpeg import find_ffmpeg
from core.version import surecast_version
from tests.support.procs import http_status, wait_until
from tests.system.test_up import WATCH_LINE, kill_tree

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900
URL_TIMEOUT = 240
COMMAND_TIMEOUT = 120
# Every port `surecast up` listens on with no settings: Redis, the embedded S3 server (S3, master, volume,
# filer and their gRPC ports), the console, Flower, the web player, the metrics endpoint.
DEFAULT_PORTS = (6379, 8333, 9333, 9334, 9335, 18333, 19333, 19334, 19335, 8090, 5555, 8089, 9108)


def readme_commands(marker: str) -> list[str]:
    """The lines of the first indented code block after the line of README.md containing ``marker``."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    block: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("    "):
            block.append(line.strip())
        elif block:
            break
    assert block, f"no code block after {marker!r} in README.md"
    return block


def copy_tree(dest: Path) -> None:
    """What a clone of this checkout holds: tracked files and new ones not ignored (uncommitted edits too)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def newcomer_env(home: Path) -> dict[str, str]:
    """The shell of someone who never configured anything: no SURECAST_ or AWS_ variable, an empty HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SURECAST_", "AWS_", "VIRTUAL_ENV", "PYTHON"))}
    env["HOME"] = str(home)
    return env


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Laptop:
    clone: Path
    folder: Path  # the empty folder `surecast up` runs in
    env: dict[str, str]
    up: subprocess.Popen[bytes]
    output: Path
    page_url: str
    stream_url: str
    seconds_to_url: float

    def run(self, line: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """A README command line, in the empty folder, with `.venv/bin/` being the clone's."""
        argv = ["bash", "-c", line.replace(".venv/bin/", f"{self.clone}/.venv/bin/")]
        return subprocess.run(argv, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Laptop]:
    busy = [p for p in DEFAULT_PORTS if port_in_use(p)]
    if busy:
        pytest.skip(f"default ports in use on this machine ({busy}): `surecast up` with no settings needs them")
    if shutil.which("python3") is None:
        pytest.skip("no python3 on PATH: the README's commands start with it")
    tmp = tmp_path_factory.mktemp("newcomer")
    clone, folder, home = tmp / "surecast", tmp / "empty", tmp / "home"
    for path in (clone, folder, home):
        path.mkdir()
    copy_tree(clone)
    env = newcomer_env(home)
    install, start = readme_commands("Or, without Docker, on a laptop")
    done = subprocess.run(
        ["bash", "-c", install], cwd=clone, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert done.returncode == 0, f"{install}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert start == ".venv/bin/surecast up", start
    output = tmp / "up.out"
    began = time.monotonic()
    with open(output, "wb") as out:
        up = subprocess.Popen(
            [str(clone / ".venv/bin/surecast"), "up"], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        match = wait_until(
            lambda: (
                up.poll() is None and WATCH_LINE.search(output.read_text(errors="replace")) or up.poll() is not None
            ),
            URL_TIMEOUT,
            interval=0.2,
            message="`surecast up` printed no URL",
        )
        assert up.poll() is None, f"`surecast up` exited with {up.returncode}:\n{output.read_text()[-3000:]}"
        assert isinstance(match, re.Match)
        seconds = time.monotonic() - began
        print(f"`surecast up` in an empty folder printed the stream's URL after {seconds:.1f} s")
        yield Laptop(clone, folder, env, up, output, match.group(1), match.group(3), seconds)
        up.send_signal(signal.SIGINT)  # Ctrl-C
        assert up.wait(120) == 0, output.read_text()[-3000:]
    finally:
        kill_tree(up)


def test_up_in_an_empty_folder_prints_a_url_that_plays(laptop: Laptop) -> None:
    spool = laptop.folder / "spool"
    assert (spool / "journal.sqlite3").is_file() and (spool / "s3" / "store").is_dir()
    assert not (spool / "s3" / "spool").exists()  # weed ran in spool/s3 and was given an absolute folder
    ffmpeg = find_ffmpeg()
    began = time.monotonic()
    decoded = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-i", laptop.stream_url, "-t", "4", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
    print(f"FFmpeg decoded 4 s of {laptop.stream_url} in {time.monotonic() - began:.1f} s")
    assert http_status(laptop.page_url) == 200  # the web player answers on loopback without a login


def test_every_other_readme_command_runs_as_written_beside_it(laptop: Laptop) -> None:
    sample = laptop.folder / "sermon-notes.txt"
    sample.write_text("a file handed to the pipeline\n")
    checks = [
        (".venv/bin/surecast --version", 0, f"surecast {surecast_version()}"),
        (".venv/bin/surecast --help", 0, "Commands:"),
        (".venv/bin/surecast status", 0, "verified"),
        (".venv/bin/surecast credentials", 0, "password"),
        (f".venv/bin/surecast send {sample.name}", 0, "queued"),
        (".venv/bin/surecast reconcile", 0, "re-published"),
        (".venv/bin/surecast retry-failed", 0, "re-queued"),
        (".venv/bin/surecast scale 2", 0, "2"),
        (".venv/bin/surecast bucket-setup --dry-run", 0, "CORSRules"),
        (f".venv/bin/surecast play {laptop.stream_url} --check --duration 4", 0, ""),
    ]
    for line, code, expected in checks:
        done = laptop.run(line)
        said = done.stdout + done.stderr
        assert "Traceback" not in said, f"{line}:\n{said}"
        assert done.returncode == code, f"{line} exited with {done.returncode}:\n{said}"
        assert expected in said, f"{line}: no {expected!r} in:\n{said}"
    sent = laptop.run(f".venv/bin/surecast send {sample.name} --key-prefix again")
    key = re.search(r"-> s3://[^/]+/(\S+): queued", sent.stdout)
    assert key, sent.stdout + sent.stderr
    wait_until(lambda: _verified(laptop, key.group(1)), 60, interval=1, message=f"{key.group(1)} not verified")
    status = json.loads(laptop.run(".venv/bin/surecast status --json").stdout)
    assert status["files"]["failed"] == 0, status


def _verified(laptop: Laptop, key: str) -> bool:
    from journal.files import Journal

    journal = Journal(laptop.folder / "spool")
    try:
        return journal.is_verified(key)
    finally:
        journal.close()
