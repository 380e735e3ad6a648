#!/usr/bin/env bash
# The README's first command: runs the product on this machine.
#   set-up (idempotent) -> Azurite on 127.0.0.1 -> Orthanc with the plugin (orthanc-config/development.json)
# Prints the Orthanc URL and the container; Ctrl-C stops everything it started.
# Ports: OABS_HTTP_PORT (8042), OABS_DICOM_PORT (4242), OABS_AZURITE_PORT (10000). Data: .run/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/setup.sh

export OABS_HTTP_PORT="${OABS_HTTP_PORT:-8042}"
export OABS_DICOM_PORT="${OABS_DICOM_PORT:-4242}"
AZURITE_PORT="${OABS_AZURITE_PORT:-10000}"
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

for port in "$OABS_HTTP_PORT" "$OABS_DICOM_PORT" "$AZURITE_PORT"; do
  if port_open "$port"; then echo "[run] port $port on 127.0.0.1 is already in use (set OABS_HTTP_PORT / OABS_DICOM_PORT / OABS_AZURITE_PORT)" >&2; exit 1; fi
done

node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" --location "$OABS_RUN_DIR/azurite" \
  --silent --disableTelemetry --skipApiVersionCheck --loose >"$OABS_RUN_DIR/azurite.log" 2>&1 &
pids+=($!)
wait_for "Azurite" "port_open $AZURITE_PORT" 30

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
  Attachments go to Azurite at http://127.0.0.1:$AZURITE_PORT/devstoreaccount1, container "orthanc".
  DICOM: AET ORTHANC on 127.0.0.1:$OABS_DICOM_PORT.  Plugin status: http://127.0.0.1:$OABS_HTTP_PORT/azure-blob-storage/status
  Logs: $OABS_RUN_DIR/orthanc.log, $OABS_RUN_DIR/azurite.log.  Press Ctrl-C to stop.

MSG
wait "$orthanc_pid" || true
