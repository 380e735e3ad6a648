/**
 * The metadata codec of envelope versions 1 and 2 (FORMAT.md): the `encryptiondata` entry
 * (Microsoft client-side-encryption v1 shape) and the `oabsintegrity` entry (this plugin's
 * own), and steps 1-4 of the normative reading order. Nothing here is trusted until the
 * header tag has been verified (envelope.ts); parsing only refuses what can never be valid.
 */
import { StorageError } from "../errors.ts";
import {
  AES_BLOCK_SIZE,
  ciphertextLengthFor,
  MAX_U32,
  segmentCountFor,
  segmentSizeFor,
} from "./envelope-layout.ts";
import { INTEGRITY_KEY_ID_PATTERN } from "./integrity-key.ts";
import { WRAP_ALGORITHMS, type WrapAlgorithm, type WrappedKey } from "./key-wrapper.ts";

/** Metadata names (Azure metadata names are case-insensitive). */
export const ENVELOPE_METADATA = { encryptionData: "encryptiondata", integrity: "oabsintegrity" } as const;

/**
 * 1: the MAC key comes from the CEK. 2: it comes from a deployment integrity key
 * (integrity-key.ts), named by `IntegrityKeyId`. Both stay readable forever.
 */
export type EnvelopeVersion = 1 | 2;
export const NEWEST_ENVELOPE_VERSION: EnvelopeVersion = 2;
/** The CBC IV is one AES block. */
export const IV_LENGTH = AES_BLOCK_SIZE;
export const SEGMENT_TAG_LENGTH = 16;
export const HEADER_TAG_LENGTH = 32;
/** EncryptionLibrary written when the caller names none. */
export const DEFAULT_ENCRYPTION_LIBRARY = "OrthancAzureBlobStorage";

const PROTOCOL = "1.0";
const ENCRYPTION_ALGORITHM = "AES_CBC_256";
const ENCRYPTION_MODE = "FullBlob";

export type BlobFormat = { kind: "plain" } | { kind: "envelope" };

export interface ParsedEnvelope {
  version: EnvelopeVersion;
  /** Version 2: the integrity key that sealed the blob (not yet verified). Version 1: undefined. */
  integrityKeyId: string | undefined;
  wrapped: WrappedKey;
  iv: Buffer;
  plaintextLength: number;
  ciphertextLength: number;
  segmentSize: number;
  segmentCount: number;
  /** tag_0 ‖ … ‖ tag_(n-1), 16 bytes each. */
  segmentTags: Buffer;
  /** 32 bytes. */
  headerTag: Buffer;
  /** The exact stored `encryptiondata` value: the header tag covers these bytes. */
  encryptionData: string;
}

/** Integrity error for malformed metadata; says which field, never echoes key bytes. */
function malformed(what: string): StorageError {
  return new StorageError("integrity", `encrypted blob metadata is malformed: ${what}`);
}

/** Case-insensitive metadata lookup; two entries differing only by case are corrupt. */
function metadataEntry(metadata: Readonly<Record<string, string>>, name: string): string | undefined {
  let found: string | undefined;
  for (const [key, value] of Object.entries(metadata)) {
    if (key.toLowerCase() !== name) continue;
    if (found !== undefined) throw malformed(`more than one ${name} entry`);
    found = value;
  }
  return found;
}

/**
 * Step 1 of the reading order: plain when neither entry is present, envelope when both are.
 * Exactly one of them means the blob was stripped or downgraded: StorageError("integrity").
 */
export function detectBlobFormat(metadata: Readonly<Record<string, string>>): BlobFormat {
  const hasEncryptionData = metadataEntry(metadata, ENVELOPE_METADATA.encryptionData) !== undefined;
  const hasIntegrity = metadataEntry(metadata, ENVELOPE_METADATA.integrity) !== undefined;
  if (hasEncryptionData && hasIntegrity) return { kind: "envelope" };
  if (!hasEncryptionData && !hasIntegrity) return { kind: "plain" };
  throw new StorageError(
    "integrity",
    `encrypted blob metadata is incomplete: ${hasEncryptionData ? ENVELOPE_METADATA.integrity : ENVELOPE_METADATA.encryptionData} is missing (the blob was stripped or downgraded)`,
  );
}

/**
 * Standard base64 with padding, canonical only. Buffer.from(..., "base64") alone is lenient (it
 * skips unknown characters and accepts base64url and missing padding); re-encoding gives the one
 * canonical form, so a round trip that changes the text refuses all of those.
 */
function decodeBase64(value: unknown, field: string): Buffer {
  if (typeof value !== "string") throw malformed(`${field} is not a string`);
  const bytes = decodeCanonicalBase64(value);
  if (bytes === undefined) throw malformed(`${field} is not canonical padded base64`);
  return bytes;
}

