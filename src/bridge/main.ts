/**
 * Entry point inside Orthanc's embedded runtime (bundled into dist/plugin.cjs and linked
 * into the .so). Order: harden the process, route logs to Orthanc, parse the configuration,
 * open the blob store, then tell the shim we are ready. Any startup error is reported to
 * the shim, which makes Orthanc refuse to start with that message.
 */

import { AttachmentCodec } from "../attachments/attachment-codec.ts";
import { StorageService } from "../attachments/storage-service.ts";
import { describeConfiguration } from "../config/describe.ts";
import { parsePluginConfiguration } from "../config/parse.ts";
import type { PluginConfig } from "../config/types.ts";
import { CryptoWorkerPool } from "../crypto/crypto-worker-pool.ts";
import { type EnvelopeEngine, InlineEnvelopeEngine } from "../crypto/envelope-engine.ts";
import type { IntegrityKeyring } from "../crypto/integrity-key.ts";
import { loadIntegrityKeys } from "../crypto/integrity-key-loader.ts";
import { CachingKeyProvider } from "../crypto/key-cache.ts";
import { createKeyWrapper, selfTestKeyWrapper } from "../crypto/key-wrapper-factory.ts";
import { describeError } from "../errors.ts";
import { createLogger, type LogLevel, setLogSink } from "../logging/logger.ts";
import { AzureBlobStore } from "../storage/azure-blob-store.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { MemoryBlobStore } from "../storage/memory-blob-store.ts";
import { PLUGIN_VERSION } from "../version.ts";
import { injectFaults } from "./fault-injecting-storage.ts";
import { FaultPlan } from "./faults.ts";
import { createRequestHandler, type StorageOperations } from "./handlers.ts";
import { loadNativeBinding } from "./native-binding.ts";
import { OperationStats } from "./operation-stats.ts";
import { createRestRoutes } from "./rest-routes.ts";
import { hardenProcess } from "./sandbox.ts";
import { createDispose } from "./shutdown.ts";
import type { StatusReport } from "./status-report.ts";

/** dist/crypto-worker.cjs, inlined by tools/build-bundle.mjs (absent in unbundled runs). */
declare const __OABS_CRYPTO_WORKER_SOURCE__: string | undefined;

const LEVELS: Readonly<Record<LogLevel, 0 | 1 | 2>> = { error: 0, warning: 1, info: 2 };

hardenProcess();
const native = loadNativeBinding();
setLogSink((level, message) => native.log(LEVELS[level], message));
const log = createLogger("js");

// An uncaught exception leaves JS state unknown: log it, then exit, which makes the shim
// restart a fresh environment (Orthanc keeps running; calls in flight fail cleanly).
process.on("uncaughtException", (error: unknown) => {
  log.error(`uncaught exception, restarting the JavaScript runtime: ${stackOf(error)}`);
  process.exit(70);
});
process.on("unhandledRejection", (reason: unknown) => {
  log.error(`unhandled promise rejection: ${stackOf(reason)}`);
});

function stackOf(error: unknown): string {
  return error instanceof Error && error.stack !== undefined ? error.stack : describeError(error);
}

