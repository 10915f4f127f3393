#!/usr/bin/env bash
# Set up (once) and serve tandem. With no arguments: the embedded defaults
# (SQLite ledger, the bundled SmolLM2 model as "local" and "auto") on
# http://127.0.0.1:8080/v1. Arguments go to `tandem serve` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/tandem serve "$@"
