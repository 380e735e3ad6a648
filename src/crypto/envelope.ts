/**
 * Encrypted blob format, envelope versions 1 and 2 (FORMAT.md is normative): AES-256-CBC body
 * (Microsoft client-side-encryption v1), authenticated by HMAC-SHA-256 segment tags and a
 * header tag under a per-blob MAC key. Version 1 derives the MAC key from the CEK; version 2
 * from a deployment integrity key (integrity-key.ts). Verify first, decrypt after; every
 * verification failure is the same StorageError("integrity"), to which the caller adds the blob name.
 *
 * Key hygiene: the CEK stays a Buffer owned by the caller (never a KeyObject, never a
 * string); the MAC key is zeroed in a `finally`. Big blobs are processed in 1 MiB chunks with
 * a turn of the event loop between chunks, so the JS thread is never blocked for long.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  type Hmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { StorageError } from "../errors.ts";
import { checkCek, type DataKey } from "./data-key.ts";
import {
  AES_BLOCK_SIZE,
  ciphertextLengthFor,
  MAX_U32,
  planRange,
  type RangePlan,
  segmentCountFor,
  segmentSizeFor,
} from "./envelope-layout.ts";
import {
  DEFAULT_ENCRYPTION_LIBRARY,
  ENVELOPE_METADATA,
  type EnvelopeVersion,
  formatEncryptionData,
  formatIntegrity,
  HEADER_TAG_LENGTH,
  IV_LENGTH,
  type ParsedEnvelope,
  SEGMENT_TAG_LENGTH,
} from "./envelope-metadata.ts";
import type { IntegrityKey } from "./integrity-key.ts";
import { WRAP_ALGORITHMS } from "./key-wrapper.ts";

export {
  ciphertextLengthFor,
  planRange,
  type RangePlan,
  segmentSizeFor,
} from "./envelope-layout.ts";
export {
  type BlobFormat,
  detectBlobFormat,
  ENVELOPE_METADATA,
  type EnvelopeVersion,
  type ParsedEnvelope,
  parseEnvelope,
} from "./envelope-metadata.ts";

/** What the envelope binds a blob to: its Orthanc attachment. */
export interface EnvelopeContext {
  uuid: string;
  contentType: number;
}

export interface EncryptedBlob {
  body: Buffer;
  /** The `encryptiondata` and `oabsintegrity` entries only. */
  metadata: Record<string, string>;
}

export interface EncryptEnvelopeOptions {
  /** Fixed IV, for tests and vectors only: a fresh random IV is required for every blob. */
  iv?: Buffer;
  /** KeyWrappingMetadata.EncryptionLibrary (default "OrthancAzureBlobStorage"). */
  library?: string;
  /** Seal with this deployment integrity key (envelope version 2); without it, version 1. */
  integrityKey?: IntegrityKey | undefined;
  /**
   * Write the ciphertext over the plaintext, whose ArrayBuffer must have room for the 1-16
   * padding bytes after it: for callers that own the plaintext (a crypto worker's moved copy).
   */
  inPlace?: boolean;
}

export interface DecryptEnvelopeOptions {
  /** Write the plaintext over the ciphertext: for callers that own `body` and drop it after. */
  inPlace?: boolean;
  /** Version 2 blobs: the integrity key their IntegrityKeyId names (anything else fails verification). */
  integrityKey?: IntegrityKey | undefined;
}

const MAC_KEY_LENGTH = 32;
/** Work unit of one cipher/HMAC update, and between two turns of the event loop (1 MiB measured best here). */
const CHUNK_SIZE = 1024 * 1024;
/** What differs between envelope versions: the HKDF info and the labels of the two tags. */
interface MacScheme {
  readonly macKeyInfo: Buffer;
  readonly segmentLabel: Buffer;
  readonly headerLabel: Buffer;
}
const MAC_SCHEMES: Readonly<Record<EnvelopeVersion, MacScheme>> = {
  1: {
    macKeyInfo: Buffer.from("OrthancAzureBlobStorage envelope v1 MAC key", "utf8"),
    segmentLabel: Buffer.from("OABS-v1-segment", "ascii"),
    headerLabel: Buffer.from("OABS-v1-header", "ascii"),
  },
  2: {
    macKeyInfo: Buffer.from("OrthancAzureBlobStorage envelope v2 MAC key", "utf8"),
    segmentLabel: Buffer.from("OABS-v2-segment", "ascii"),
    headerLabel: Buffer.from("OABS-v2-header", "ascii"),
  },
};
/** The one message of every verification failure, whatever the cause. */
const VERIFICATION_FAILED = "encrypted blob failed verification";

