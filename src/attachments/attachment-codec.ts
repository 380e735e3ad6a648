/**
 * How an attachment becomes a blob and back: plain or envelope-encrypted (FORMAT.md).
 * Writes follow the configuration; reads follow each blob's own metadata, so a container
 * can hold both kinds while encryption is being turned on.
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
} from "../crypto/envelope.ts";
import { type EncryptOptions, type EnvelopeEngine, InlineEnvelopeEngine } from "../crypto/envelope-engine.ts";
import type { WrappedKey } from "../crypto/key-wrapper.ts";
import { rangeBeyondEndError, StorageError } from "../errors.ts";
import type { BlobStore, DownloadedBlob } from "../storage/blob-store.ts";
import { PLUGIN_LIBRARY } from "../version.ts";

/** plugin_format metadata values (informational; readers trust the envelope, not this). */
export const PLAIN_FORMAT = "plain-1";
export const ENVELOPE_FORMAT = "envelope-1";

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
}

export interface EncodedAttachment {
  body: Buffer;
  metadata: Record<string, string>;
}

/** Smallest envelope segment: a first ranged GET aligned to it usually covers the whole plan. */
const MIN_SEGMENT = 65_536;

export class AttachmentCodec {
  readonly #encryptWrites: boolean;
  readonly #allowUnencryptedReads: boolean;
  readonly #keys: KeyProvider | undefined;
  readonly #engine: EnvelopeEngine;

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
      const encrypted = await this.#engine.encrypt(data, dataKey, PLUGIN_LIBRARY, context, options);
      return {
        body: encrypted.body,
        metadata: { ...common, plugin_format: ENVELOPE_FORMAT, ...encrypted.metadata },
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
        this.#checkPlainAllowed();
        return blob.data;
      }
      const parsed = parseEnvelope(blob.properties.metadata, blob.data.length);
      return this.#withCek(parsed, options, (cek) =>
        // The downloaded body is ours alone: a crypto worker may take it without a copy.
        this.#engine.decrypt(blob.data, blob.properties.metadata, cek, context, {
          ...options,
          consumeInput: true,
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
    if (length === 0) {
      await store.getProperties(name, options);
      return Buffer.alloc(0);
    }
    const mayBeEncrypted = this.#keys !== undefined;
    const first = mayBeEncrypted ? widenToSegments(offset, length) : { offset, length };
    const fetched = await store.readRange(name, first.offset, first.length, options);
    return named("readRange", name, async () => {
      const { metadata, contentLength } = fetched.properties;
      if (detectBlobFormat(metadata).kind === "plain") {
        this.#checkPlainAllowed();
        if (offset + length > contentLength) throw rangeBeyondEndError(offset, length, contentLength, "blob");
        const start = offset - first.offset;
        return fetched.data.subarray(start, start + length);
      }
      const parsed = parseEnvelope(metadata, contentLength);
      const plan = planRange(parsed, offset, length);
      let ciphertext: Buffer;
      const fetchedEnd = first.offset + fetched.data.length;
      if (plan.fetchOffset >= first.offset && plan.fetchOffset + plan.fetchLength <= fetchedEnd) {
        const start = plan.fetchOffset - first.offset;
        ciphertext = fetched.data.subarray(start, start + plan.fetchLength);
      } else {
        const second = await store.readRange(name, plan.fetchOffset, plan.fetchLength, options);
        ciphertext = second.data;
      }
      return this.#withCek(parsed, options, (cek) =>
        decryptEnvelopeRange(ciphertext, plan, parsed, cek, context, offset, length),
      );
    });
  }

  #checkPlainAllowed(): void {
    if (this.#encryptWrites && !this.#allowUnencryptedReads) {
      throw new StorageError(
        "integrity",
        "the blob is not encrypted, and AzureBlobStorage.AllowUnencryptedReads is false " +
          "(set it to true while migrating a container that still holds unencrypted attachments)",
      );
    }
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
        `the blob is encrypted (key ${parsed.wrapped.keyId}), but no key is configured (AzureBlobStorage.LocalKeyFile)`,
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

function widenToSegments(offset: number, length: number): { offset: number; length: number } {
  // The block before the first one serves as its CBC IV, so start one block earlier.
  const start = Math.floor(Math.max(0, offset - 16) / MIN_SEGMENT) * MIN_SEGMENT;
  const end = Math.ceil((offset + length) / MIN_SEGMENT) * MIN_SEGMENT;
  return { offset: start, length: end - start };
}

/** Prefixes StorageErrors with the operation and blob name, so every failure names its blob. */
async function named<T>(operation: string, name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof StorageError && !error.message.startsWith(`${operation} ${name}`)) {
      throw new StorageError(error.code, `${operation} ${name}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}
