// Bundles the benchmarks (bench/*.ts) into build/bench/<name>.cjs, to run on the host's Node:
//   node tools/build-bench.mjs && node build/bench/ingest.cjs && node build/bench/report.cjs
// (npm run bench also runs build/bench/crypto.cjs and build/bench/hop.cjs)
// The modules they import (bench/schema.ts, bench/stats.ts, bench/ingest/*.ts) are bundled in;
// the T7 small reader, a worker thread of ingest.cjs, is an entry of its own, loaded from a
// file beside it.
import { basename } from "node:path";
import { build } from "esbuild";

const entries = ["ingest", "crypto", "hop", "report", "ingest/small-reader-worker"];

const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  charset: "ascii",
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  // Loaded from node_modules at run time: the bundles run from the repository.
  external: ["@azure/*"],
  // The test helpers locate the repository from import.meta.url, which CJS output lacks.
  // build/bench/<name>.cjs is two levels below the root, like test/support/*.ts.
  define: { "import.meta.url": "__import_meta_url" },
  banner: { js: "var __import_meta_url = require('url').pathToFileURL(__filename).href;" },
};

const outputs = entries.map((entry) => `build/bench/${basename(entry)}.cjs`);
await Promise.all(
  entries.map((entry, i) => build({ ...common, entryPoints: [`bench/${entry}.ts`], outfile: outputs[i] })),
);
process.stderr.write(`built ${outputs.join(", ")}\n`);