function verificationFailed(): StorageError {
  return new StorageError("integrity", VERIFICATION_FAILED);
}

function checkContext(context: EnvelopeContext): void {
  if (typeof context.uuid !== "string") {
    throw new StorageError(
      "invalid-argument",
      "Expected an attachment uuid (a string) in the envelope context",
    );
  }
  const { contentType } = context;
  if (!Number.isSafeInteger(contentType) || contentType < 0 || contentType > MAX_U32) {
    throw new StorageError(
      "invalid-argument",
      `Expected a content type between 0 and ${MAX_U32} but received ${String(contentType)}`,
    );
  }
}

/**
 * How a blob is sealed: version 1 under its CEK, version 2 under a deployment integrity key.
 * The MAC key is K_mac = HKDF-SHA-256(IKM = CEK or K_int, salt = IV, info of the version, L = 32).
 */
class Seal {
  readonly version: EnvelopeVersion;
  readonly scheme: MacScheme;
  /** Version 2: the IntegrityKeyId that the header tag covers. */
  readonly integrityKeyId: string | undefined;
  readonly kMac: Buffer;

  private constructor(version: EnvelopeVersion, ikm: Buffer, iv: Buffer, integrityKeyId?: string) {
    this.version = version;
    this.scheme = MAC_SCHEMES[version];
    this.integrityKeyId = integrityKeyId;
    this.kMac = Buffer.from(hkdfSync("sha256", ikm, iv, this.scheme.macKeyInfo, MAC_KEY_LENGTH));
  }

  static forWriting(cek: Buffer, iv: Buffer, integrityKey: IntegrityKey | undefined): Seal {
    return integrityKey === undefined
      ? new Seal(1, cek, iv)
      : new Seal(2, integrityKey.key, iv, integrityKey.id);
  }

  /**
   * The seal of a parsed blob. Version 1 needs the CEK; version 2 the integrity key its
   * IntegrityKeyId names (a missing or other key cannot verify it: one verification failure).
   */
  static forReading(
    parsed: ParsedEnvelope,
    cek: Buffer | undefined,
    integrityKey: IntegrityKey | undefined,
  ): Seal {
    if (parsed.version === 1) {
      if (cek === undefined) throw new StorageError("internal", "A version 1 blob is verified under its CEK");
      checkCek(cek);
      return new Seal(1, cek, parsed.iv);
    }
    if (integrityKey === undefined || integrityKey.id !== parsed.integrityKeyId) throw verificationFailed();
    return new Seal(2, integrityKey.key, parsed.iv, integrityKey.id);
  }

  dispose(): void {
    this.kMac.fill(0);
  }
}

/** Gives the event loop a turn after every CHUNK_SIZE bytes of work, for inputs above one chunk. */
class Pacer {
  readonly #enabled: boolean;
  #pending = 0;

  constructor(totalBytes: number) {
    this.#enabled = totalBytes > CHUNK_SIZE;
  }

