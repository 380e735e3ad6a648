// Bundles the TypeScript that runs inside Orthanc (src/bridge/main.ts) into dist/plugin.cjs,
// and the operator CLI into dist/cli.cjs. Target: the embedded runtime, Node 18, CommonJS.
import { readFileSync } from "node:fs";
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  target: "node18",
  format: "cjs",
  charset: "ascii",
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  // @azure/storage-common calls createRequire(import.meta.url), which CJS output lacks.
  define: { "import.meta.url": "__import_meta_url" },
  banner: {
    js: [
      "var __import_meta_url = require('url').pathToFileURL(__filename).href;",
      // Node 18 has no WebCrypto global; the Azure SDKs expect one.
      "if (typeof globalThis.crypto === 'undefined') { globalThis.crypto = require('crypto').webcrypto; }",
    ].join("\n"),
  },
};

// The crypto worker first: plugin.cjs carries its source, started with `new Worker(source, { eval: true })`
// because the plugin's code lives inside the .so, not in files.
await build({
  ...common,
  banner: {},
  define: {},
  entryPoints: ["src/crypto/crypto-worker.ts"],
  outfile: "dist/crypto-worker.cjs",
});
const cryptoWorkerSource = readFileSync("dist/crypto-worker.cjs", "utf8");
await build({
  ...common,
  define: { ...common.define, __OABS_CRYPTO_WORKER_SOURCE__: JSON.stringify(cryptoWorkerSource) },
  entryPoints: ["src/bridge/main.ts"],
  outfile: "dist/plugin.cjs",
});
await build({ ...common, entryPoints: ["src/cli/main.ts"], outfile: "dist/cli.cjs" });
// The local Key Vault + Entra emulator, for scripts/run.sh (development only; never deployed).
await build({
  ...common,
  entryPoints: ["tools/keyvault-emulator/cli.ts"],
  outfile: "dist/keyvault-emulator.cjs",
});
