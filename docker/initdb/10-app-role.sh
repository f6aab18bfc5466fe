#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: the role the api and the
# scheduler log in as. It owns nothing; `pv-service migrate` (PV_DATABASE_APP_ROLE) grants it
# its privileges on the tables.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v pw="$PV_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE pv_app LOGIN PASSWORD :'pw';
SQL
