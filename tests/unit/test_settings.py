"""Settings: nested sections from flat SURECAST_ variables, and one clear line for a bad one."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SURECAST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]


def test_defaults_work_without_configuration() -> None:
    settings = load_settings()
    assert settings.s3.endpoint_url == ""
    assert settings.visibility_timeout > settings.upload.time_limit + settings.upload.backoff_cap


def test_flat_variables_fill_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURECAST_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("SURECAST_S3_BUCKET", "venue-stream")
    monkeypatch.setenv("SURECAST_S3_PREFIX", "/sunday/")
    monkeypatch.setenv("SURECAST_SPOOL_DIR", "/var/spool/surecast")
    monkeypatch.setenv("SURECAST_REDIS_URL", "redis://:pw@127.0.0.1:6379/1")
    settings = load_settings()
    assert settings.s3.endpoint_url == "http://127.0.0.1:9000"
    assert settings.s3.bucket == "venue-stream"
    assert settings.s3.prefix == "sunday"
    assert str(settings.spool.dir) == "/var/spool/surecast"
    assert "pw" not in repr(settings) and "pw" not in str(settings.redis.url)


def test_dotenv_file_is_read(tmp_path: object) -> None:
    from pathlib import Path

    Path(".env").write_text("SURECAST_S3_BUCKET=from-dotenv\n")
    assert load_settings().s3.bucket == "from-dotenv"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SURECAST_S3_PART_SIZE", "1024", "SURECAST_S3_PART_SIZE: Input should be greater than or equal to 5242880"),
        ("SURECAST_S3_ENDPOINT_URL", "minio:9000", "SURECAST_S3_ENDPOINT_URL: Value error, must be empty (AWS)"),
        ("SURECAST_S3_VERIFY", "always", "SURECAST_S3_VERIFY: Input should be 'head' or 'etag'"),
        ("SURECAST_REDIS_URL", "http://secret@x", "SURECAST_REDIS_URL: Value error, must start with redis://"),
        ("SURECAST_UPLOAD_TIME_LIMIT", "600", "SURECAST_UPLOAD_TIME_LIMIT must be greater than"),
        ("SURECAST_METRICS_BIND", "0.0.0.0", "SURECAST_METRICS_USER and SURECAST_METRICS_PASSWORD are required"),
        ("SURECAST_CONSOLE_USER", "volunteer", "SURECAST_CONSOLE_USER and SURECAST_CONSOLE_PASSWORD go together"),
        ("SURECAST_CONSOLE_PASSWORD", "secret", "SURECAST_CONSOLE_USER and SURECAST_CONSOLE_PASSWORD go together"),
        ("SURECAST_ENCODER_PROFILE", "fast", "SURECAST_ENCODER_PROFILE: Input should be 'standard' or 'low-latency'"),
    ],
)
def test_a_bad_setting_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert "secret" not in text


@pytest.mark.parametrize(
    ("env", "segment_seconds", "target_duration"),
    [
        ({}, 2.0, 2),
        ({"SURECAST_ENCODER_PROFILE": "standard"}, 2.0, 2),
        ({"SURECAST_ENCODER_PROFILE": "low-latency"}, 1.0, 1),
        # a segment length set explicitly wins over the profile's, either way
        ({"SURECAST_ENCODER_PROFILE": "low-latency", "SURECAST_ENCODER_SEGMENT_SECONDS": "2"}, 2.0, 2),
        ({"SURECAST_ENCODER_PROFILE": "standard", "SURECAST_ENCODER_SEGMENT_SECONDS": "1"}, 1.0, 1),
    ],
)
def test_the_latency_profile_chooses_the_segment_length_unless_one_is_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], segment_seconds: float, target_duration: int
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    encoder = load_settings().encoder
    assert encoder.segment_seconds == segment_seconds
    assert encoder.target_duration == target_duration
    assert encoder.publish_delay == 0.0  # no profile holds a segment back


@pytest.mark.parametrize(("given", "segment_seconds"), [(None, 1.0), (2.0, 2.0), (1.5, 1.5)])
def test_segment_seconds_on_the_command_line_wins_over_the_low_latency_profile(
    monkeypatch: pytest.MonkeyPatch, given: float | None, segment_seconds: float
) -> None:
    from surecast.commands.encode import _load

    monkeypatch.setenv("SURECAST_ENCODER_PROFILE", "low-latency")
    encoder = _load({"segment_seconds": given}).encoder
    assert (encoder.profile, encoder.segment_seconds) == ("low-latency", segment_seconds)


def test_a_misspelt_variable_in_the_environment_stops_the_start_naming_the_nearest_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SURECAST_S3_BUKET", "venue-stream")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "unknown setting SURECAST_S3_BUKET in the environment: did you mean SURECAST_S3_BUCKET?"
    )


def test_a_misspelt_variable_in_dotenv_is_refused_and_compose_variables_are_not() -> None:
    from pathlib import Path

    Path(".env").write_text("SURECAST_IMAGE=surecast:local\nSURECAST_ENCODER_SORCE=rtmp://0.0.0.0:1935/live/k\n")
    with pytest.raises(SettingsError, match=r"SURECAST_ENCODER_SORCE in \.env: did you mean SURECAST_ENCODER_SOURCE\?"):
        load_settings()
    Path(".env").write_text("SURECAST_IMAGE=surecast:local\nSURECAST_VENUE=hall\n")
    assert load_settings().s3.bucket == "surecast"


def test_a_name_like_no_setting_points_to_the_list_of_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURECAST_FOO", "1")
    with pytest.raises(SettingsError, match=r"unknown setting SURECAST_FOO in the environment \(deploy/.env.example"):
        load_settings()


def test_a_retired_name_is_ignored_with_one_line_saying_what_replaced_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    monkeypatch.setenv("SURECAST_ENCODER_POLL_INTERVAL", "not even a number")
    monkeypatch.setenv("SURECAST_UPLOAD_RECOVER_AFTER", "30")
    Path(".env").write_text("SURECAST_UPLOAD_RECOVER_AFTER=30\nSURECAST_S3_BUCKET=venue-stream\n")
    notices: list[str] = []
    settings = load_settings(notices.append)
    assert settings.s3.bucket == "venue-stream"
    assert notices == [
        "SURECAST_ENCODER_POLL_INTERVAL is no longer a setting (the encoder looks every 10 ms); "
        "remove it from the environment",
        "SURECAST_UPLOAD_RECOVER_AFTER is no longer a setting (a file whose worker died is taken up by a live "
        "worker within 10 s); remove it from the environment and .env",
    ]


def test_the_start_prints_the_notice_once_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.settings import settings_or_exit

    monkeypatch.setenv("SURECAST_REDIS_VISIBILITY_TIMEOUT", "900")
    settings_or_exit()
    err = capsys.readouterr().err
    assert err.startswith("surecast: SURECAST_REDIS_VISIBILITY_TIMEOUT is no longer a setting (it is derived")
    assert err.count("\n") == 1


def test_a_retired_field_of_a_backup_is_ignored_with_a_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURECAST_BACKUPS", '[{"name": "b2", "bucket": "church-backup", "checksum": "when_supported"}]')
    notices: list[str] = []
    assert [b.name for b in load_settings(notices.append).backups] == ["b2"]
    assert notices == [
        "SURECAST_BACKUPS: 'checksum' is no longer a setting (boto3's checksums stay pinned to when_required, "
        "which every S3 server accepts); remove it"
    ]


def test_a_misspelt_retired_name_still_stops_the_start_naming_the_nearest_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SURECAST_ENCODER_POLL_INTERVAL", "0.01")  # retired: no reason to stop
    monkeypatch.setenv("SURECAST_ENCODER_SOURCE_TIMOUT", "30")
    notices: list[str] = []
    with pytest.raises(SettingsError) as caught:
        load_settings(notices.append)
    assert str(caught.value) == (
        "unknown setting SURECAST_ENCODER_SOURCE_TIMOUT in the environment: did you mean "
        "SURECAST_ENCODER_SOURCE_TIMEOUT?"
    )
    assert len(notices) == 1


def test_no_retired_name_is_a_setting_again() -> None:
    from core.retired_settings import RETIRED
    from core.settings import known_variables

    assert sorted(set(RETIRED) & known_variables()) == []


def _replacements() -> list[tuple[str, str]]:
    """Each retired name and the figure its notice must give: the constant that replaced it."""
    from client.fetcher import INTEGRITY_ATTEMPTS
    from client.routes import FAILOVER_AFTER, PROBE_EVERY
    from client.serve import SERVE_WINDOW
    from encoder.constants import POLL_INTERVAL
    from encoder.event import REPUBLISH_INTERVAL
    from encoder.supervisor import RESTART_BACKOFF_BASE, RESTART_BACKOFF_CAP, STALL_GRACE, STALL_SEGMENTS
    from stack.flower import PURGE_OFFLINE_AFTER
    from stack.reconciler import ABORT_EVERY
    from uploader.constants import ABANDONED_MULTIPART_AFTER, RECONCILE_INTERVAL, RECOVER_AFTER
    from uploader.deliver import SUSPECT_ATTEMPTS
    from uploader.s3client import CHECKSUMS

    restart = f"after {RESTART_BACKOFF_BASE:g} s, doubling up to {RESTART_BACKOFF_CAP:g} s"
    return [
        ("SURECAST_REDIS_VISIBILITY_TIMEOUT", "derived from SURECAST_UPLOAD_TIME_LIMIT and SURECAST_UPLOAD_BACKOFF"),
        ("SURECAST_S3_CHECKSUM", f"pinned to {CHECKSUMS}"),
        ("SURECAST_UPLOAD_RECONCILE_INTERVAL", f"every {RECONCILE_INTERVAL * ABORT_EVERY // 60} minutes"),
        ("SURECAST_UPLOAD_RECOVER_AFTER", f"within {RECOVER_AFTER:g} s"),
        ("SURECAST_UPLOAD_SUSPECT_ATTEMPTS", f"retried {SUSPECT_ATTEMPTS} times"),
        ("SURECAST_UPLOAD_ABANDONED_MULTIPART_AFTER", {86400: "after a day"}[ABANDONED_MULTIPART_AFTER]),
        ("SURECAST_FLOWER_PURGE_OFFLINE_AFTER", f"silent for {PURGE_OFFLINE_AFTER // 60} minutes"),
        ("SURECAST_ENCODER_POLL_INTERVAL", f"every {POLL_INTERVAL * 1000:g} ms"),
        ("SURECAST_ENCODER_REPUBLISH_INTERVAL", {1.0: "every second"}[REPUBLISH_INTERVAL]),
        ("SURECAST_ENCODER_RESTART_BACKOFF_BASE", restart),
        ("SURECAST_ENCODER_RESTART_BACKOFF_CAP", restart),
        ("SURECAST_ENCODER_STALL_TIMEOUT", f"{STALL_SEGMENTS} segments + {STALL_GRACE:g} s"),
        ("SURECAST_CLIENT_FAILOVER_AFTER", f"after {FAILOVER_AFTER:g} s"),
        ("SURECAST_CLIENT_PROBE_EVERY", f"every {PROBE_EVERY:g} s"),
        ("SURECAST_CLIENT_INTEGRITY_ATTEMPTS", f"downloaded {INTEGRITY_ATTEMPTS} times"),
        ("SURECAST_CLIENT_SERVE_WINDOW", f"the last {SERVE_WINDOW} segments"),
    ]


def test_every_notice_gives_the_figure_of_the_constant_that_replaced_the_setting() -> None:
    from core.retired_settings import RETIRED

    replacements = _replacements()
    assert sorted(name for name, _ in replacements) == sorted(RETIRED)
    wrong = [(name, RETIRED[name]) for name, figure in replacements if figure not in RETIRED[name]]
    assert wrong == []
