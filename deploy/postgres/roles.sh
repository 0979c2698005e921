#!/bin/sh
# The platform's two PostgreSQL roles, made when the database is first initialized (the postgres
# image runs what is in /docker-entrypoint-initdb.d): kirjaamo_owner owns the tables and is the only
# role `kirjaamo migrate` connects as; kirjaamo_app, the role the services connect as, owns nothing,
# so it cannot alter a table or lift the record's append-only trigger, and migrate grants it only
# inserting into and reading the record (README, "A record that proves itself").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v db="$POSTGRES_DB" \
	-v owner_password="$POSTGRES_OWNER_PASSWORD" -v app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE kirjaamo_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE kirjaamo_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO kirjaamo_owner;
ALTER SCHEMA public OWNER TO kirjaamo_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
