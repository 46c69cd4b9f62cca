#!/usr/bin/env bash
# Copy the screenshots the browser tests saved (artifacts/screenshots/, git-ignored) into docs/images/ for the
# README. Run after `bash scripts/test.sh tests/browser`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p docs/images
for name in walkthrough-step-2 walkthrough-step-5 page-heatmap balance-results page-variants parallel-after-run \
            compute-after-measure quiz-revealed presenter-home; do
    src="artifacts/screenshots/$name.png"
    if [ -f "$src" ]; then cp "$src" "docs/images/$name.png"; else echo "missing $src" >&2; fi
done
ls -la docs/images