async function start(): Promise<void> {
  const parsed = parsePluginConfiguration(JSON.parse(native.configuration()));
  if (!parsed.enabled) {
    native.startupFailed("AzureBlobStorage.EnableStorage is not true");
    return;
  }
  const { config } = parsed;
  log.info(`configuration: ${describeConfiguration(config)}`);

  const store: BlobStore = config.testing.inMemoryStore
    ? new MemoryBlobStore({ containerName: config.storage.containerName })
    : new AzureBlobStore({
        auth: config.storage.auth,
        containerName: config.storage.containerName,
        requests: config.requests,
        logger: createLogger("azure"),
      });
  if (config.testing.inMemoryStore) {
    log.warning(
      "InMemoryStoreForTesting is true: attachments are kept in memory and lost at restart; never use this in production",
    );
  }
  await store.initialize({
    createContainerIfMissing: config.storage.createContainerIfNotExists,
    timeoutInMs: config.requests.operationTimeoutMs,
  });

  // Crypto after storage: the key must load and wrap/unwrap a test key before any callback exists.
  const wrapper = await createKeyWrapper(config.encryption, config.requests, createLogger("keys"));
  let keys: CachingKeyProvider | undefined;
  if (wrapper !== undefined) {
    await selfTestKeyWrapper(wrapper, { timeoutInMs: config.requests.operationTimeoutMs });
    keys = new CachingKeyProvider(
      wrapper,
      {
        maxUsesPerDataKey: config.encryption.keyDecayCount,
        maxDataKeyAgeMs: config.encryption.keyMaxAgeMs,
        poolSize: config.encryption.keyPoolSize,
        poolTtlMs: config.encryption.keyPoolTtlMs,
      },
      { logger: createLogger("keys") },
    );
    log.info(`key-encryption key: ${wrapper.description}`);
  }
  // Integrity keys after the KEK: wrapped ones are unwrapped by it, once, here.
  const integrityKeys = await loadIntegrityKeys(config.encryption.integrity.keys, wrapper, {
    timeoutInMs: config.requests.operationTimeoutMs,
    logger: log,
  });
  logIntegrityPolicy(config, integrityKeys);
  const engine = await createEnvelopeEngine(
    keys !== undefined ? config.runtime.cryptoThreads : 0,
    config.runtime.cryptoOffloadMinBytes,
  );
  const codec = new AttachmentCodec({
    encryptWrites: config.encryption.enabled,
    allowUnencryptedReads: config.encryption.allowUnencryptedReads,
    keys,
    engine,
    integrityKeys,
    strictIntegrity: config.encryption.integrity.strict,
    legacyBlobsModifiedBefore: config.encryption.integrity.legacyBlobsModifiedBefore,
  });

  const service = new StorageService(store, {
    codec,
    blobNamePrefix: config.storage.blobNamePrefix,
    operationTimeoutMs: config.requests.operationTimeoutMs,
    maxConcurrentRequests: config.requests.maxConcurrentRequests,
    logger: createLogger("storage"),
  });
  const faults = config.testing.enableTestingEndpoints ? new FaultPlan() : undefined;
  if (faults !== undefined)
    log.warning("EnableTestingEndpoints is true: fault injection is on; never use this in production");

  const stats = new OperationStats();
  const rest = createRestRoutes({
    faults,
    status: (): StatusReport => ({
      plugin: "azure-blob-storage",
      version: PLUGIN_VERSION,
      store: store.description,
      container: config.storage.containerName,
      blobNamePrefix: config.storage.blobNamePrefix,
      encryption: config.encryption.enabled,
      ...(keys === undefined ? {} : { keys: keys.stats }),
      integrity: {
        sealingKeyId: integrityKeys.sealing?.id ?? null,
        keyIds: integrityKeys.ids,
        strict: config.encryption.integrity.strict,
        legacyBlobsModifiedBefore:
          config.encryption.integrity.legacyBlobsModifiedBefore?.toISOString() ?? null,
      },
      crypto: engine.stats,
      runtime: {
        node: process.version,
        ...native.runtimeInfo(),
        // --expose-gc from the shim: big attachments are released at once (memory-release.ts).
        gcExposed: typeof (globalThis as { gc?: unknown }).gc === "function",
      },
      operations: stats.snapshot(),
    }),
  });

  // Faults exist only with the testing endpoints: the production dispatcher never sees them.
  const storage: StorageOperations = faults === undefined ? service : injectFaults(service, faults);
  const dispose = createDispose({ keys, wrapper, integrityKeys, engine, store, logger: log });
  const handler = createRequestHandler({
    storage,
    rest,
    complete: native.complete,
    testingEndpoints: config.testing.enableTestingEndpoints,
    stats,
    dispose,
  });
  native.ready(handler, {
    operationTimeoutMs: config.requests.operationTimeoutMs,
    watchdogTimeoutMs: config.runtime.watchdogTimeoutMs,
  });
  log.info(`ready: ${store.description}, container "${config.storage.containerName}"`);
}

/** Says at startup which blobs are written and which are read (SECURITY.md, "Choosing the settings"). */
function logIntegrityPolicy(config: PluginConfig, integrityKeys: IntegrityKeyring): void {
  const { integrity } = config.encryption;
  const { sealing } = integrityKeys;
  if (config.encryption.enabled && sealing === undefined) {
    log.warning(
      "EncryptionEnabled without IntegrityKeys: new blobs are envelope version 1, which anyone with write access to the container and the key-encryption key's public key can forge; configure AzureBlobStorage.IntegrityKeys (SECURITY.md)",
    );
  }
  if (sealing !== undefined) {
    log.info(
      `integrity: new blobs are sealed with integrity key ${sealing.id} (envelope version 2); keys for reading: ${integrityKeys.ids.join(", ")}`,
    );
  }
  if (integrity.strict) {
    const cutoff = integrity.legacyBlobsModifiedBefore;
    log.info(
      `StrictIntegrity: envelope version 1 and plain blobs are refused${cutoff === undefined ? "" : `, except those last modified before ${cutoff.toISOString()} (LegacyBlobsModifiedBefore)`}`,
    );
  } else if (sealing !== undefined) {
    log.warning(
      "StrictIntegrity is false: envelope version 1 and plain blobs are still read, so a forgery written in those forms would be accepted (SECURITY.md)",
    );
  }
}

/** Crypto worker threads when a key is configured and CryptoThreads > 0, else inline. */
async function createEnvelopeEngine(threads: number, minOffloadBytes: number): Promise<EnvelopeEngine> {
  const source =
    typeof __OABS_CRYPTO_WORKER_SOURCE__ === "string" ? __OABS_CRYPTO_WORKER_SOURCE__ : undefined;
  if (threads === 0 || source === undefined) return new InlineEnvelopeEngine();
  const pool = new CryptoWorkerPool({ threads, source, minOffloadBytes, logger: createLogger("crypto") });
  if (await pool.start()) {
    log.info(`crypto: ${threads} worker thread(s) for blobs of ${minOffloadBytes} bytes or more`);
    return pool;
  }
  return new InlineEnvelopeEngine();
}

start().catch((error: unknown) => {
  native.startupFailed(describeError(error));
});
