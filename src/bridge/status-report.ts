/**
 * The body of GET /azure-blob-storage/status. Declared once: the route builds it, and the
 * tests and the benchmark read it through this type.
 */
import type { EnvelopeEngineStats } from "../crypto/envelope-engine.ts";
import type { KeyCacheStats } from "../crypto/key-cache.ts";
import type { RuntimeInfo } from "./native-binding.ts";
import type { CountedOperation, OperationCounts } from "./operation-stats.ts";

export interface StatusReport {
  plugin: "azure-blob-storage";
  version: string;
  /** The blob store's description (never a secret). */
  store: string;
  container: string;
  blobNamePrefix: string;
  /** EncryptionEnabled: whether new attachments are encrypted. */
  encryption: boolean;
  /** The key cache's counters; absent when no key is configured. */
  keys?: KeyCacheStats;
  /** The integrity keys (ids only) and the read policy (FORMAT.md, SECURITY.md). */
  integrity: {
    /** The key that seals new blobs (envelope version 2), or null: new blobs are version 1. */
    sealingKeyId: string | null;
    keyIds: string[];
    strict: boolean;
    legacyBlobsModifiedBefore: string | null;
  };
  crypto: EnvelopeEngineStats;
  runtime: RuntimeInfo & {
    /** process.version of the embedded runtime. */
    node: string;
    /** Whether the shim started V8 with --expose-gc (memory-release.ts). */
    gcExposed: boolean;
  };
  operations: Record<CountedOperation, OperationCounts>;
}
