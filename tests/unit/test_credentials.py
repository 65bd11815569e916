"""The stack's generated credentials: made once on the spool, private, reused; Flower and the console share them."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.console_settings import ConsoleSection
from core.encoder_settings import EncoderSection
from core.service_settings import FlowerSection
from core.settings import Settings
from stack.credentials import (
    ADMIN_USER,
    CredentialsError,
    credentials_message,
    credentials_path,
    flower_section,
    service_urls,
    stack_credentials,
    stack_ingest_key,
)
from stack.flower import flower_env, flower_section_with


def test_the_first_call_creates_a_private_file_and_later_calls_reuse_it(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    user, password, created = stack_credentials(spool)
    assert created and user == ADMIN_USER and len(password) >= 24
    path = credentials_path(spool)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "user": user,
        "password": password,
        "ingest_key": stack_ingest_key(spool)[0],
    }
    assert stack_credentials(spool) == (user, password, False)
    assert [p.name for p in spool.iterdir()] == ["credentials.json"]  # no temporary file left behind


def test_each_spool_gets_its_own_password(tmp_path: Path) -> None:
    assert stack_credentials(tmp_path / "a")[1] != stack_credentials(tmp_path / "b")[1]


def _create(spool: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(stack_credentials(Path(spool)))


def test_processes_starting_together_end_up_with_one_pair(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_create, args=(str(tmp_path), out)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [out.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(10)
    assert len({(u, pw) for u, pw, _ in results}) == 1
    assert sum(created for _, _, created in results) == 1


@pytest.mark.parametrize("body", ["{not json", "[]", '{"user": "surecast"}', '{"user": "", "password": "x"}'])
def test_a_damaged_file_is_reported_not_replaced(tmp_path: Path, body: str) -> None:
    credentials_path(tmp_path).write_text(body)
    with pytest.raises(CredentialsError, match="remove it to generate new credentials"):
        stack_credentials(tmp_path)
    assert credentials_path(tmp_path).read_text() == body


def test_the_ingest_key_comes_with_new_credentials_and_is_a_valid_stream_key_and_passphrase(tmp_path: Path) -> None:
    key, created = stack_ingest_key(tmp_path)
    assert created and len(key) == 24
    assert EncoderSection(ingest_key=key).ingest_key.get_secret_value() == key  # type: ignore[arg-type]
    assert stack_ingest_key(tmp_path) == (key, False)
    assert stack_ingest_key(tmp_path / "other")[0] != key


def test_a_file_from_before_the_ingest_key_gets_one_and_keeps_its_login(tmp_path: Path) -> None:
    path = credentials_path(tmp_path)
    path.write_text(json.dumps({"user": "surecast", "password": "old-password"}))
    path.chmod(0o600)
    key, created = stack_ingest_key(tmp_path)
    assert created and json.loads(path.read_text()) == {
        "user": "surecast",
        "password": "old-password",
        "ingest_key": key,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stack_ingest_key(tmp_path) == (key, False)
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]


def _add_key(spool: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(stack_ingest_key(Path(spool)))


def test_processes_adding_the_ingest_key_together_end_up_with_one(tmp_path: Path) -> None:
    credentials_path(tmp_path).write_text(json.dumps({"user": "surecast", "password": "old-password"}))
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_add_key, args=(str(tmp_path), out)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [out.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(10)
    assert len({key for key, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert json.loads(credentials_path(tmp_path).read_text())["ingest_key"] == results[0][0]


def test_the_message_names_the_login_and_where_to_use_it() -> None:
    text = credentials_message("surecast", "pw", {"console": "http://127.0.0.1:8090/", "Flower": "http://x:5555/"})
    assert text.splitlines() == [
        "user: surecast",
        "password: pw",
        "console: http://127.0.0.1:8090/",
        "Flower: http://x:5555/",
    ]
    with_key = credentials_message("surecast", "pw", {}, "the-key-0123")
    assert "ingest key: the-key-0123 (OBS: Settings > Stream > Stream Key" in with_key


@pytest.mark.parametrize(
    ("bind", "url"),
    [("127.0.0.1", "http://127.0.0.1:8090/"), ("0.0.0.0", "http://127.0.0.1:8090/"), ("::1", "http://[::1]:8090/")],
)
def test_service_urls_are_where_a_browser_on_this_pc_reaches_them(bind: str, url: str) -> None:
    settings = Settings(console=ConsoleSection(bind=bind, user="u", password=SecretStr("p")))
    assert service_urls(settings) == {
        "console": url,
        "Flower": "http://127.0.0.1:5555/",
        "web player": "http://127.0.0.1:8089/",
    }


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [("", "", "surecast:generated"), ("ops", "set", "ops:set")],
)
def test_flower_takes_the_stack_credentials_unless_its_own_are_set(user: str, password: str, expected: str) -> None:
    section = flower_section_with(FlowerSection(user=user, password=SecretStr(password)), "surecast", "generated")
    assert flower_env(section, {})["FLOWER_BASIC_AUTH"] == expected


def test_a_generated_password_is_one_flower_accepts(tmp_path: Path) -> None:
    user, password, _ = stack_credentials(tmp_path)
    section = flower_section_with(FlowerSection(), user, password)
    assert flower_env(section, {})["FLOWER_BASIC_AUTH"] == f"{user}:{password}"
    assert os.environ.get("FLOWER_BASIC_AUTH") is None


def test_flower_uses_the_stack_login_only_when_its_own_is_unset(tmp_path: Path) -> None:
    own = Settings(spool={"dir": tmp_path / "a"}, flower=FlowerSection(user="ops", password=SecretStr("set")))
    assert flower_section(own) is own.flower
    assert not credentials_path(tmp_path / "a").exists()  # nothing generated that nobody uses
    stack = Settings(spool={"dir": tmp_path / "b"})
    section = flower_section(stack)
    user, password, created = stack_credentials(tmp_path / "b")
    assert not created and (section.user, section.password.get_secret_value()) == (user, password)


def test_flower_without_any_login_is_a_settings_error_naming_the_variables(tmp_path: Path) -> None:
    credentials_path(tmp_path).write_text("{broken")
    with pytest.raises(ValueError, match="set SURECAST_FLOWER_USER and SURECAST_FLOWER_PASSWORD, or fix"):
        flower_section(Settings(spool={"dir": tmp_path}))
