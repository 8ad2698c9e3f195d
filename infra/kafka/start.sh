#!/usr/bin/env bash
# Start Apache Kafka (official image) in KRaft mode with SCRAM and ACLs.
# The first start formats the data volume and creates the `admin` SCRAM user in the same step (KRaft
# has no other way to create the first user when every listener needs SCRAM); later starts keep the
# formatted log (--ignore-formatted) and its users.
set -euo pipefail
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID in .env (infra/make-secrets.sh writes one)}"
: "${KAFKA_PUBLIC_HOST:?set KAFKA_PUBLIC_HOST in .env: the name providers connect to}"
# Container paths; overridable so tests/test_deploy_kafka_scripts.py can run this with stand-in tools.
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
TEMPLATE="${KAFKA_CONFIG_TEMPLATE:-/infra/kafka/server.properties}"
RUNTIME_DIR="${KAFKA_RUNTIME_DIR:-/tmp}"  # the healthcheck reads $RUNTIME_DIR/admin.properties
USERS_FILE="${SECRETS_DIR:-/run/secrets}/kafka_users"
ADMIN_PASSWORD="$(grep -m1 '^admin:' "$USERS_FILE" | cut -d: -f2- || true)"
# Only the characters continuum's generated passwords use: the value goes through sed and a JAAS line.
if [[ ! "$ADMIN_PASSWORD" =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
  echo "no usable admin password in $USERS_FILE (continuum providers credentials makes one)" >&2
  exit 1
fi

CONFIG="$RUNTIME_DIR/server.properties"  # holds the admin password: container-local, never in a volume
umask 077
sed -e "s|@ADMIN_PASSWORD@|$ADMIN_PASSWORD|" \
    -e "s|@PUBLIC_HOST@|$KAFKA_PUBLIC_HOST|" \
    -e "s|@PUBLIC_PORT@|${KAFKA_PUBLIC_PORT:-9094}|" \
    "$TEMPLATE" > "$CONFIG"
if grep -q '@[A-Z_]*@' "$CONFIG"; then echo "unfilled placeholder in $CONFIG" >&2; exit 1; fi

# The admin client settings the healthcheck and the init service use.
cat > "$RUNTIME_DIR/admin.properties" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
PROPS

"$KAFKA_BIN/kafka-storage.sh" format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c "$CONFIG" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]"
exec "$KAFKA_BIN/kafka-server-start.sh" "$CONFIG"
