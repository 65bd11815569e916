"""`surecast flower`: refuses to start without credentials; with them, answers only to those credentials."""

from __future__ import annotations

import pytest

from core.service_settings import FlowerSection
from stack.flower import flower_argv, flower_env
from tests.support.procs import free_port, http_status, log_tail, spawn, terminate, wait_until
from tests.support.stack import BIN, Stack


def test_flower_env_refuses_without_credentials_naming_the_variables() -> None:
    for section in (FlowerSection(), FlowerSection(user="ops"), FlowerSection(password="pw")):
        with pytest.raises(ValueError, match="SURECAST_FLOWER_USER and SURECAST_FLOWER_PASSWORD"):
            flower_env(section, {})


def test_credentials_go_to_the_environment_not_the_command_line() -> None:
    section = FlowerSection(user="ops", password="s3cret", port=5601)
    env = flower_env(section, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "FLOWER_BASIC_AUTH": "ops:s3cret"}
    argv = flower_argv(section, "python")
    assert "--port=5601" in argv and "--address=127.0.0.1" in argv
    assert not any("s3cret" in arg for arg in argv)


@pytest.mark.parametrize("user", ["a:b", "a,b"])
def test_user_with_a_separator_is_rejected(user: str) -> None:
    with pytest.raises(ValueError):
        FlowerSection(user=user)


def test_password_with_a_comma_is_rejected() -> None:
    with pytest.raises(ValueError, match="SURECAST_FLOWER_PASSWORD"):
        flower_env(FlowerSection(user="ops", password="a,b"), {})


def test_flower_command_with_a_broken_credentials_file_exits_with_one_line(stack: Stack) -> None:
    (stack.spool / "credentials.json").write_text("not json")
    result = stack.run_cli("flower", timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "SURECAST_FLOWER_USER" in lines[0] and "credentials.json" in lines[0]


def test_flower_uses_the_stacks_generated_credentials_when_none_are_set(stack: Stack) -> None:
    from stack.credentials import stack_credentials

    port = free_port()
    env = {**stack.env, "SURECAST_FLOWER_PORT": str(port)}
    log = stack.tmp / "flower.log"
    proc = spawn([str(BIN / "surecast"), "flower"], env, log, cwd=stack.tmp)
    try:
        url = f"http://127.0.0.1:{port}/api/workers?status=true"
        wait_until(lambda: http_status(url) != 0 or proc.poll() is not None, 60, 0.2, "flower did not listen")
        user, password, created = stack_credentials(stack.spool)
        assert not created, "Flower should have generated them"
        assert http_status(url) == 401 and http_status(url, (user, password)) == 200
        assert password in log.read_text()  # printed once, where they were made
    finally:
        terminate(proc)


def test_flower_answers_only_with_credentials(stack: Stack) -> None:
    port = free_port()
    env = {
        **stack.env,
        "SURECAST_FLOWER_USER": "ops",
        "SURECAST_FLOWER_PASSWORD": "pw",
        "SURECAST_FLOWER_PORT": str(port),
    }
    log = stack.tmp / "flower.log"
    proc = spawn([str(BIN / "surecast"), "flower"], env, log, cwd=stack.tmp)
    try:
        url = f"http://127.0.0.1:{port}/api/workers?status=true"
        wait_until(lambda: http_status(url) != 0 or proc.poll() is not None, 60, 0.2, "flower did not listen")
        assert proc.poll() is None, log_tail(log)
        assert http_status(url) == 401
        assert http_status(url, ("ops", "wrong")) == 401
        assert http_status(url, ("ops", "pw")) == 200
        assert http_status(f"http://127.0.0.1:{port}/", ("ops", "pw")) == 200
        for page in ("metrics", "healthcheck"):  # open to anyone in Flower itself; not here
            assert http_status(f"http://127.0.0.1:{port}/{page}") == 401
            assert http_status(f"http://127.0.0.1:{port}/{page}", ("ops", "pw")) == 200
    finally:
        terminate(proc)
