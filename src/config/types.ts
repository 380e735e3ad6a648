/**
 * The parsed, frozen plugin configuration. Produced once by parsePluginConfiguration()
 * from Orthanc's "AzureBlobStorage" section; every other module takes what it needs from here.
 */
import type { WrapAlgorithm } from "../crypto/key-wrapper.ts";

/** How the plugin authenticates to Blob Storage. Exactly one is configured. */
export type StorageAuth =
  | { readonly kind: "connection-string"; readonly connectionString: string }
  | { readonly kind: "sas"; readonly accountUrl: string; readonly sasToken: string }
  | {
      /** Account URL + the Azure credential chain (environment, workload identity, managed identity). */
      readonly kind: "token-credential";
      readonly accountUrl: string;
      /** Selects a user-assigned managed identity. */
      readonly managedIdentityClientId?: string;
    };

export interface RequestSettings {
  /** Per-HTTP-try timeout. */
  readonly requestTimeoutMs: number;
  /** Retries after the first try (0 = no retry). */
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /** Deadline for a whole storage operation, retries included; the shim waits this long plus a grace period. */
  readonly operationTimeoutMs: number;
  /** Blob-store operations in flight at once; more wait in a queue. */
  readonly maxConcurrentRequests: number;
  /** Blobs up to this size go up in one Put Blob request; larger ones in parallel blocks. */
  readonly singleUploadThresholdBytes: number;
  readonly uploadBlockSizeBytes: number;
  /** Blocks uploaded in parallel for one large blob. */
  readonly uploadConcurrency: number;
}

/** A key (unversioned) in a vault: what the allow-list compares a blob's kid against. */
export interface KeyVaultKeyRef {
  /** https origin, e.g. https://myvault.vault.azure.net */
  readonly vaultUrl: string;
  readonly keyName: string;
}

/** How the plugin authenticates to Key Vault. */
export type KeyVaultCredentialSettings =
  | {
      readonly kind: "client-secret";
      readonly clientId: string;
      readonly clientSecret: string;
      readonly tenantId?: string;
    }
  | { readonly kind: "chain"; readonly managedIdentityClientId?: string };

/** The resolved "AzureKeyVault" section. */
export interface KeyVaultSettings extends KeyVaultKeyRef {
  /** Pinned version (kid configured with a version); absent: the latest, refreshed every keyRefreshMs. */
  readonly keyVersion?: string;
  readonly algorithm: WrapAlgorithm;
  readonly credential: KeyVaultCredentialSettings;
  /** The configured key plus trustedKeyIds: kids read from blobs must name one of these. */
  readonly trustedKeys: readonly KeyVaultKeyRef[];
  readonly keyRefreshMs: number;
  readonly maxConcurrentRequests: number;
  /** Local emulator only: trust this CA and use this Entra authority (never in production). */
  readonly emulator?: { readonly caFile: string; readonly authorityHost: string };
}

/** A local key-encryption key: RSA private key (PEM) or AES-256 key (hex/base64) files. */
export interface LocalKeySettings {
  /** Wraps new CEKs (and unwraps). */
  readonly writeKeyFile: string;
  /** RSA-OAEP-256 (RSA default), RSA-OAEP, or A256KW (AES keys). Undefined: the key kind's default. */
  readonly algorithm?: WrapAlgorithm;
  /** Older keys kept for reading blobs written before a rotation. */
  readonly readOnlyKeyFiles: readonly string[];
}

/** Where one deployment integrity key comes from (IntegrityKeys). */
export type IntegrityKeySource =
  | { readonly kind: "file"; readonly path: string; readonly id?: string }
  | {
      readonly kind: "wrapped";
      /** As in blob metadata: the KEK's key id, the algorithm, and the wrapped key in padded base64. */
      readonly wrapped: {
        readonly keyId: string;
        readonly algorithm: WrapAlgorithm;
        readonly encryptedKeyBase64: string;
      };
      readonly id?: string;
    };

export interface IntegritySettings {
  /** The first seals new blobs (envelope version 2); all verify. Empty: new blobs are version 1. */
  readonly keys: readonly IntegrityKeySource[];
  /** StrictIntegrity: refuse envelope version 1 and plain blobs. */
  readonly strict: boolean;
  /** LegacyBlobsModifiedBefore: with strict, still read legacy blobs last modified before it. */
  readonly legacyBlobsModifiedBefore?: Date;
}

export interface EncryptionSettings {
  /** New attachments are encrypted. Reads follow each blob's own metadata either way. */
  readonly enabled: boolean;
  /** Blobs encrypted under one CEK before a new one is made (KeyDecayCount). */
  readonly keyDecayCount: number;
  /** Longest life of the CEK used for writes (KeyMaxAgeSeconds). */
  readonly keyMaxAgeMs: number;
  /** Unwrapped CEKs kept for reads; 0 = every read unwraps (KeyPoolSize). */
  readonly keyPoolSize: number;
  /** How long an unwrapped CEK stays in the pool (KeyPoolTtlSeconds). */
  readonly keyPoolTtlMs: number;
  /** With encryption on, read plain (unencrypted) blobs too; for migrating an existing container. */
  readonly allowUnencryptedReads: boolean;
  readonly localKey?: LocalKeySettings;
  readonly keyVault?: KeyVaultSettings;
  readonly integrity: IntegritySettings;
}

export interface PluginConfig {
  readonly storage: {
    readonly auth: StorageAuth;
    readonly containerName: string;
    readonly createContainerIfNotExists: boolean;
    /** "" or a prefix ending in "/", e.g. "orthanc-a/". */
    readonly blobNamePrefix: string;
  };
  readonly requests: RequestSettings;
  readonly encryption: EncryptionSettings;
  readonly runtime: {
    /** V8 old-space limit for the embedded runtime (read by the shim before V8 starts). */
    readonly heapLimitMb: number;
    /** A JS thread that answers nothing for this long is terminated and restarted by the shim. */
    readonly watchdogTimeoutMs: number;
    /** Worker threads for envelope crypto; 0 = on the JS thread. */
    readonly cryptoThreads: number;
    /** Whole blobs of at least this many bytes are encrypted/decrypted on a worker. */
    readonly cryptoOffloadMinBytes: number;
  };
  readonly testing: {
    /** Enables /azure-blob-storage/testing/* fault-injection routes. Never in production. */
    readonly enableTestingEndpoints: boolean;
    /** Keep attachments in memory instead of Azure (tests and benchmarks only). */
    readonly inMemoryStore: boolean;
  };
}
