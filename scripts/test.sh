#!/usr/bin/env bash
# The project's test command (the one line in the README): `bash scripts/test.sh`.
# Creates/updates .venv from requirements-test.txt, then runs the whole pytest suite (unit, AppTest, browser).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not browser"` or `bash scripts/test.sh tests/browser`.
# Browser tests need Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`); without it they
# skip, except with CI=true where they fail. Screenshots and the server log land in artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -r requirements-test.txt

exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
