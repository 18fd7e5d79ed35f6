#!/bin/sh
# One-shot (temporalio/admin-tools), after the Temporal server is up: create the namespace ml-connector uses
# with its retention period, and register the search attributes its workflows are found by in the Web UI.
# Safe to run at every `docker compose up`: an existing namespace gets the configured retention, existing
# search attributes are left alone.
set -eu
: "${TEMPORAL_ADDRESS:?}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_RETENTION:-30d}
SEARCH_ATTRIBUTES=${SEARCH_ATTRIBUTES:-"CompanyId StripePaymentId StripeCustomerId QbTxnId PaymentStatus"}

attempt=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge "${HEALTH_ATTEMPTS:-60}" ]; then
    echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
    exit 1
  fi
  echo "waiting for Temporal at $TEMPORAL_ADDRESS ($attempt)"
  sleep 2
done

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace update --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
  echo "namespace $NAMESPACE exists; retention set to $RETENTION"
else
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
  echo "namespace $NAMESPACE created with retention $RETENTION"
fi

# A new namespace takes a moment to reach every frontend; retry until the attributes are listed.
for name in $SEARCH_ATTRIBUTES; do
  tries=0
  until temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
        | grep -qw "$name"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 30 ]; then
      echo "could not register search attribute $name in $NAMESPACE" >&2
      exit 1
    fi
    temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
      --name "$name" --type Keyword >/dev/null 2>&1 || sleep 2
  done
  echo "search attribute $name (Keyword) is registered"
done
