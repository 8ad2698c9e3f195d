#!/usr/bin/env bash
# Make the deployment's secrets that do not exist yet (never overwrites one) and a .env from
# infra/.env.example. Kafka's passwords come from `continuum providers credentials`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=infra/secrets
# The directory is the owner's alone; the files are world-readable because compose bind-mounts them
# into containers that run as other users (postgres, kafka's appuser, continuum).
chmod 700 "$dir"
umask 022

random() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
make() {  # make NAME COMMAND...: write the command's output to $dir/NAME unless it exists
  local name="$1"; shift
  [ -s "$dir/$name" ] && return 0
  "$@" > "$dir/$name"
  echo "made $dir/$name"
}
make postgres-password random
make airflow-jwt-secret random
make airflow-secret-key random
make airflow-fernet-key python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'

if [ ! -f .env ]; then
  cluster_id="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
  sed "s|^KAFKA_CLUSTER_ID=.*|KAFKA_CLUSTER_ID=$cluster_id|" infra/.env.example > .env
  echo "made .env (set KAFKA_PUBLIC_HOST in it)"
fi

# A self-signed CA and broker certificate for the providers' listener, for a first start. Replace
# kafka-tls-keystore.pem with one your CA signed, and give providers that CA (docs/deploy.md).
if [ ! -s "$dir/kafka-tls-keystore.pem" ]; then
  host="$(grep -m1 '^KAFKA_PUBLIC_HOST=' .env | cut -d= -f2)"
  host="${host:-localhost}"
  tmp="$(mktemp -d)"
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=continuum-kafka-ca" \
    -keyout "$tmp/ca.key" -out "$dir/kafka-tls-ca.pem" 2>/dev/null
  openssl req -newkey rsa:3072 -nodes -subj "/CN=$host" -keyout "$tmp/broker.key" -out "$tmp/broker.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:localhost\n' "$host" > "$tmp/san.ext"
  openssl x509 -req -in "$tmp/broker.csr" -CA "$dir/kafka-tls-ca.pem" -CAkey "$tmp/ca.key" \
    -CAserial "$tmp/ca.srl" -CAcreateserial \
    -days 825 -extfile "$tmp/san.ext" -out "$tmp/broker.pem" 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$tmp/broker.key" -out "$tmp/broker.pk8"
  cat "$tmp/broker.pk8" "$tmp/broker.pem" "$dir/kafka-tls-ca.pem" > "$dir/kafka-tls-keystore.pem"
  rm -rf "$tmp"
  echo "made $dir/kafka-tls-keystore.pem and kafka-tls-ca.pem (self-signed, CN=$host)"
fi
