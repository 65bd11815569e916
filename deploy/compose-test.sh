#!/usr/bin/env bash
# Test the compose stack on this machine: build the image, run docker-compose.yml with
# deploy/compose.test.yml (host networking, 127.0.0.1 only, the stack's embedded S3 server as the destination) and
# check delivery, Flower's auth, `surecast scale 3`, and a stop and start that loses nothing.
# The checks are tests/system/test_compose.py; extra arguments go to pytest.
#
# Needs a Docker engine and compose (`docker compose` or docker-compose 1.29). Run as root where the
# engine is missing and the workplace's docker-local tool sits beside the repository, it sets Docker
# up first and builds on the local base image it prints. BASE_IMAGE chooses the base image explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
tool=../shared/tools/docker-local
if ! docker info >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ -x "$tool" ]; then
  BASE_IMAGE=$("$tool")
  export BASE_IMAGE
fi
exec "$python" -m pytest -m slow -n 0 tests/system/test_compose.py -v -rs -p no:cacheprovider "$@"
