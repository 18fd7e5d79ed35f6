#!/bin/sh
# One-shot (temporalio/admin-tools): create Temporal's two PostgreSQL databases and bring their schemas to the
# version of this admin-tools image. Safe to run at every `docker compose up`: an existing database is kept and
# setup-schema/update-schema only add what is missing.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}"
DB_PORT=${DB_PORT:-5432}
DBNAME=${DBNAME:-temporal}
VISIBILITY_DBNAME=${VISIBILITY_DBNAME:-temporal_visibility}
SCHEMA_ROOT=${TEMPORAL_HOME:-/etc/temporal}/schema/postgresql/v12
export SQL_PASSWORD="$POSTGRES_PWD"

until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"; sleep 1; done

sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"; }
for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db=${pair%%:*}
  schema=${pair##*:}
  # `create` fails when the database exists (every start after the first); setup-schema below fails loudly
  # if it really could not be created.
  sql --db "$db" create 2>/dev/null || echo "database $db exists"
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$SCHEMA_ROOT/$schema/versioned"
done
echo "Temporal schema is ready in $DBNAME and $VISIBILITY_DBNAME"
