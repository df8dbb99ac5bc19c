#!/usr/bin/env bash
# Make sure the local services the tests use are up (PostgreSQL, Redis, Mosquitto, NATS):
# each one that does not answer on its port is started with Debian's own command.
# Only 127.0.0.1 is touched. Exits non-zero if a service stays down.
set -uo pipefail

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

rc=0
start postgresql 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || rc=1
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || rc=1
start mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf || rc=1
start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || rc=1
exit $rc
