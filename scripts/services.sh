#!/usr/bin/env bash
# Make sure the local services the tests use are up:
#   - PostgreSQL on 127.0.0.1:5432 with the test role and database of tests/conftest.py
#     (role `estatewatch`, password `estatewatch`: a local-only test credential that works both
#     with Debian's default scram-sha-256 over TCP and with trust auth; database `estatewatch_test`);
#   - Mosquitto on 127.0.0.1:1883 (tests/alarms/test_mqtt.py).
# Their packages come from `scripts/setup.sh --services` (scripts/apt-services.txt). A service
# that does not answer on its port is started with Debian's own command, without systemd (so it
# works in containers too); a missing PostgreSQL cluster is created first. Redis and NATS are
# not started: no code in the project uses them. The demo needs none of this (it uses SQLite).
# Only 127.0.0.1 is touched. Idempotent. Exits non-zero if a service stays down.
set -uo pipefail

SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
TEST_ROLE=estatewatch TEST_PASSWORD=estatewatch TEST_DB=estatewatch_test

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local name=$1 port=$2; shift 2
    if up "$port"; then return 0; fi
    echo "services: $name is down on 127.0.0.1:$port; starting it"
    "$@" || true
    for _ in $(seq 1 30); do up "$port" && { echo "services: $name is up"; return 0; }; sleep 1; done
    echo "services: $name did not come up on port $port" >&2
    return 1
}

as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -u postgres "$@"); fi
}

# Start the `main` cluster on port 5432, creating it when the package made none.
start_postgresql() {
    local ver
    ver=$(pg_lsclusters -h 2>/dev/null | awk '$2 == "main" { print $1; exit }')
    if [[ -z "$ver" ]]; then
        ver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
        if [[ -z "$ver" ]]; then
            echo "services: PostgreSQL is not installed (run scripts/setup.sh --services)" >&2
            return 1
        fi
        echo "services: creating PostgreSQL cluster $ver/main"
        $SUDO pg_createcluster --port 5432 "$ver" main || return 1
    fi
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start
}

# Create the tests' role and database if missing (and reset the role's password).
ensure_test_database() {
    as_postgres psql -q -X -v ON_ERROR_STOP=1 -p 5432 -d postgres <<SQL
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_ROLE') THEN
        CREATE ROLE $TEST_ROLE LOGIN;
    END IF;
END \$\$;
ALTER ROLE $TEST_ROLE LOGIN PASSWORD '$TEST_PASSWORD';
SELECT 'CREATE DATABASE $TEST_DB OWNER $TEST_ROLE'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$TEST_DB') \gexec
SQL
}

# Debian's mosquitto.conf writes its pid under /run/mosquitto, which only systemd creates.
start_mosquitto() {
    if ! command -v mosquitto >/dev/null && [[ ! -x /usr/sbin/mosquitto ]]; then
        echo "services: Mosquitto is not installed (run scripts/setup.sh --services)" >&2
        return 1
    fi
    $SUDO install -d -o mosquitto -g mosquitto /run/mosquitto
    $SUDO "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -d -c /etc/mosquitto/mosquitto.conf
}

rc=0
if start postgresql 5432 start_postgresql; then
    ensure_test_database || { echo "services: could not create the test role/database" >&2; rc=1; }
else
    rc=1
fi
start mosquitto 1883 start_mosquitto || rc=1
exit $rc
