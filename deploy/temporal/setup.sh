#!/bin/sh
# One-shot, after the Temporal server is up: wait for auto-setup to create the namespace, set how long it keeps
# closed journeys' histories (RETENTION_DAYS, from AFTERCARE_RETENTION_DAYS, capped at 90 days as
# aftercare/settings.py MAX_NAMESPACE_RETENTION_DAYS: what Temporal Cloud accepts), then register the custom
# search attributes the journeys publish (workflows/models.py SEARCH_ATTRIBUTES; the embedded stack passes the same
# list to the dev server). Safe to run again: the retention is set again, attributes already there are left alone.
set -eu

: "${TEMPORAL_ADDRESS:?}"
: "${NAMESPACE:?}"
: "${SEARCH_ATTRIBUTES:?}"
RETENTION_DAYS=${RETENTION_DAYS:-400}
MAX_RETENTION_DAYS=90

case "$RETENTION_DAYS" in
  '' | *[!0-9]*)
    echo "AFTERCARE_RETENTION_DAYS=$RETENTION_DAYS must be a whole number of days (e.g. 400)" >&2
    exit 1
    ;;
esac

tries=0
until temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $NAMESPACE not found at $TEMPORAL_ADDRESS after 120s; see: docker compose logs temporal" >&2
    exit 1
  fi
  sleep 2
done

days=$RETENTION_DAYS
if [ "$days" -gt "$MAX_RETENTION_DAYS" ]; then
  days=$MAX_RETENTION_DAYS
fi
temporal operator namespace update --namespace "$NAMESPACE" --retention "$((days * 24))h" >/dev/null
echo "namespace $NAMESPACE: closed workflows kept $days days"

existing=$(temporal operator search-attribute list --namespace "$NAMESPACE")
for pair in $SEARCH_ATTRIBUTES; do
  name=${pair%%=*}
  kind=${pair#*=}
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name: already registered"
  else
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$kind"
    echo "search attribute $name ($kind): registered"
  fi
done
