#!/bin/sh
# One-shot, after the Temporal server is up: wait for auto-setup to create the namespace, then register the
# custom search attributes the journeys publish (workflows/models.py SEARCH_ATTRIBUTES; the embedded stack
# passes the same list to the dev server). Safe to run again: attributes already there are left alone.
set -eu

: "${TEMPORAL_ADDRESS:?}"
: "${NAMESPACE:?}"
: "${SEARCH_ATTRIBUTES:?}"

tries=0
until temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $NAMESPACE not found at $TEMPORAL_ADDRESS after 120s; see: docker compose logs temporal" >&2
    exit 1
  fi
  sleep 2
done

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
