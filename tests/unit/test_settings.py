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
        ("SURECAST_S3_CHECKSUM", "always", "SURECAST_S3_CHECKSUM: Input should be 'when_required'"),
        ("SURECAST_REDIS_URL", "http://secret@x", "SURECAST_REDIS_URL: Value error, must start with redis://"),
        ("SURECAST_REDIS_VISIBILITY_TIMEOUT", "10", "SURECAST_REDIS_VISIBILITY_TIMEOUT must be at least"),
        ("SURECAST_METRICS_BIND", "0.0.0.0", "SURECAST_METRICS_USER and SURECAST_METRICS_PASSWORD are required"),
        ("SURECAST_CONSOLE_USER", "volunteer", "SURECAST_CONSOLE_USER and SURECAST_CONSOLE_PASSWORD go together"),
        ("SURECAST_CONSOLE_PASSWORD", "secret", "SURECAST_CONSOLE_USER and SURECAST_CONSOLE_PASSWORD go together"),
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