  async done(bytes: number): Promise<void> {
    if (!this.#enabled) return;
    this.#pending += bytes;
    if (this.#pending < CHUNK_SIZE) return;
    this.#pending = 0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

interface Layout {
  readonly ciphertextLength: number;
  readonly segmentSize: number;
  readonly segmentCount: number;
}

/**
 * Computes segment tags as ciphertext becomes available:
 * `tag_i = trunc16(HMAC(K_mac, "OABS-v<version>-segment" ‖ u64(i) ‖ u8(last) ‖ segment_i))`.
 * `data` holds the ciphertext from the start of segment `firstSegment` on.
 */
class SegmentTagger {
  readonly #seal: Seal;
  readonly #data: Buffer;
  readonly #layout: Layout;
  readonly #firstSegment: number;
  readonly #base: number;
  readonly #tags: Buffer;
  #index: number;
  #position: number;
  #mac: Hmac | undefined;

  constructor(seal: Seal, data: Buffer, layout: Layout, firstSegment: number, segmentCount: number) {
    this.#seal = seal;
    this.#data = data;
    this.#layout = layout;
    this.#firstSegment = firstSegment;
    this.#index = firstSegment;
    this.#base = firstSegment * layout.segmentSize;
    this.#position = this.#base;
    this.#tags = Buffer.alloc(segmentCount * SEGMENT_TAG_LENGTH);
  }

  /** Feeds ciphertext up to absolute offset `end`; records the tag of every segment that completes. */
  advance(end: number): void {
    const { segmentSize, segmentCount, ciphertextLength } = this.#layout;
    if (end > ciphertextLength)
      throw new StorageError("internal", "Segment tagging went past the ciphertext");
    while (this.#position < end) {
      const index = this.#index;
      const segmentEnd = Math.min((index + 1) * segmentSize, ciphertextLength);
      this.#mac ??= segmentMac(this.#seal, index, index === segmentCount - 1);
      const stop = Math.min(end, segmentEnd);
      this.#mac.update(this.#data.subarray(this.#position - this.#base, stop - this.#base));
      this.#position = stop;
      if (stop === segmentEnd) {
        const slot = (index - this.#firstSegment) * SEGMENT_TAG_LENGTH;
        this.#mac.digest().copy(this.#tags, slot, 0, SEGMENT_TAG_LENGTH);
        this.#mac = undefined;
        this.#index = index + 1;
      }
    }
  }

  /** The tags of the segments fed so far (all of them, once the last byte has been fed). */
  get tags(): Buffer {
    return this.#tags;
  }
}

function segmentMac(seal: Seal, index: number, last: boolean): Hmac {
  const label = seal.scheme.segmentLabel;
  const prefix = Buffer.alloc(label.length + 9);
  label.copy(prefix, 0);
  prefix.writeBigUInt64BE(BigInt(index), label.length);
  prefix.writeUInt8(last ? 1 : 0, label.length + 8);
  return createHmac("sha256", seal.kMac).update(prefix);
}

/** Tags of segments `firstSegment..lastSegment`; `data` starts at segment `firstSegment`. */
async function computeSegmentTags(
  seal: Seal,
  data: Buffer,
  layout: Layout,
  firstSegment: number,
  lastSegment: number,
  pacer: Pacer,
): Promise<Buffer> {
  const tagger = new SegmentTagger(seal, data, layout, firstSegment, lastSegment - firstSegment + 1);
  const base = firstSegment * layout.segmentSize;
  for (let position = 0; position < data.length; position += CHUNK_SIZE) {
    const end = Math.min(position + CHUNK_SIZE, data.length);
    tagger.advance(base + end);
    await pacer.done(end - position);
  }
  return tagger.tags;
}

/**
 * Version 1: HeaderTag = HMAC(K_mac, "OABS-v1-header" ‖ lp(encryptiondata) ‖ lp(uuid) ‖ u32(content type)
 *                         ‖ u64(L) ‖ u64(Lc) ‖ u32(S) ‖ u32(n) ‖ tag_0 ‖ … ‖ tag_(n-1)).
 * Version 2: the same with "OABS-v2-header" ‖ lp(IntegrityKeyId) in front.
 */
function computeHeaderTag(
  seal: Seal,
  encryptionData: string,
  context: EnvelopeContext,
  plaintextLength: number,
  layout: Layout,
  segmentTags: Buffer,
): Buffer {
  const encryptionDataBytes = Buffer.from(encryptionData, "utf8");
  const uuidBytes = Buffer.from(context.uuid, "utf8");
  const lengths = Buffer.alloc(4 + 4 + 4 + 8 + 8 + 4 + 4);
  let at = lengths.writeUInt32BE(encryptionDataBytes.length, 0);
  at = lengths.writeUInt32BE(uuidBytes.length, at);
  at = lengths.writeUInt32BE(context.contentType, at);
  at = lengths.writeBigUInt64BE(BigInt(plaintextLength), at);
  at = lengths.writeBigUInt64BE(BigInt(layout.ciphertextLength), at);
  at = lengths.writeUInt32BE(layout.segmentSize, at);
  lengths.writeUInt32BE(layout.segmentCount, at);
  const mac = createHmac("sha256", seal.kMac).update(seal.scheme.headerLabel);
  if (seal.integrityKeyId !== undefined) mac.update(lengthPrefixed(seal.integrityKeyId));
  return mac
    .update(lengths.subarray(0, 4))
    .update(encryptionDataBytes)
    .update(lengths.subarray(4, 8))
    .update(uuidBytes)
    .update(lengths.subarray(8))
    .update(segmentTags)
    .digest();
}

/** lp(text) = u32(length) ‖ UTF-8 bytes. */
function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const out = Buffer.alloc(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  bytes.copy(out, 4);
  return out;
}

/** Constant-time comparison; different lengths are simply unequal. */
function tagsEqual(actual: Buffer, expected: Buffer): boolean {
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Guards against a ParsedEnvelope that did not come from parseEnvelope. */
function checkParsed(parsed: ParsedEnvelope): void {
  const consistent =
    parsed.iv.length === IV_LENGTH &&
    parsed.headerTag.length === HEADER_TAG_LENGTH &&
    Number.isSafeInteger(parsed.plaintextLength) &&
    parsed.plaintextLength >= 0 &&
    parsed.ciphertextLength === ciphertextLengthFor(parsed.plaintextLength) &&
    parsed.segmentSize === segmentSizeFor(parsed.ciphertextLength) &&
    parsed.segmentSize <= MAX_U32 &&
    parsed.segmentCount === segmentCountFor(parsed.ciphertextLength, parsed.segmentSize) &&
    parsed.segmentTags.length === parsed.segmentCount * SEGMENT_TAG_LENGTH;
  if (!consistent) throw verificationFailed();
}

/** The header tag, which authenticates the metadata, the lengths and the segment tags. */
function verifyHeader(seal: Seal, parsed: ParsedEnvelope, context: EnvelopeContext): void {
  const expected = computeHeaderTag(
    seal,
    parsed.encryptionData,
    context,
    parsed.plaintextLength,
    parsed,
    parsed.segmentTags,
  );
  if (!tagsEqual(expected, parsed.headerTag)) throw verificationFailed();
}

/** The tags of segments `firstSegment..lastSegment`, held in `data`. */
async function verifySegments(
  seal: Seal,
  data: Buffer,
  parsed: ParsedEnvelope,
  firstSegment: number,
  lastSegment: number,
  pacer: Pacer,
): Promise<void> {
  const actual = await computeSegmentTags(seal, data, parsed, firstSegment, lastSegment, pacer);
  const expected = parsed.segmentTags.subarray(
    firstSegment * SEGMENT_TAG_LENGTH,
    (lastSegment + 1) * SEGMENT_TAG_LENGTH,
  );
  if (!tagsEqual(actual, expected)) throw verificationFailed();
}

/**
 * AES-256-CBC without padding removal, chunk by chunk into one output: a new buffer, or with
 * `inPlace` the ciphertext's own memory above one chunk (each chunk is overwritten only after the
 * cipher has consumed it, and CBC carries its IV inside the cipher): no blob-sized allocation.
 */
async function decryptBlocks(
  cek: Buffer,
  iv: Buffer,
  ciphertext: Buffer,
  pacer: Pacer,
  inPlace = false,
): Promise<Buffer> {
  const decipher = createDecipheriv("aes-256-cbc", cek, iv).setAutoPadding(false);
  // One chunk: update()'s own output is the result (no padding is held back), so no copy.
  if (ciphertext.length <= CHUNK_SIZE) {
    const whole = decipher.update(ciphertext);
    if (whole.length !== ciphertext.length || decipher.final().length !== 0) {
      throw new StorageError("internal", "AES-CBC decryption lost bytes");
    }
    return whole;
  }
  const output = inPlace ? ciphertext : Buffer.allocUnsafe(ciphertext.length);
  let written = 0;
  for (let position = 0; position < ciphertext.length; position += CHUNK_SIZE) {
    const end = Math.min(position + CHUNK_SIZE, ciphertext.length);
    written += decipher.update(ciphertext.subarray(position, end)).copy(output, written);
    await pacer.done(end - position);
  }
  written += decipher.final().copy(output, written);
  if (written !== ciphertext.length) throw new StorageError("internal", "AES-CBC decryption lost bytes");
  return output;
}

/**
 * Encrypts an attachment into an envelope blob, body and the two metadata entries: version 2
 * when `options.integrityKey` is given, version 1 otherwise.
 */
export async function encryptEnvelope(
  plaintext: Buffer,
  dataKey: DataKey,
  context: EnvelopeContext,
  options: EncryptEnvelopeOptions = {},
): Promise<EncryptedBlob> {
  checkContext(context);
  const { cek, wrapped } = dataKey;
  checkCek(cek);
  if (!WRAP_ALGORITHMS.includes(wrapped.algorithm)) {
    throw new StorageError(
      "invalid-argument",
      "Expected a CEK wrapped with RSA-OAEP, RSA-OAEP-256 or A256KW",
    );
  }
  if (wrapped.keyId.length === 0 || wrapped.encryptedKey.length === 0) {
    throw new StorageError("invalid-argument", "Expected a wrapped CEK with a key id");
  }
  const iv = options.iv ?? randomBytes(IV_LENGTH);
  if (iv.length !== IV_LENGTH) throw new StorageError("invalid-argument", `Expected a ${IV_LENGTH}-byte IV`);

  const plaintextLength = plaintext.length;
  const ciphertextLength = ciphertextLengthFor(plaintextLength);
  const segmentSize = segmentSizeFor(ciphertextLength);
  if (segmentSize > MAX_U32) {
    throw new StorageError("invalid-argument", "The attachment is too large for the envelope format");
  }
  const layout: Layout = {
    ciphertextLength,
    segmentSize,
    segmentCount: segmentCountFor(ciphertextLength, segmentSize),
  };
  const encryptionData = formatEncryptionData(wrapped, iv, options.library ?? DEFAULT_ENCRYPTION_LIBRARY);

  /* Precondition: in place, the plaintext's memory has room for the padding after it. */
  if (options.inPlace && plaintext.buffer.byteLength - plaintext.byteOffset < ciphertextLength) {
    throw new StorageError(
      "invalid-argument",
      `Expected room for ${ciphertextLength} bytes to encrypt in place but received ${plaintext.buffer.byteLength - plaintext.byteOffset}`,
    );
  }

  const seal = Seal.forWriting(cek, iv, options.integrityKey);
  try {
    // Chunks are multiples of the AES block, so each update() writes exactly over what it consumed.
    const body = options.inPlace
      ? Buffer.from(plaintext.buffer, plaintext.byteOffset, ciphertextLength)
      : Buffer.allocUnsafe(ciphertextLength);
    const tagger = new SegmentTagger(seal, body, layout, 0, layout.segmentCount);
    const cipher = createCipheriv("aes-256-cbc", cek, iv);
    const pacer = new Pacer(plaintextLength);
    let written = 0;
    for (let position = 0; position < plaintextLength; position += CHUNK_SIZE) {
      const end = Math.min(position + CHUNK_SIZE, plaintextLength);
      written += cipher.update(plaintext.subarray(position, end)).copy(body, written);
      tagger.advance(written);
      await pacer.done(end - position);
    }
    written += cipher.final().copy(body, written);
    if (written !== ciphertextLength) throw new StorageError("internal", "AES-CBC encryption lost bytes");
    tagger.advance(written);

    const segmentTags = tagger.tags;
    const headerTag = computeHeaderTag(seal, encryptionData, context, plaintextLength, layout, segmentTags);
    const integrity = formatIntegrity({
      version: seal.version,
      integrityKeyId: seal.integrityKeyId,
      segmentSize,
      plaintextLength,
      segmentTags,
      headerTag,
    });
    return {
      body,
      metadata: {
        [ENVELOPE_METADATA.encryptionData]: encryptionData,
        [ENVELOPE_METADATA.integrity]: integrity,
      },
    };
  } finally {
    seal.dispose();
  }
}

/**
 * Version 2 only: the header tag, under the integrity key that the blob's IntegrityKeyId
 * names, before anything is unwrapped (FORMAT.md: authentication before the unwrap). A forged
 * or altered header never costs a Key Vault call.
 */
export function verifyEnvelopeHeader(
  parsed: ParsedEnvelope,
  context: EnvelopeContext,
  integrityKey: IntegrityKey | undefined,
): void {
  checkContext(context);
  checkParsed(parsed);
  if (parsed.version !== 2) {
    throw new StorageError("internal", "Only a version 2 header is verified before the unwrap");
  }
  const seal = Seal.forReading(parsed, undefined, integrityKey);
  try {
    verifyHeader(seal, parsed, context);
  } finally {
    seal.dispose();
  }
}

/**
 * The reading order after the unwrap (the caller unwraps `parsed.wrapped`): verifies the header
 * tag and every segment tag, then decrypts and checks the padding.
 */
export async function decryptEnvelope(
  body: Buffer,
  parsed: ParsedEnvelope,
  cek: Buffer,
  context: EnvelopeContext,
  options: DecryptEnvelopeOptions = {},
): Promise<Buffer> {
  checkContext(context);
  checkCek(cek);
  checkParsed(parsed);
  if (body.length !== parsed.ciphertextLength) throw verificationFailed();
  const pacer = new Pacer(body.length);

  const seal = Seal.forReading(parsed, cek, options.integrityKey);
  try {
    verifyHeader(seal, parsed, context);
    await verifySegments(seal, body, parsed, 0, parsed.segmentCount - 1, pacer);
  } finally {
    seal.dispose();
  }

  const output = await decryptBlocks(cek, parsed.iv, body, pacer, options.inPlace);
  // PKCS#7, and consistent with the authenticated PlaintextLength: Lc - L bytes of value Lc - L.
  const padLength = parsed.ciphertextLength - parsed.plaintextLength;
  let mismatch = 0;
  for (let i = parsed.plaintextLength; i < output.length; i++) mismatch |= output.readUInt8(i) ^ padLength;
  if (mismatch !== 0) {
    output.fill(0);
    throw verificationFailed();
  }
  return output.subarray(0, parsed.plaintextLength);
}

function samePlan(a: RangePlan, b: RangePlan): boolean {
  return (
    a.fetchOffset === b.fetchOffset &&
    a.fetchLength === b.fetchLength &&
    a.firstSegment === b.firstSegment &&
    a.lastSegment === b.lastSegment
  );
}

/**
 * Plaintext `[offset, offset + length)` from `fetched` = ciphertext
 * `[plan.fetchOffset, plan.fetchOffset + plan.fetchLength)`. Verifies the header tag and the
 * fetched segments' tags, then decrypts only the AES blocks needed.
 */
export async function decryptEnvelopeRange(
  fetched: Buffer,
  plan: RangePlan,
  parsed: ParsedEnvelope,
  cek: Buffer,
  context: EnvelopeContext,
  offset: number,
  length: number,
  options: Pick<DecryptEnvelopeOptions, "integrityKey"> = {},
): Promise<Buffer> {
  checkContext(context);
  checkCek(cek);
  checkParsed(parsed);
  if (!samePlan(plan, planRange(parsed, offset, length))) {
    throw new StorageError("invalid-argument", "The range plan does not match the requested range");
  }
  if (fetched.length !== plan.fetchLength) throw verificationFailed();
  const pacer = new Pacer(fetched.length);

  const seal = Seal.forReading(parsed, cek, options.integrityKey);
  try {
    verifyHeader(seal, parsed, context);
    if (length === 0) return Buffer.alloc(0);
    await verifySegments(seal, fetched, parsed, plan.firstSegment, plan.lastSegment, pacer);
  } finally {
    seal.dispose();
  }

  const firstBlock = Math.floor(offset / AES_BLOCK_SIZE);
  const lastBlock = Math.floor((offset + length - 1) / AES_BLOCK_SIZE);
  const start = firstBlock * AES_BLOCK_SIZE - plan.fetchOffset;
  const iv = firstBlock === 0 ? parsed.iv : fetched.subarray(start - AES_BLOCK_SIZE, start);
  const blocks = fetched.subarray(start, (lastBlock + 1) * AES_BLOCK_SIZE - plan.fetchOffset);
  const output = await decryptBlocks(cek, iv, blocks, pacer);
  const skip = offset - firstBlock * AES_BLOCK_SIZE;
  return output.subarray(skip, skip + length);
}

/** What re-sealing a blob's metadata needs: the CEK (version 1) or the integrity key (version 2). */
export interface ResealKeys {
  /** The blob's CEK, unwrapped: version 1 blobs are sealed under it. */
  cek?: Buffer | undefined;
  /** The integrity key that the blob's IntegrityKeyId names: version 2 blobs. */
  integrityKey?: IntegrityKey | undefined;
}

/**
 * Rewrap, metadata only: the same CEK under another KEK. Verifies the blob's header tag as it is,
 * then returns both metadata entries for `wrapped` (the same CEK, wrapped anew), re-sealed in the
 * blob's own version. The body is neither read nor changed: the segment tags stay valid (version 1:
 * K_mac comes from the same CEK and IV; version 2: from the integrity key and the IV).
 */
export function rewrapEnvelopeMetadata(
  parsed: ParsedEnvelope,
  context: EnvelopeContext,
  wrapped: DataKey["wrapped"],
  keys: ResealKeys,
  library: string = DEFAULT_ENCRYPTION_LIBRARY,
): Record<string, string> {
  checkContext(context);
  checkParsed(parsed);
  if (!WRAP_ALGORITHMS.includes(wrapped.algorithm) || wrapped.encryptedKey.length === 0) {
    throw new StorageError(
      "invalid-argument",
      "Expected a CEK wrapped with RSA-OAEP, RSA-OAEP-256 or A256KW",
    );
  }
  const seal = Seal.forReading(parsed, keys.cek, keys.integrityKey);
  try {
    verifyHeader(seal, parsed, context);
    const encryptionData = formatEncryptionData(wrapped, parsed.iv, library);
    const headerTag = computeHeaderTag(
      seal,
      encryptionData,
      context,
      parsed.plaintextLength,
      parsed,
      parsed.segmentTags,
    );
    return {
      [ENVELOPE_METADATA.encryptionData]: encryptionData,
      [ENVELOPE_METADATA.integrity]: formatIntegrity({
        version: seal.version,
        integrityKeyId: seal.integrityKeyId,
        segmentSize: parsed.segmentSize,
        plaintextLength: parsed.plaintextLength,
        segmentTags: parsed.segmentTags,
        headerTag,
      }),
    };
  } finally {
    seal.dispose();
  }
}

/**
 * The upgrade from envelope version 1 to version 2, metadata only: verifies the version 1 blob
 * completely (header tag, every segment tag, and the padding of its last block), computes the
 * version 2 tags under `integrityKey` in the same pass over the body, and returns the new
 * `oabsintegrity` entry. `encryptiondata` and the body stay exactly as they are.
 *
 * A version 1 tag proves only that the writer held the CEK (FORMAT.md, security considerations):
 * the upgrade vouches for the blob as it is now, so operators run it on blobs they trust (e.g.
 * last modified before a cutoff).
 */
export async function upgradeEnvelopeToV2(
  body: Buffer,
  parsed: ParsedEnvelope,
  cek: Buffer,
  context: EnvelopeContext,
  integrityKey: IntegrityKey,
): Promise<Record<string, string>> {
  checkContext(context);
  checkParsed(parsed);
  if (parsed.version !== 1) throw new StorageError("invalid-argument", "Only a version 1 blob is upgraded");
  if (body.length !== parsed.ciphertextLength) throw verificationFailed();
  const oldSeal = Seal.forReading(parsed, cek, undefined);
  const newSeal = Seal.forWriting(cek, parsed.iv, integrityKey);
  try {
    verifyHeader(oldSeal, parsed, context);
    const pacer = new Pacer(body.length * 2);
    await verifySegments(oldSeal, body, parsed, 0, parsed.segmentCount - 1, pacer);
    // The padding, from the last block alone (its IV is the block before it, or the blob IV).
    const lastBlockStart = body.length - AES_BLOCK_SIZE;
    const iv =
      lastBlockStart === 0 ? parsed.iv : body.subarray(lastBlockStart - AES_BLOCK_SIZE, lastBlockStart);
    const lastBlock = await decryptBlocks(cek, iv, body.subarray(lastBlockStart), pacer);
    const padLength = parsed.ciphertextLength - parsed.plaintextLength;
    let mismatch = 0;
    for (let i = AES_BLOCK_SIZE - padLength; i < AES_BLOCK_SIZE; i++)
      mismatch |= lastBlock.readUInt8(i) ^ padLength;
    lastBlock.fill(0);
    if (mismatch !== 0) throw verificationFailed();

    const segmentTags = await computeSegmentTags(newSeal, body, parsed, 0, parsed.segmentCount - 1, pacer);
    const headerTag = computeHeaderTag(
      newSeal,
      parsed.encryptionData,
      context,
      parsed.plaintextLength,
      parsed,
      segmentTags,
    );
    return {
      [ENVELOPE_METADATA.encryptionData]: parsed.encryptionData,
      [ENVELOPE_METADATA.integrity]: formatIntegrity({
        version: 2,
        integrityKeyId: integrityKey.id,
        segmentSize: parsed.segmentSize,
        plaintextLength: parsed.plaintextLength,
        segmentTags,
        headerTag,
      }),
    };
  } finally {
    oldSeal.dispose();
    newSeal.dispose();
  }
}
