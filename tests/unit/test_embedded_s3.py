"""The embedded S3 server's pure parts: command line, identities, ports, the credentials file, and how
`surecast up` decides to run it and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from core.embedded_s3_settings import EmbeddedS3Section
from core.s3_credentials import KeyPair, parse_credentials, render_credentials
from core.s3_section import S3Section
from core.settings import SettingsError, load_settings
from stack.embedded_s3 import (
    Layout,
    Ports,
    identities,
    object_url,
    parse_weed_version,
    public_base_url,
    public_read_actions,
    socket_paths,
    weed_argv,
    weed_environment,
)
from stack.embedded_s3_process import EmbeddedS3Error
from stack.up import describe_destination, event_id_in, needs_embedded_s3, page_url

PORTS = Ports(master=9333, volume=9334, filer=9335, s3=8333)


def test_argv_gives_every_port_binds_loopback_and_opens_only_s3_wider() -> None:
    argv = weed_argv("/v/bin/weed", Layout(Path("/spool/s3")), PORTS, s3_bind="0.0.0.0")
    assert argv[:3] == ["/v/bin/weed", "server", "-s3"]
    for flag in (
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3.ip.bind=0.0.0.0",
        "-dir=/spool/s3/store",
        "-master.port=9333",
        "-master.port.grpc=19333",
        "-volume.port=9334",
        "-volume.port.grpc=19334",
        "-filer.port=9335",
        "-filer.port.grpc=19335",
        "-s3.port=8333",
        "-s3.port.grpc=18333",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",
        "-s3.config=/spool/s3/s3-identities.json",
        "-master.telemetry=false",
        "-master.electionTimeout=500ms",
        "-volume.preStopSeconds=0",
    ):
        assert flag in argv
    small = weed_argv("weed", Layout(Path("d")), PORTS, volume_size_mb=64, max_volumes=100)
    assert "-master.volumeSizeLimitMB=64" in small and "-volume.max=100" in small


def test_environment_drops_the_callers_aws_and_weed_variables() -> None:
    env = weed_environment({"PATH": "/bin", "AWS_ACCESS_KEY_ID": "x", "WEED_FOO": "y", "HOME": "/root"}, Path("/d"))
    assert env == {"PATH": "/bin", "HOME": "/d", "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}


@pytest.mark.parametrize(
    ("prefix", "actions"),
    [("live", ["Read:media/live/*"]), ("a/b", ["Read:media/a/b/*"]), ("", ["Read:media"])],
)
def test_anonymous_read_is_scoped_to_the_stream_prefix(prefix: str, actions: list[str]) -> None:
    assert public_read_actions("media", prefix) == actions


def test_identities_hold_the_admin_and_anonymous_only_when_asked() -> None:
    alone = identities("AK", "SK")["identities"]
    assert alone == [
        {
            "name": "admin",
            "credentials": [{"accessKey": "AK", "secretKey": "SK"}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
    ]
    both = identities("AK", "SK", ["Read:media/live/*"])["identities"]
    assert both[1] == {"name": "anonymous", "actions": ["Read:media/live/*"]}


def test_ports_and_sockets() -> None:
    assert PORTS.every() == [9333, 9334, 9335, 8333, 19333, 19334, 19335, 18333]
    names = {p.name for p in socket_paths(PORTS)}
    assert "seaweedfs-s3-8333.sock" in names and "seaweedfs-filer-grpc-19335.sock" in names


@pytest.mark.parametrize(
    "fields",
    [
        {"port": 9333},  # the master's
        {"volume_port": 9333},
        {"master_port": 8333},  # the S3 gateway's
        {"port": 20000, "master_port": 10000},  # the master's gRPC port is the S3 gateway's HTTP port
    ],
)
def test_ports_that_meet_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="must differ"):
        EmbeddedS3Section(**fields)


def test_a_port_without_room_for_its_grpc_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 55535"):
        EmbeddedS3Section(port=60000)


def test_layout_defaults_under_the_spool() -> None:
    assert Layout.from_settings(EmbeddedS3Section(), Path("/sp")).credentials == Path("/sp/s3/credentials")
    assert Layout.from_settings(EmbeddedS3Section(dir="/data"), Path("/sp")).store == Path("/data/store")


def test_public_urls() -> None:
    assert public_base_url(EmbeddedS3Section()) == "http://127.0.0.1:8333"
    assert public_base_url(EmbeddedS3Section(public_url="http://venue-pc.lan:8333/")) == "http://venue-pc.lan:8333"
    assert object_url("http://h:1/", "b", "live/e/master.m3u8") == "http://h:1/b/live/e/master.m3u8"


def test_weed_version_is_read_from_its_output() -> None:
    assert parse_weed_version("version 8000GB 4.48 pypi linux amd64") == "4.48"
    assert parse_weed_version("") is None


def test_credentials_file_round_trips_and_names_what_is_missing() -> None:
    pair = KeyPair("SURECASTAB12", SecretStr("s3cr3t/+="))
    text = render_credentials(pair, "generated\nkeep private")
    assert text.startswith("# generated\n# keep private\n[default]\n")
    parsed = parse_credentials(text)
    assert parsed.access_key_id == "SURECASTAB12" and parsed.secret_access_key.get_secret_value() == "s3cr3t/+="
    with pytest.raises(ValueError, match="no \\[default\\] section"):
        parse_credentials("[other]\naws_access_key_id = a\n")
    with pytest.raises(ValueError, match="needs both"):
        parse_credentials("[default]\naws_access_key_id = a\n")
    with pytest.raises(ValueError, match="not an AWS credentials file"):
        parse_credentials("just words")


@pytest.mark.parametrize(
    ("s3", "chain", "embedded"),
    [
        ({}, False, True),
        ({}, True, False),  # boto3's chain found keys: AWS
        ({"endpoint_url": "http://127.0.0.1:9000"}, False, False),
        ({"access_key_id": "a", "secret_access_key": "b"}, False, False),
        ({"access_key_id": "a"}, False, False),  # half a key pair is still a destination the user meant
    ],
)
def test_up_runs_the_embedded_server_only_without_any_destination(
    s3: dict[str, str], chain: bool, embedded: bool
) -> None:
    assert needs_embedded_s3(S3Section.model_validate(s3), chain) is embedded


def test_the_configured_destination_is_described_in_one_line() -> None:
    aws = S3Section(bucket="venue", region="eu-west-1")
    assert describe_destination(aws) == "destination s3://venue/live/ at AWS S3 (eu-west-1), boto3's credential chain"
    other = S3Section.model_validate(
        {"endpoint_url": "https://r2.example", "prefix": "", "access_key_id": "a", "secret_access_key": "b"}
    )
    assert describe_destination(other) == "destination s3://surecast/ at https://r2.example, keys from SURECAST_S3_*"


@pytest.mark.parametrize(
    ("args", "found"),
    [
        ([], None),
        (["--duration", "12"], None),
        (["--event-id", "sunday"], "sunday"),
        (["--duration", "5", "--event-id=sunday"], "sunday"),
        (["--event-id"], None),
    ],
)
def test_event_id_among_the_encoder_arguments(args: list[str], found: str | None) -> None:
    assert event_id_in(args) == found


@pytest.mark.parametrize(
    ("bind", "url"),
    [("127.0.0.1", "http://127.0.0.1:8089/"), ("0.0.0.0", "http://127.0.0.1:8089/"), ("::1", "http://[::1]:8089/")],
)
def test_page_url(bind: str, url: str) -> None:
    assert page_url(bind, 8089) == url


# Settings: the section's variables, and the credentials file -----------------------------------------------


@pytest.fixture
def clean_settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith("SURECAST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_embedded_s3_variables_fill_their_own_section(
    clean_settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURECAST_EMBEDDED_S3_PORT", "8400")
    monkeypatch.setenv("SURECAST_EMBEDDED_S3_BIND", "0.0.0.0")
    monkeypatch.setenv("SURECAST_S3_PREFIX", "stream")
    settings = load_settings()
    assert (settings.embedded_s3.port, settings.embedded_s3.bind, settings.embedded_s3.master_port) == (
        8400,
        "0.0.0.0",
        9333,
    )
    assert settings.s3.prefix == "stream" and settings.s3.endpoint_url == ""


def test_keys_come_from_the_credentials_file_unless_given(
    clean_settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = clean_settings_env / "credentials"
    path.write_text(render_credentials(KeyPair("FROMFILE", SecretStr("file-secret"))))
    monkeypatch.setenv("SURECAST_S3_CREDENTIALS_FILE", str(path))
    s3 = load_settings().s3
    assert s3.access_key_id is not None and s3.access_key_id.get_secret_value() == "FROMFILE"
    assert s3.secret_access_key is not None and s3.secret_access_key.get_secret_value() == "file-secret"
    monkeypatch.setenv("SURECAST_S3_ACCESS_KEY_ID", "GIVEN")
    monkeypatch.setenv("SURECAST_S3_SECRET_ACCESS_KEY", "given-secret")
    s3 = load_settings().s3
    assert s3.access_key_id is not None and s3.access_key_id.get_secret_value() == "GIVEN"


def test_a_missing_credentials_file_is_one_line_naming_the_variable(
    clean_settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SURECAST_S3_CREDENTIALS_FILE", str(clean_settings_env / "absent"))
    with pytest.raises(SettingsError, match="SURECAST_S3_CREDENTIALS_FILE: cannot read .*absent"):
        load_settings()


def test_without_the_wheel_up_says_how_to_get_it_in_one_line(
    clean_settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stack.up

    monkeypatch.setattr(stack.up, "weed_binary", lambda: None)
    with pytest.raises(EmbeddedS3Error) as caught:
        stack.up.embedded_s3_child(load_settings(), ["embedded-s3"])
    message = str(caught.value)
    assert "\n" not in message
    assert "pip install '.[laptop]'" in message and "SURECAST_S3_ENDPOINT_URL" in message
