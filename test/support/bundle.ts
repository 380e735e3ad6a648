/**
 * Bundles an entry point of src/ into CommonJS the way tools/build-bundle.mjs does (platform
 * node, target Node 18), so that tests run the code they see (no stale dist/ build).
 */
import { buildSync } from "esbuild";

/** `entry` is relative to the repository root, e.g. "src/cli/main.ts". */
export function bundleSource(entry: string, options: { external?: readonly string[] } = {}): string {
  const result = buildSync({
    entryPoints: [new URL(`../../${entry}`, import.meta.url).pathname],
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    write: false,
    logLevel: "warning",
    ...(options.external !== undefined && { external: [...options.external] }),
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error(`esbuild produced no bundle for ${entry}`);
  return file.text;
}
