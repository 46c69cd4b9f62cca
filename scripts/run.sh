#!/usr/bin/env bash
# Serve the app locally: `bash scripts/run.sh` (extra arguments go to `streamlit run`, e.g. --server.port 8600).
# Creates/updates .venv from requirements.txt first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -r requirements.txt

exec .venv/bin/streamlit run app.py "$@"
