#!/usr/bin/env bash
# Start Apache Kafka (official image) in KRaft mode with SCRAM and ACLs.
# The first start formats the data volume and creates the `admin` SCRAM user in the same step (KRaft
# has no other way to create the first user when every listener needs SCRAM); later starts keep the
# formatted log (--ignore-formatted) and its users.
set -euo pipefail
: "${KAFKA_CLUSTER_ID:?set KAFKA_CLUSTER_ID in .env (infra/make-secrets.sh writes one)}"
: "${KAFKA_PUBLIC_HOST:?set KAFKA_PUBLIC_HOST in .env: the name providers connect to}"
USERS_FILE=/run/secrets/kafka_users
ADMIN_PASSWORD="$(grep -m1 '^admin:' "$USERS_FILE" | cut -d: -f2-)"
[ -n "$ADMIN_PASSWORD" ] || { echo "no admin line in $USERS_FILE (continuum providers credentials)" >&2; exit 1; }

CONFIG=/tmp/server.properties  # holds the admin password: container-local, never in the volume
sed -e "s|@ADMIN_PASSWORD@|$ADMIN_PASSWORD|" \
    -e "s|@PUBLIC_HOST@|$KAFKA_PUBLIC_HOST|" \
    -e "s|@PUBLIC_PORT@|${KAFKA_PUBLIC_PORT:-9094}|" \
    /infra/kafka/server.properties > "$CONFIG"
chmod 600 "$CONFIG"

# The admin client settings the healthcheck and the init service use.
cat > /tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$ADMIN_PASSWORD";
PROPS
chmod 600 /tmp/admin.properties

/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c "$CONFIG" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=$ADMIN_PASSWORD]"
exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
