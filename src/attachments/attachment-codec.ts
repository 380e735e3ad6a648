/**
 * How an attachment becomes a blob and back: plain or envelope-encrypted (FORMAT.md).
 * Writes follow the configuration; reads follow each blob's own metadata, so a container
 * can hold both kinds while encryption is being turned on, filtered by the read policy
 * (FORMAT.md, "Read policy": StrictIntegrity and LegacyBlobsModifiedBefore).
 */

import type { OperationOptions } from "../async/operation-options.ts";
import type { DataKey } from "../crypto/data-key.ts";
import { zeroize } from "../crypto/data-key.ts";
import {
  decryptEnvelopeRange,
  detectBlobFormat,
  type EnvelopeContext,
  type ParsedEnvelope,
  parseEnvelope,
  planRange,
  verifyEnvelopeHeader,
} from "../crypto/envelope.ts";
import { type EncryptOptions, type EnvelopeEngine, InlineEnvelopeEngine } from "../crypto/envelope-engine.ts";
import { AES_BLOCK_SIZE, MIN_SEGMENT_SIZE } from "../crypto/envelope-layout.ts";
import type { IntegrityKey, IntegrityKeyring } from "../crypto/integrity-key.ts";
import type { WrappedKey } from "../crypto/key-wrapper.ts";
import { rangeBeyondEndError, StorageError } from "../errors.ts";
import { showUntrusted } from "../logging/untrusted.ts";
import type { BlobProperties, BlobStore, DownloadedBlob } from "../storage/blob-store.ts";
import { PLUGIN_LIBRARY } from "../version.ts";

/** plugin_format metadata values (informational; readers trust the envelope, not this). */
export const PLAIN_FORMAT = "plain-1";
export const ENVELOPE_FORMATS = { 1: "envelope-1", 2: "envelope-2" } as const;

/** Where CEKs come from (the caching key provider in production). */
export interface KeyProvider {
  acquireDataKey(options?: OperationOptions): Promise<DataKey>;
  unwrap(wrapped: WrappedKey, options?: OperationOptions): Promise<Buffer>;
}

export interface AttachmentCodecOptions {
  /** Encrypt new attachments (EncryptionEnabled). Needs `keys`. */
  encryptWrites: boolean;
  /** With encryptWrites, still read plain blobs (AllowUnencryptedReads, for migration). */
  allowUnencryptedReads: boolean;
  /** Absent when no key is configured: encrypted blobs then cannot be read. */
  keys?: KeyProvider | undefined;
  /** Where whole-blob encryption and decryption run (default: inline, on the calling thread). */
  engine?: EnvelopeEngine | undefined;
  /**
   * The deployment's integrity keys (IntegrityKeys): with a sealing key, new blobs are envelope
   * version 2; version 2 blobs are verified under the key they name.
   */
  integrityKeys?: IntegrityKeyring | undefined;
  /** StrictIntegrity: refuse envelope version 1 and plain blobs (but see legacyBlobsModifiedBefore). */
  strictIntegrity?: boolean;
  /** LegacyBlobsModifiedBefore: with strictIntegrity, still read v1 and plain blobs last modified before it. */
  legacyBlobsModifiedBefore?: Date | undefined;
}

export interface EncodedAttachment {
  body: Buffer;
  metadata: Record<string, string>;
}

export class AttachmentCodec {
  readonly #encryptWrites: boolean;
  readonly #allowUnencryptedReads: boolean;
  readonly #keys: KeyProvider | undefined;
  readonly #engine: EnvelopeEngine;
  readonly #integrityKeys: IntegrityKeyring | undefined;
  readonly #strict: boolean;
  readonly #legacyBefore: Date | undefined;

  constructor(options: AttachmentCodecOptions) {
    /* Precondition: encryption needs a key provider. */
    if (options.encryptWrites && options.keys === undefined) {
      throw new StorageError(
        "invalid-argument",
        "Expected a key provider for encrypted writes but received none",
      );
    }
    this.#encryptWrites = options.encryptWrites;
    this.#allowUnencryptedReads = options.allowUnencryptedReads;
    this.#keys = options.keys;
    this.#engine = options.engine ?? new InlineEnvelopeEngine();
    this.#integrityKeys = options.integrityKeys;
    this.#strict = options.strictIntegrity === true;
    this.#legacyBefore = options.legacyBlobsModifiedBefore;
    /* Precondition: strict reads need the integrity keys that seal what they accept. */
    if (this.#strict && (this.#integrityKeys?.sealing === undefined || !this.#encryptWrites)) {
      throw new StorageError(
        "invalid-argument",
        "Expected encrypted writes sealed with an integrity key for strict integrity but received none",
      );
    }
  }

