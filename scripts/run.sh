#!/usr/bin/env bash
# The README's first command: runs the product on this machine.
#   set-up (idempotent) -> Azurite and the Key Vault emulator on 127.0.0.1
#   -> a deployment integrity key, wrapped by the vault's key (once; kept in .run/)
#   -> Orthanc with the plugin, encrypting through Key Vault (orthanc-config/development.json)
# Prints the Orthanc URL and the container; Ctrl-C stops everything it started.
# Ports: OABS_HTTP_PORT (8042), OABS_DICOM_PORT (4242), OABS_AZURITE_PORT (10000),
# OABS_KV_PORT (8443; Entra on +1, managed identity on +2). Data: .run/ (keys persist there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/setup.sh

export OABS_HTTP_PORT="${OABS_HTTP_PORT:-8042}"
export OABS_DICOM_PORT="${OABS_DICOM_PORT:-4242}"
AZURITE_PORT="${OABS_AZURITE_PORT:-10000}"
KV_PORT="${OABS_KV_PORT:-8443}"
export OABS_RUN_DIR="$ROOT/.run"
export OABS_PLUGIN="$ROOT/build/OrthancAzureBlobStorage.so"
# Azurite's documented development account (a public, well-known key: not a secret).
AZURITE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export OABS_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$AZURITE_KEY;BlobEndpoint=http://127.0.0.1:$AZURITE_PORT/devstoreaccount1;"
mkdir -p "$OABS_RUN_DIR/azurite"

# Orthanc 1.10 has no bind-address option: keep its listeners on loopback.
PRELOAD="$ROOT/build/test-support/libloopback_bind.so"
if [ ! -f "$PRELOAD" ] || [ test/support/loopback_bind.c -nt "$PRELOAD" ]; then
  mkdir -p "$(dirname "$PRELOAD")"
  cc -shared -fPIC -O2 -o "$PRELOAD" test/support/loopback_bind.c -ldl
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[run] stopping..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # $1 = what, $2 = command, $3 = seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do eval "$2" && return 0; sleep 0.1; done
  echo "[run] $1 did not come up in $3 s" >&2; return 1
}

for port in "$OABS_HTTP_PORT" "$OABS_DICOM_PORT" "$AZURITE_PORT" "$KV_PORT" $((KV_PORT + 1)) $((KV_PORT + 2)); do
  if port_open "$port"; then echo "[run] port $port on 127.0.0.1 is already in use (set OABS_HTTP_PORT / OABS_DICOM_PORT / OABS_AZURITE_PORT / OABS_KV_PORT)" >&2; exit 1; fi
done

node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" --location "$OABS_RUN_DIR/azurite" \
  --silent --disableTelemetry --skipApiVersionCheck --loose >"$OABS_RUN_DIR/azurite.log" 2>&1 &
pids+=($!)
wait_for "Azurite" "port_open $AZURITE_PORT" 30

mkdir -p "$OABS_RUN_DIR/keyvault"
node dist/keyvault-emulator.cjs --state "$OABS_RUN_DIR/keyvault/state.json" --work-dir "$OABS_RUN_DIR/keyvault" \
  --vault-port "$KV_PORT" --authority-port $((KV_PORT + 1)) --identity-port $((KV_PORT + 2)) --ensure-key orthanc-kek \
  >"$OABS_RUN_DIR/keyvault/ready.json" 2>"$OABS_RUN_DIR/keyvault.log" &
pids+=($!)
wait_for "the Key Vault emulator" "[ -s '$OABS_RUN_DIR/keyvault/ready.json' ]" 30
kv() { node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]); process.stdout.write(String(r[process.argv[2]]))' "$OABS_RUN_DIR/keyvault/ready.json" "$1"; }
export OABS_KV_KID="$(kv vaultUrl)/keys/orthanc-kek" OABS_KV_CLIENT_ID="$(kv clientId)" OABS_KV_CLIENT_SECRET="$(kv clientSecret)"
export OABS_KV_CA_FILE="$(kv caFile)" OABS_KV_AUTHORITY="$(kv authorityHost)"

# A deployment integrity key (envelope version 2, SECURITY.md), wrapped by the vault's key: made
# once with the operator CLI, kept in .run/ with the vault's state, so restarts read old blobs.
if [ ! -s "$OABS_RUN_DIR/integrity-keys.json" ]; then
  entry=$(OABS_INTEGRITY_KEYS='[]' node dist/cli.cjs integrity-key-new orthanc-config/development.json)
  printf '[%s]\n' "$entry" >"$OABS_RUN_DIR/integrity-keys.json"
fi
export OABS_INTEGRITY_KEYS="$(cat "$OABS_RUN_DIR/integrity-keys.json")"

LD_PRELOAD="$PRELOAD" /usr/sbin/Orthanc --logfile="$OABS_RUN_DIR/orthanc.log" orthanc-config/development.json &
pids+=($!)
orthanc_pid=$!
if ! wait_for "Orthanc" "curl -fs http://127.0.0.1:$OABS_HTTP_PORT/system >/dev/null || ! kill -0 $orthanc_pid 2>/dev/null" 90 \
   || ! kill -0 "$orthanc_pid" 2>/dev/null; then
  echo "[run] Orthanc did not start; the end of $OABS_RUN_DIR/orthanc.log:" >&2
  tail -n 30 "$OABS_RUN_DIR/orthanc.log" >&2
  exit 1
fi

cat <<MSG

  Orthanc is ready at http://127.0.0.1:$OABS_HTTP_PORT/ (Orthanc Explorer: http://127.0.0.1:$OABS_HTTP_PORT/app/explorer.html)
  Attachments go to Azurite at http://127.0.0.1:$AZURITE_PORT/devstoreaccount1, container "orthanc",
  encrypted under the key $OABS_KV_KID (local Key Vault emulator), and sealed with
  the integrity key in $OABS_RUN_DIR/integrity-keys.json (StrictIntegrity on).
  DICOM: AET ORTHANC on 127.0.0.1:$OABS_DICOM_PORT.  Plugin status: http://127.0.0.1:$OABS_HTTP_PORT/azure-blob-storage/status
  Logs: $OABS_RUN_DIR/orthanc.log, $OABS_RUN_DIR/azurite.log, $OABS_RUN_DIR/keyvault.log.  Press Ctrl-C to stop.

MSG
wait "$orthanc_pid" || true
