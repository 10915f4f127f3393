#!/usr/bin/env bash
# Start PostgreSQL and Redis on loopback for the store tests, idempotently.
#
# CI (root, fresh Debian 12) runs, after `apt-get install -y postgresql redis-server`:
#
#     bash .ci/services.sh            # or: source .ci/services.sh
#     . "${TANDEM_SERVICES_ENV:-/tmp/tandem-services.env}"
#
# It starts (or creates, then starts) the PostgreSQL cluster, creates the role
# and database `tandem_test` (password auth over 127.0.0.1), starts
# redis-server on 127.0.0.1:6379 (no persistence), then writes
#
#     export TANDEM_TEST_POSTGRES_URL=postgresql://tandem_test:...@127.0.0.1:PORT/tandem_test
#     export TANDEM_TEST_REDIS_URL=redis://127.0.0.1:6379/0
#
# to $TANDEM_SERVICES_ENV (default /tmp/tandem-services.env), prints them, and
# exports them when sourced. Running it twice changes nothing. A service that
# cannot be started is reported and its variable left out, so the matching
# tests skip instead of the whole run failing; set TANDEM_SERVICES_STRICT=1 to
# make that an error. Never started services are never stopped by it.

_tandem_services() {
    local env_file="${TANDEM_SERVICES_ENV:-/tmp/tandem-services.env}"
    local db="${TANDEM_TEST_DB:-tandem_test}"
    local role="${TANDEM_TEST_DB_USER:-tandem_test}"
    local password="${TANDEM_TEST_DB_PASSWORD:-tandem_test}"
    local redis_port="${TANDEM_TEST_REDIS_PORT:-6379}"
    local pg_url="" redis_url="" failed=0

    # Run a command as the postgres OS user (postgres refuses to run as root).
    _as_postgres() {
        if [ "$(id -un)" = postgres ]; then
            "$@"
        elif [ "$(id -u)" = 0 ]; then
            if command -v runuser >/dev/null 2>&1; then
                runuser -u postgres -- "$@"
            else
                su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
            fi
        else
            sudo -n -u postgres -- "$@"
        fi
    }

    # --- PostgreSQL ----------------------------------------------------------
    if command -v pg_lsclusters >/dev/null 2>&1; then
        local ver port status
        read -r ver _ port status _ < <(pg_lsclusters -h | head -n 1)
        if [ -z "${ver:-}" ]; then
            # The package was installed with create_main_cluster=false.
            ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
            pg_createcluster "$ver" main >/dev/null
            read -r ver _ port status _ < <(pg_lsclusters -h | head -n 1)
        fi
        if [ "$status" != online ]; then
            pg_ctlcluster "$ver" main start || true
        fi
        local i
        for i in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p "$port" && break
            sleep 0.5
        done
        if pg_isready -q -h 127.0.0.1 -p "$port"; then
            # Identifiers and the password are fixed by us above, not user input.
            # (cd /: psql as postgres cannot read root's working directory.)
            (cd / && _as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 -d postgres) <<SQL
SELECT 'CREATE ROLE $role LOGIN CREATEDB PASSWORD ''$password'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') \\gexec
ALTER ROLE $role LOGIN CREATEDB PASSWORD '$password';
SELECT 'CREATE DATABASE $db OWNER $role'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \\gexec
SQL
            if [ $? -eq 0 ]; then
                pg_url="postgresql://$role:$password@127.0.0.1:$port/$db"
            else
                echo "services.sh: could not create the PostgreSQL role/database" >&2
                failed=1
            fi
        else
            echo "services.sh: PostgreSQL $ver did not start (see /var/log/postgresql/)" >&2
            failed=1
        fi
    else
        echo "services.sh: PostgreSQL is not installed (apt-get install -y postgresql)" >&2
        failed=1
    fi

    # --- Redis ---------------------------------------------------------------
    if command -v redis-server >/dev/null 2>&1; then
        if ! redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
            redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" \
                --save '' --appendonly no --protected-mode yes \
                --logfile /tmp/tandem-redis.log >/dev/null
            local j
            for j in $(seq 1 30); do
                redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
                sleep 0.2
            done
        fi
        if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
            redis_url="redis://127.0.0.1:$redis_port/0"
        else
            echo "services.sh: redis-server did not start (see /tmp/tandem-redis.log)" >&2
            failed=1
        fi
    else
        echo "services.sh: Redis is not installed (apt-get install -y redis-server)" >&2
        failed=1
    fi

    # --- Report --------------------------------------------------------------
    : >"$env_file"
    if [ -n "$pg_url" ]; then
        echo "export TANDEM_TEST_POSTGRES_URL=$pg_url" >>"$env_file"
        export TANDEM_TEST_POSTGRES_URL="$pg_url"
    fi
    if [ -n "$redis_url" ]; then
        echo "export TANDEM_TEST_REDIS_URL=$redis_url" >>"$env_file"
        export TANDEM_TEST_REDIS_URL="$redis_url"
    fi
    cat "$env_file"
    echo "services.sh: wrote $env_file"
    if [ "$failed" != 0 ] && [ "${TANDEM_SERVICES_STRICT:-0}" = 1 ]; then
        return 1
    fi
    return 0
}

# Sourced: export into the caller's shell without changing its options.
# Run: exit with the function's status.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    _tandem_services
else
    _tandem_services
    exit $?
fi
