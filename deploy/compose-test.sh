#!/usr/bin/env bash
# Test the compose stack on this machine: build the image, run docker-compose.yml with
# deploy/compose.test.yml (host networking, 127.0.0.1 only, the stack's embedded S3 server as the destination) and
# check delivery, Flower's auth, `surecast scale 3`, and a stop and start that loses nothing.
# The checks are tests/system/test_compose.py; extra arguments go to pytest.
#
# Needs a Docker engine and compose (`docker compose` or docker-compose 1.29); without them the tests skip
# with the reason. BASE_IMAGE chooses the base image (default python:3.11-slim-bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
exec "$python" -m pytest -m slow -n 0 tests/system/test_compose.py -v -rs -p no:cacheprovider "$@"
