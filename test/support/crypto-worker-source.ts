/**
 * The crypto worker's source, bundled from src/ the way tools/build-bundle.mjs does it, so that
 * unit tests run the worker code they see (no stale dist/ build).
 */
import { bundleSource } from "./bundle.ts";

let cached: string | undefined;

export function cryptoWorkerSource(): string {
  cached ??= bundleSource("src/crypto/crypto-worker.ts");
  return cached;
}
