#!/usr/bin/env bash
# The project's test command (the one line in the README): `bash scripts/test.sh`.
# Installs what the tests need on a fresh Debian machine -- Debian's Chromium for the browser tests (Playwright
# cannot download its own browsers here; needs root, else it says how), nginx and redis-server (the hall tests,
# tests/deploy, and the class rooms' tests start their own on free ports; the packages' services are never used)
# and the .venv from requirements-test.txt --
# then runs the whole pytest suite (unit, AppTest, browser). Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -m "not browser and not slow"` (the quick loop) or `bash scripts/test.sh tests/browser`.
# Without Chromium the browser tests skip, except with CI=true where they fail. Screenshots and logs: artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)              # tests/deploy: the hall's proxy
[ -x /usr/bin/redis-server ] || missing+=(redis-server)  # the hall's and the class rooms' store (tests start their own)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing ${missing[*]}"
        apt-get update -q -o Acquire::Retries=3
        apt-get install -y -q -o Acquire::Retries=3 "${missing[@]}"
    else
        echo "test.sh: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
    fi
fi
# (/usr/bin/chromium is a shell wrapper that prints a harmless '[: ... unexpected operator' on stderr.)
[ -x /usr/bin/chromium ] && echo "test.sh: $(/usr/bin/chromium --version 2>/dev/null), $(python3 --version)"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -r requirements-test.txt

# Tests run on several workers (pytest-xdist, one per core, at most 4; MOEVIZ_TEST_WORKERS=1 runs all in one
# process); `timing` and `alone` tests always run one after another in one process. With extra arguments,
# tests/conftest.py puts every browser and timing test in one xdist group (one worker).
workers="${MOEVIZ_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}"
[ "$workers" -gt 4 ] && workers=4
pytest=(.venv/bin/python -m pytest -q -p no:cacheprovider)
if [ "$workers" -le 1 ]; then
    exec "${pytest[@]}" "$@"
elif [ "$#" -eq 0 ]; then
    # The whole suite in three phases: everything but the browser and `timing` tests in parallel; then the browser
    # tests that measure no time and start no servers of their own, in parallel too (one served app and one
    # Chromium per worker, a module's tests on one worker); then the `timing` and `alone` tests one after
    # another, with nothing of ours beside them (follow delays, load ratios, halls of their own).
    quick=0
    # (--durations: CI's log then says where the time went.)
    "${pytest[@]}" -n "$workers" -m "not browser and not timing" --durations=10 || quick=$?
    pages=0
    "${pytest[@]}" -n "$workers" --dist loadfile -m "browser and not timing and not alone" --durations=15 || pages=$?
    rest=0
    "${pytest[@]}" -m "timing or alone" --durations=15 || rest=$?
    echo "test.sh: parallel phase exit $quick, parallel browser phase exit $pages, timing and alone phase exit $rest"
    [ "$quick" -eq 0 ] && [ "$pages" -eq 0 ] && [ "$rest" -eq 0 ]
else
    exec "${pytest[@]}" -n "$workers" --dist loadgroup "$@"
fi
