#!/usr/bin/env bash
# Apply a Kafka access plan (topics, SCRAM users, ACLs) as the admin. Usage:
#   init.sh PLAN.sh   the compose init service: the plan `continuum providers plan` wrote
#   init.sh -         a plan on stdin, e.g. `continuum providers add X | docker compose run --rm -T kafka-init -`
set -euo pipefail
USERS_FILE="${SECRETS_DIR:-/run/secrets}/kafka_users"
ADMIN_PASSWORD="$(grep -m1 '^admin:' "$USERS_FILE" | cut -d: -f2- || true)"
[ -n "$ADMIN_PASSWORD" ] || { echo "no admin line in $USERS_FILE (continuum providers credentials)" >&2; exit 1; }
umask 077
CONFIG="$(mktemp)"
trap 'rm -f "$CONFIG"' EXIT
cat > "$CONFIG" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
PROPS
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka:9092}" KAFKA_COMMAND_CONFIG="$CONFIG" KAFKA_USER_PASSWORDS="$USERS_FILE"
if [ "${1:--}" = "-" ]; then bash -s; else bash "$1"; fi
