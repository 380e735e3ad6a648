// Bundles the benchmarks (bench/*.ts) into build/bench/<name>.cjs, to run on the host's Node:
//   node tools/build-bench.mjs && node build/bench/ingest.cjs && node build/bench/report.cjs
// (npm run bench also runs build/bench/crypto.cjs and build/bench/hop.cjs)
import { existsSync } from "node:fs";
import { build } from "esbuild";

const entries = ["ingest", "crypto", "hop", "report"].filter((name) => existsSync(`bench/${name}.ts`));

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

for (const name of entries) {
  await build({ ...common, entryPoints: [`bench/${name}.ts`], outfile: `build/bench/${name}.cjs` });
}
process.stderr.write(`built ${entries.map((name) => `build/bench/${name}.cjs`).join(", ")}\n`);
