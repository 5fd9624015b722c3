#!/usr/bin/env bash
# `make run`: set up what a fresh machine lacks, then start every process of the Procfile.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
mkdir -p var

# Secrets that must not be shared between installations go into the gitignored .env once.
touch .env
if ! grep -q '^FLOWER_BASIC_AUTH=.' .env; then
  echo "FLOWER_BASIC_AUTH=admin:$($VENV/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))')" >> .env
fi
if ! grep -q '^SECRET_KEY=.' .env; then
  echo "SECRET_KEY=$($VENV/bin/python -c 'import secrets; print(secrets.token_hex(32))')" >> .env
fi
set -a; . ./.env; set +a

# Flower's broker tab and the queue depths read RabbitMQ's management API.
if command -v rabbitmq-plugins >/dev/null 2>&1; then
  if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
    echo "enabling the RabbitMQ management plugin"
    rabbitmq-plugins enable rabbitmq_management >/dev/null || echo "warning: could not enable rabbitmq_management; Flower's broker tab will be empty" >&2
  fi
else
  echo "note: rabbitmq-plugins not found (remote broker?); enable rabbitmq_management there for Flower's broker tab" >&2
fi

eval "$($VENV/bin/python -m config.process_env)"
$VENV/bin/flask db upgrade
$VENV/bin/flask jobs declare-topology
# Prints an admin's email, password and API token once, on the first run only.
first_run=$($VENV/bin/flask users bootstrap)

host=${WEB_HOST:-127.0.0.1}; port=${WEB_PORT:-8000}
if [ -n "$first_run" ]; then
  printf '\n%s\n' "$first_run"
  cat <<TRY

  Try the API with that token:
    export TOKEN=<the API token above>
    curl -si -X POST http://$host:$port/api/diagnostics/sleep -H "Authorization: Bearer \$TOKEN" \\
         -H 'Content-Type: application/json' -d '{"seconds": 3, "steps": 3}'
  More users and tokens: .venv/bin/flask users create --email E --role R; .venv/bin/flask tokens create --email E --name N
TRY
fi
cat <<INFO

  Web and API   http://$host:$port/         (sign in; status: http://$host:$port/readyz, API: /api/openapi.json)
  Flower        http://$host:$port/flower/   (signed in as an operator; Flower itself listens on $FLOWER_HOST:$FLOWER_PORT)
  Metrics       http://$host:$port/metrics   (Prometheus; send a viewer's API token as a bearer token)
  RabbitMQ UI   http://127.0.0.1:15672/
  Ctrl-C stops every process.

INFO
exec $VENV/bin/honcho start -f Procfile