/** The bytes of `value` when it is canonical padded base64 (the only form FORMAT.md allows), else undefined. */
export function decodeCanonicalBase64(value: string): Buffer | undefined {
  const bytes = Buffer.from(value, "base64");
  return bytes.toString("base64") === value ? bytes : undefined;
}

function parseObject(text: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // The SyntaxError quotes the text, which holds the wrapped key: do not pass it on.
    throw malformed(`${field} is not JSON`);
  }
  return asObject(value, field);
}

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`${field} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function nonNegativeInteger(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`${field} is not a non-negative integer`);
  }
  return value;
}

function isWrapAlgorithm(value: string): value is WrapAlgorithm {
  return (WRAP_ALGORITHMS as readonly string[]).includes(value);
}

/** Metadata values are ASCII (Azure); printable, so that nothing needs escaping in headers. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The `encryptiondata` value: compact JSON, keys in FORMAT.md's order. */
export function formatEncryptionData(wrapped: WrappedKey, iv: Buffer, library: string): string {
  const value = JSON.stringify({
    WrappedContentKey: {
      KeyId: wrapped.keyId,
      EncryptedKey: wrapped.encryptedKey.toString("base64"),
      Algorithm: wrapped.algorithm,
    },
    EncryptionAgent: { Protocol: PROTOCOL, EncryptionAlgorithm: ENCRYPTION_ALGORITHM },
    ContentEncryptionIV: iv.toString("base64"),
    KeyWrappingMetadata: { EncryptionLibrary: library },
    EncryptionMode: ENCRYPTION_MODE,
  });
  if (!PRINTABLE_ASCII.test(value)) {
    throw new StorageError(
      "invalid-argument",
      "Expected a key id and an encryption library name in printable ASCII (Azure metadata values are ASCII)",
    );
  }
  return value;
}

/** The fields of the `oabsintegrity` entry. */
export interface IntegrityFields {
  version: EnvelopeVersion;
  /** Version 2 only. */
  integrityKeyId: string | undefined;
  segmentSize: number;
  plaintextLength: number;
  segmentTags: Buffer;
  headerTag: Buffer;
}

/** The `oabsintegrity` value: compact JSON, keys in FORMAT.md's order. */
export function formatIntegrity(fields: IntegrityFields): string {
  const sealedBy =
    fields.version === 2 ? { IntegrityKeyId: checkIntegrityKeyId(fields.integrityKeyId) } : undefined;
  return JSON.stringify({
    Version: fields.version,
    ...sealedBy,
    SegmentSize: fields.segmentSize,
    PlaintextLength: fields.plaintextLength,
    SegmentTags: fields.segmentTags.toString("base64"),
    HeaderTag: fields.headerTag.toString("base64"),
  });
}

function checkIntegrityKeyId(id: string | undefined): string {
  if (id === undefined || !INTEGRITY_KEY_ID_PATTERN.test(id)) {
    throw new StorageError(
      "invalid-argument",
      "Expected an integrity key id (ik- and 32 lowercase hex digits)",
    );
  }
  return id;
}

/** Step 2: `oabsintegrity`, the version first (a newer version may change everything else). */
function parseIntegrity(text: string): IntegrityFields {
  const integrity = parseObject(text, ENVELOPE_METADATA.integrity);
  const version = integrity.Version;
  if (typeof version === "number" && Number.isSafeInteger(version) && version > NEWEST_ENVELOPE_VERSION) {
    throw new StorageError(
      "integrity",
      `encrypted blob was written by a newer plugin (format version ${version}); upgrade the plugin to read it`,
    );
  }
  if (version !== 1 && version !== 2) throw malformed("oabsintegrity.Version is not a known version");
  let integrityKeyId: string | undefined;
  if (version === 2) {
    const id = integrity.IntegrityKeyId;
    if (typeof id !== "string" || !INTEGRITY_KEY_ID_PATTERN.test(id)) {
      throw malformed("oabsintegrity.IntegrityKeyId is not ik- and 32 lowercase hex digits");
    }
    integrityKeyId = id;
  }
  const headerTag = decodeBase64(integrity.HeaderTag, "oabsintegrity.HeaderTag");
  if (headerTag.length !== HEADER_TAG_LENGTH) throw malformed("oabsintegrity.HeaderTag is not 32 bytes");
  return {
    version,
    integrityKeyId,
    segmentSize: nonNegativeInteger(integrity.SegmentSize, "oabsintegrity.SegmentSize"),
    plaintextLength: nonNegativeInteger(integrity.PlaintextLength, "oabsintegrity.PlaintextLength"),
    segmentTags: decodeBase64(integrity.SegmentTags, "oabsintegrity.SegmentTags"),
    headerTag,
  };
}

/** Step 3: `encryptiondata`. */
function parseEncryptionData(text: string): { wrapped: WrappedKey; iv: Buffer } {
  const data = parseObject(text, ENVELOPE_METADATA.encryptionData);
  const agent = asObject(data.EncryptionAgent, "encryptiondata.EncryptionAgent");
  if (agent.Protocol !== PROTOCOL) throw malformed('encryptiondata.EncryptionAgent.Protocol is not "1.0"');
  if (agent.EncryptionAlgorithm !== ENCRYPTION_ALGORITHM) {
    throw malformed('encryptiondata.EncryptionAgent.EncryptionAlgorithm is not "AES_CBC_256"');
  }
  if (data.EncryptionMode !== ENCRYPTION_MODE)
    throw malformed('encryptiondata.EncryptionMode is not "FullBlob"');
  const iv = decodeBase64(data.ContentEncryptionIV, "encryptiondata.ContentEncryptionIV");
  if (iv.length !== IV_LENGTH) throw malformed("encryptiondata.ContentEncryptionIV is not 16 bytes");

  const key = asObject(data.WrappedContentKey, "encryptiondata.WrappedContentKey");
  const algorithm = key.Algorithm;
  if (algorithm === "RSA1_5") throw malformed("key wrapping algorithm RSA1_5 is never accepted");
  if (typeof algorithm !== "string" || !isWrapAlgorithm(algorithm)) {
    throw malformed(`encryptiondata.WrappedContentKey.Algorithm is not one of ${WRAP_ALGORITHMS.join(", ")}`);
  }
  const keyId = key.KeyId;
  if (typeof keyId !== "string" || keyId.length === 0) {
    throw malformed("encryptiondata.WrappedContentKey.KeyId is not a non-empty string");
  }
  const encryptedKey = decodeBase64(key.EncryptedKey, "encryptiondata.WrappedContentKey.EncryptedKey");
  if (encryptedKey.length === 0) throw malformed("encryptiondata.WrappedContentKey.EncryptedKey is empty");
  return { wrapped: { keyId, algorithm, encryptedKey }, iv };
}

/**
 * Steps 1-4 of the reading order. `blobLength` is the blob's total (ciphertext) length.
 * Throws StorageError("integrity"); an unknown Version gets a message asking for an upgrade.
 */
export function parseEnvelope(
  metadata: Readonly<Record<string, string>>,
  blobLength: number,
): ParsedEnvelope {
  const encryptionData = metadataEntry(metadata, ENVELOPE_METADATA.encryptionData);
  const integrityText = metadataEntry(metadata, ENVELOPE_METADATA.integrity);
  if (encryptionData === undefined || integrityText === undefined) {
    detectBlobFormat(metadata); // throws for exactly one entry
    throw malformed("the blob is not encrypted (no encryptiondata and no oabsintegrity)");
  }

  const integrity = parseIntegrity(integrityText);
  const { wrapped, iv } = parseEncryptionData(encryptionData);

  // Step 4: lengths.
  if (!Number.isSafeInteger(blobLength) || blobLength < 0) {
    throw new StorageError("internal", `Expected a blob length but received ${String(blobLength)}`);
  }
  const ciphertextLength = blobLength;
  const { plaintextLength } = integrity;
  if (ciphertextLength % AES_BLOCK_SIZE !== 0 || ciphertextLength === 0) {
    throw malformed(`the blob length is not a positive multiple of ${AES_BLOCK_SIZE}`);
  }
  if (ciphertextLengthFor(plaintextLength) !== ciphertextLength) {
    throw malformed("oabsintegrity.PlaintextLength does not match the blob length");
  }
  const segmentSize = segmentSizeFor(ciphertextLength);
  if (integrity.segmentSize !== segmentSize) {
    throw malformed("oabsintegrity.SegmentSize is not the segment size of this blob length");
  }
  if (segmentSize > MAX_U32) throw malformed("the blob is too large for the envelope format");
  const segmentCount = segmentCountFor(ciphertextLength, segmentSize);
  if (integrity.segmentTags.length !== segmentCount * SEGMENT_TAG_LENGTH) {
    throw malformed("oabsintegrity.SegmentTags does not hold one 16-byte tag per segment");
  }
  return {
    version: integrity.version,
    integrityKeyId: integrity.integrityKeyId,
    wrapped,
    iv,
    plaintextLength,
    ciphertextLength,
    segmentSize,
    segmentCount,
    segmentTags: integrity.segmentTags,
    headerTag: integrity.headerTag,
    encryptionData,
  };
}
