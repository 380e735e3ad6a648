#!/usr/bin/env bash
# The README's second command: set-up (idempotent), then the whole suite:
# formatter + linter (biome), type-check (tsc), unit and integration tests (vitest).
# The integration tests start Azurite and Debian's Orthanc themselves, on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[test] biome (format + lint)"
npx --no-install biome ci --colors=off .
echo "[test] tsc"
npx --no-install tsc --noEmit -p tsconfig.json
echo "[test] vitest"
mkdir -p build
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json=build/vitest-results.json || status=$?
node -e '
  const r = require("./build/vitest-results.json");
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit $status
