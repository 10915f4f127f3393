#!/usr/bin/env bash
# Set up (once) and run the test suite. As root on Debian it also installs and
# starts PostgreSQL, Redis and Chromium for the tests that need real servers
# and a real browser; elsewhere those tests are skipped with a reason.
# Arguments go to pytest (e.g. scripts/test.sh -k privacy).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    need=""
    for pkg in postgresql redis-server chromium chromium-driver nginx wrk; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
    done
    if [ -n "$need" ]; then
        echo "installing Debian packages:$need"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
    fi
fi
if [ -f .ci/services.sh ]; then
    # Starts PostgreSQL and Redis on loopback and writes their URLs.
    export TANDEM_SERVICES_ENV="$PWD/.ci/services.env"
    rm -f "$TANDEM_SERVICES_ENV"
    bash .ci/services.sh || echo "warning: could not start PostgreSQL/Redis; their tests will be skipped"
    if [ -f .ci/services.env ]; then
        set -a; . .ci/services.env; set +a
    fi
fi
scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
