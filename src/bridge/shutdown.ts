import type { EnvelopeEngine } from "../crypto/envelope-engine.ts";
import { describeError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import type { BlobStore } from "../storage/blob-store.ts";

/** What the runtime holds that must be released before it stops (main.ts creates them). */
export interface RuntimeResources {
  /** The data-key cache; dispose() zeroes every cached key. */
  keys?: { dispose(): void } | undefined;
  /** The deployment integrity keys; dispose() zeroes them. */
  integrityKeys?: { dispose(): void; readonly size: number } | undefined;
  /** The key-encryption-key wrapper; dispose() stops Key Vault's refresh timer. */
  wrapper?: { dispose?(): void } | undefined;
  engine: Pick<EnvelopeEngine, "close" | "stats">;
  store: Pick<BlobStore, "close">;
  logger: Logger;
}

/**
 * The answer to the shim's Operation.Shutdown (sent by OrthancPluginFinalize, within its drain
 * timeout): zeroes the data keys, stops the key refresh and the crypto workers, closes the
 * store, and logs "disposed". Runs once; later calls resolve at once.
 */
export function createDispose(resources: RuntimeResources): () => Promise<void> {
  let disposing: Promise<void> | undefined;
  return () => {
    disposing ??= dispose(resources);
    return disposing;
  };
}

async function dispose({
  keys,
  integrityKeys,
  wrapper,
  engine,
  store,
  logger,
}: RuntimeResources): Promise<void> {
  const done: string[] = [];
  // Keys first: whatever else fails, no key material outlives the runtime's storage calls.
  if (keys !== undefined) {
    keys.dispose();
    done.push("data keys zeroed");
  }
  if (integrityKeys !== undefined && integrityKeys.size > 0) {
    integrityKeys.dispose();
    done.push("integrity keys zeroed");
  }
  if (wrapper?.dispose !== undefined) {
    wrapper.dispose();
    done.push("key refresh stopped");
  }
  const workers = engine.stats.threads;
  const [engineClosed, storeClosed] = await Promise.allSettled([engine.close(), store.close()]);
  const failures: string[] = [];
  if (engineClosed.status === "rejected")
    failures.push(`crypto engine: ${describeError(engineClosed.reason)}`);
  else if (workers > 0) done.push(`${workers} crypto worker(s) stopped`);
  if (storeClosed.status === "rejected") failures.push(`store: ${describeError(storeClosed.reason)}`);
  else done.push("store closed");
  if (failures.length > 0) {
    throw new Error(`dispose failed (${failures.join("; ")}); done: ${done.join(", ") || "nothing"}`);
  }
  logger.info(`disposed: ${done.join(", ")}`);
}
