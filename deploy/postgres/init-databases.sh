#!/bin/sh
# Runs once, when the PostgreSQL volume is empty (docker-entrypoint-initdb.d): one role and one database for
# Aftercare, one role and two databases (persistence, visibility) for Temporal. temporalio/auto-setup applies
# Temporal's schema to those two (SKIP_DB_CREATE=true: it does not try to create them itself).
# Passwords come from the environment (.env), never from this file; psql reads them from its environment
# (\getenv, psql 15 and later), so they never appear on a command line.
set -eu

: "${POSTGRES_AFTERCARE_PASSWORD:?set POSTGRES_AFTERCARE_PASSWORD in .env (see .env.example)}"
: "${POSTGRES_TEMPORAL_PASSWORD:?set POSTGRES_TEMPORAL_PASSWORD in .env (see .env.example)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\getenv aftercare_password POSTGRES_AFTERCARE_PASSWORD
\getenv temporal_password POSTGRES_TEMPORAL_PASSWORD
CREATE ROLE aftercare LOGIN PASSWORD :'aftercare_password';
CREATE DATABASE aftercare OWNER aftercare;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