  get encrypting(): boolean {
    return this.#encryptWrites;
  }

  /**
   * The blob for an attachment. With `consumeInput`, encryption may take `data` over (encrypt
   * over it, or move it to a crypto worker): the caller must not read `data` afterwards.
   */
  async encode(
    data: Buffer,
    context: EnvelopeContext,
    options: EncryptOptions = {},
  ): Promise<EncodedAttachment> {
    const common = { orthanc_uuid: context.uuid, orthanc_content_type: String(context.contentType) };
    const keys = this.#keys;
    if (!this.#encryptWrites || keys === undefined) {
      return { body: data, metadata: { ...common, plugin_format: PLAIN_FORMAT } };
    }
    const dataKey = await keys.acquireDataKey(options);
    try {
      const integrityKey = this.#integrityKeys?.sealing;
      const encrypted = await this.#engine.encrypt(data, dataKey, PLUGIN_LIBRARY, context, {
        ...options,
        integrityKey,
      });
      return {
        body: encrypted.body,
        metadata: {
          ...common,
          plugin_format: ENVELOPE_FORMATS[integrityKey === undefined ? 1 : 2],
          ...encrypted.metadata,
        },
      };
    } finally {
      zeroize(dataKey.cek);
    }
  }

  /** The attachment bytes of a whole blob; never returns unauthenticated bytes. */
  async decode(
    blob: DownloadedBlob,
    context: EnvelopeContext,
    name: string,
    options: OperationOptions = {},
  ): Promise<Buffer> {
    return named("read", name, async () => {
      if (detectBlobFormat(blob.properties.metadata).kind === "plain") {
        this.#checkPlainAllowed(blob.properties);
        return blob.data;
      }
      const parsed = parseEnvelope(blob.properties.metadata, blob.data.length);
      const integrityKey = this.#authenticateHeader(parsed, context, blob.properties);
      return this.#withCek(parsed, options, (cek) =>
        // The downloaded body is ours alone: a crypto worker may take it without a copy.
        this.#engine.decrypt(blob.data, blob.properties.metadata, cek, context, {
          ...options,
          consumeInput: true,
          integrityKey,
        }),
      );
    });
  }

  /**
   * Exactly `length` bytes from `offset`. One ranged GET in the common case: when a key is
   * configured, the request is widened to whole minimum-size segments, so that it also
   * covers what an encrypted blob needs; a second GET is made only for blobs above 16 MiB,
   * whose segments are larger.
   */
  async readRange(
    store: BlobStore,
    name: string,
    context: EnvelopeContext,
    offset: number,
    length: number,
    options: OperationOptions = {},
  ): Promise<Buffer> {
    const mayBeEncrypted = this.#keys !== undefined;
    // A range of length 0 fetches no bytes, but the blob's format, the read policy and the
    // header tag are checked all the same (FORMAT.md, "Range reads").
    const first =
      length === 0
        ? { offset, length: 0 }
        : mayBeEncrypted
          ? widenToSegments(offset, length)
          : { offset, length };
    const fetched: DownloadedBlob =
      length === 0
        ? { data: Buffer.alloc(0), properties: await store.getProperties(name, options) }
        : await store.readRange(name, first.offset, first.length, options);
    return named("readRange", name, async () => {
      const { metadata, contentLength } = fetched.properties;
      if (detectBlobFormat(metadata).kind === "plain") {
        this.#checkPlainAllowed(fetched.properties);
        if (offset + length > contentLength) throw rangeBeyondEndError(offset, length, contentLength, "blob");
        const start = offset - first.offset;
        return fetched.data.subarray(start, start + length);
      }
      const parsed = parseEnvelope(metadata, contentLength);
      const plan = planRange(parsed, offset, length);
      const integrityKey = this.#authenticateHeader(parsed, context, fetched.properties);
      let ciphertext: Buffer;
      const fetchedEnd = first.offset + fetched.data.length;
      if (plan.fetchOffset >= first.offset && plan.fetchOffset + plan.fetchLength <= fetchedEnd) {
        const start = plan.fetchOffset - first.offset;
        ciphertext = fetched.data.subarray(start, start + plan.fetchLength);
      } else if (plan.fetchLength === 0) {
        ciphertext = Buffer.alloc(0);
      } else {
        const second = await store.readRange(name, plan.fetchOffset, plan.fetchLength, options);
        ciphertext = second.data;
      }
      return this.#withCek(parsed, options, (cek) =>
        decryptEnvelopeRange(ciphertext, plan, parsed, cek, context, offset, length, { integrityKey }),
      );
    });
  }

  #checkPlainAllowed(properties: BlobProperties): void {
    if (this.#encryptWrites && !this.#allowUnencryptedReads) {
      throw new StorageError(
        "integrity",
        "the blob is not encrypted, and AzureBlobStorage.AllowUnencryptedReads is false " +
          "(set it to true while migrating a container that still holds unencrypted attachments)",
      );
    }
    this.#checkLegacyAllowed("the blob is not encrypted", properties);
  }

  /** With StrictIntegrity, a blob in a legacy form (plain, envelope version 1) must predate the cutoff. */
  #checkLegacyAllowed(what: string, properties: BlobProperties): void {
    if (!this.#strict) return;
    const cutoff = this.#legacyBefore;
    const modified = properties.lastModified;
    if (cutoff !== undefined && modified !== undefined && modified.getTime() < cutoff.getTime()) return;
    const since =
      cutoff === undefined
        ? "AzureBlobStorage.LegacyBlobsModifiedBefore is not set"
        : `it was last modified ${modified === undefined ? "at an unknown time" : modified.toISOString()}, not before AzureBlobStorage.LegacyBlobsModifiedBefore (${cutoff.toISOString()})`;
    throw new StorageError(
      "integrity",
      `${what}, and AzureBlobStorage.StrictIntegrity refuses it: ${since} (a blob in this form can be forged by anyone with write access to the container)`,
    );
  }

  /**
   * The read policy for an envelope, and for version 2 its header tag, before anything is unwrapped.
   * Returns the integrity key that verifies the rest of a version 2 blob.
   */
  #authenticateHeader(
    parsed: ParsedEnvelope,
    context: EnvelopeContext,
    properties: BlobProperties,
  ): IntegrityKey | undefined {
    if (parsed.version === 1) {
      this.#checkLegacyAllowed("the blob is sealed with envelope version 1", properties);
      return undefined;
    }
    const id = parsed.integrityKeyId ?? "";
    const integrityKey = this.#integrityKeys?.find(id);
    if (integrityKey === undefined) {
      throw new StorageError(
        "integrity",
        `the blob is sealed with integrity key ${id}, which is not in AzureBlobStorage.IntegrityKeys (a forgery, or a key removed too early)`,
      );
    }
    verifyEnvelopeHeader(parsed, context, integrityKey);
    return integrityKey;
  }

  async #withCek<T>(
    parsed: ParsedEnvelope,
    options: OperationOptions,
    use: (cek: Buffer) => Promise<T>,
  ): Promise<T> {
    const keys = this.#keys;
    if (keys === undefined) {
      throw new StorageError(
        "unavailable",
        `the blob is encrypted (key ${showUntrusted(parsed.wrapped.keyId)}), but no key is configured (AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile)`,
      );
    }
    const cek = await keys.unwrap(parsed.wrapped, options);
    try {
      return await use(cek);
    } finally {
      zeroize(cek);
    }
  }
}

/**
 * The first ranged GET, aligned to the smallest envelope segment: it usually covers the whole plan.
 */
function widenToSegments(offset: number, length: number): { offset: number; length: number } {
  // The block before the first one serves as its CBC IV, so start one block earlier.
  const start = Math.floor(Math.max(0, offset - AES_BLOCK_SIZE) / MIN_SEGMENT_SIZE) * MIN_SEGMENT_SIZE;
  const end = Math.ceil((offset + length) / MIN_SEGMENT_SIZE) * MIN_SEGMENT_SIZE;
  return { offset: start, length: end - start };
}

/** Prefixes StorageErrors with the operation and blob name, so every failure names its blob. */
export async function named<T>(operation: string, name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof StorageError && !error.message.startsWith(`${operation} ${name}`)) {
      throw new StorageError(error.code, `${operation} ${name}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
