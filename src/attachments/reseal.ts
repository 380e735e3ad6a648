/**
 * Metadata-only operations on one stored attachment, for the operator's long jobs (the operations
 * CLI runs them over a container): the upgrade from envelope version 1 to version 2, and rewrap
 * under the current key-encryption key. The body is never rewritten. Each writes the new metadata
 * only if the blob is still the one that was read (a conditional write on its ETag), so a blob that
 * changes meanwhile is reported, never overwritten.
 */
import type { OperationOptions } from "../async/operation-options.ts";
import { zeroize } from "../crypto/data-key.ts";
import {
  detectBlobFormat,
  type EnvelopeContext,
  parseEnvelope,
  rewrapEnvelopeMetadata,
  upgradeEnvelopeToV2,
} from "../crypto/envelope.ts";
import type { IntegrityKey, IntegrityKeyring } from "../crypto/integrity-key.ts";
import type { KeyWrapper, WrappedKey } from "../crypto/key-wrapper.ts";
import { StorageError } from "../errors.ts";
import { showUntrusted } from "../logging/untrusted.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import { PLUGIN_LIBRARY } from "../version.ts";
import { ENVELOPE_FORMATS, named } from "./attachment-codec.ts";

export type ResealOutcome =
  /** The metadata was replaced. */
  | "done"
  /** Nothing to do: already in the wanted form. */
  | "unchanged"
  /** A plain blob: nothing to seal or rewrap. */
  | "plain";

export interface ResealKeys {
  /** Unwraps CEKs under any trusted KEK (the caching key provider: one unwrap per distinct CEK). */
  unwrap(wrapped: WrappedKey, options?: OperationOptions): Promise<Buffer>;
}

/** The new metadata: the blob's own entries, with the re-sealed envelope entries in their place. */
function withEntries(
  metadata: Readonly<Record<string, string>>,
  entries: Record<string, string>,
  version: 1 | 2,
): Record<string, string> {
  const next: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    const lower = name.toLowerCase();
    if (lower === "encryptiondata" || lower === "oabsintegrity" || lower === "plugin_format") continue;
    next[name] = value;
  }
  return { ...next, ...entries, plugin_format: ENVELOPE_FORMATS[version] };
}

async function withCek<T>(
  keys: ResealKeys,
  wrapped: WrappedKey,
  options: OperationOptions,
  use: (cek: Buffer) => Promise<T>,
): Promise<T> {
  const cek = await keys.unwrap(wrapped, options);
  try {
    return await use(cek);
  } finally {
    zeroize(cek);
  }
}

/**
 * Upgrades one envelope version 1 blob to version 2 under `integrityKey` (FORMAT.md, "Re-sealing
 * without touching the body"): reads it once, verifies every version 1 tag and its padding,
 * computes the version 2 tags, and replaces the metadata if the blob's ETag is unchanged.
 * A version 2 blob is "unchanged"; a plain blob is "plain". A blob that fails verification is
 * refused (StorageError "integrity") and left as it is.
 */
export async function upgradeBlobToV2(
  store: BlobStore,
  name: string,
  context: EnvelopeContext,
  keys: ResealKeys,
  integrityKey: IntegrityKey,
  options: OperationOptions = {},
): Promise<ResealOutcome> {
  return named("upgrade", name, async () => {
    const blob = await store.read(name, options);
    const { metadata, etag } = blob.properties;
    if (detectBlobFormat(metadata).kind === "plain") return "plain";
    const parsed = parseEnvelope(metadata, blob.data.length);
    if (parsed.version === 2) return "unchanged";
    const entries = await withCek(keys, parsed.wrapped, options, (cek) =>
      upgradeEnvelopeToV2(blob.data, parsed, cek, context, integrityKey),
    );
    await store.setMetadata(name, withEntries(metadata, entries, 2), {
      ...options,
      ifMatch: requireEtag(etag),
    });
    return "done";
  });
}

/**
 * Rewraps one blob's CEK under the current key-encryption key (`wrapper`), metadata only: no body
 * is read. The header tag is verified as it is, then re-sealed in the blob's own version (version
 * 1 under its CEK, version 2 under the integrity key its metadata names). A blob already wrapped
 * by the current key is "unchanged".
 */
export async function rewrapBlob(
  store: BlobStore,
  name: string,
  context: EnvelopeContext,
  keys: ResealKeys,
  wrapper: Pick<KeyWrapper, "wrapKey" | "description"> & { readonly keyId?: string },
  integrityKeys: IntegrityKeyring | undefined,
  options: OperationOptions = {},
): Promise<ResealOutcome> {
  return named("rewrap", name, async () => {
    const properties = await store.getProperties(name, options);
    const { metadata, etag } = properties;
    if (detectBlobFormat(metadata).kind === "plain") return "plain";
    const parsed = parseEnvelope(metadata, properties.contentLength);
    if (wrapper.keyId !== undefined && parsed.wrapped.keyId === wrapper.keyId) return "unchanged";
    let integrityKey: IntegrityKey | undefined;
    if (parsed.version === 2) {
      const id = parsed.integrityKeyId ?? "";
      integrityKey =
        integrityKeys === undefined || integrityKeys.size === 0 ? undefined : integrityKeys.find(id);
      if (integrityKey === undefined) {
        throw new StorageError(
          "integrity",
          `the blob is sealed with integrity key ${showUntrusted(id)}, which is not configured`,
        );
      }
    }
    const entries = await withCek(keys, parsed.wrapped, options, async (cek) => {
      const wrapped = await wrapper.wrapKey(cek, options);
      if (wrapped.keyId === parsed.wrapped.keyId) return undefined;
      return rewrapEnvelopeMetadata(parsed, context, wrapped, { cek, integrityKey }, PLUGIN_LIBRARY);
    });
    if (entries === undefined) return "unchanged";
    await store.setMetadata(name, withEntries(metadata, entries, parsed.version), {
      ...options,
      ifMatch: requireEtag(etag),
    });
    return "done";
  });
}

function requireEtag(etag: string | undefined): string {
  if (etag === undefined)
    throw new StorageError("internal", "the store returned no ETag to make the write conditional on");
  return etag;
}
