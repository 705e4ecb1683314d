#!/usr/bin/env bash
# Makes sure the database servers the tests use are up on loopback: PostgreSQL, MariaDB and
# Redis (they come with the machine; this starts one that stopped). The tests make their own
# users and databases with unique names.
#
# The machine's PostgreSQL trusts every local connection, which would let any password in. So
# that the tests can tell a right password from a wrong one, members of the group role
# `tresor_password_login` must give their password (scram-sha-256) over 127.0.0.1; nobody
# else's access changes.
set -euo pipefail

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 50); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "services: $what did not come up" >&2
  return 1
}

if ! pg_isready -h 127.0.0.1 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
wait_for PostgreSQL pg_isready -h 127.0.0.1 -q

if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for MariaDB mariadb-admin -h 127.0.0.1 -u root ping

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis redis-cli -h 127.0.0.1 ping

psql() { command psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
psql -c "DO \$\$ BEGIN CREATE ROLE tresor_password_login NOLOGIN;
         EXCEPTION WHEN duplicate_object THEN NULL; END \$\$"
hba=$(psql -c 'SHOW hba_file')
rule='host all +tresor_password_login 127.0.0.1/32 scram-sha-256'
if ! grep -qxF "$rule" "$hba"; then
  sed -i "1i $rule" "$hba"
  psql -c 'SELECT pg_reload_conf()' >/dev/null
fi
