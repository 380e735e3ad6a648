/**
 * The crypto worker's source, bundled from src/ the way tools/build-bundle.mjs does it, so that
 * unit tests run the worker code they see (no stale dist/ build).
 */
import { buildSync } from "esbuild";

let cached: string | undefined;

export function cryptoWorkerSource(): string {
  if (cached === undefined) {
    const result = buildSync({
      entryPoints: [new URL("../../src/crypto/crypto-worker.ts", import.meta.url).pathname],
      bundle: true,
      platform: "node",
      target: "node18",
      format: "cjs",
      write: false,
      logLevel: "warning",
    });
    const file = result.outputFiles[0];
    if (file === undefined) throw new Error("esbuild produced no crypto worker bundle");
    cached = file.text;
  }
  return cached;
}
