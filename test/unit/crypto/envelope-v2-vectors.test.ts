/**
 * Known-answer vectors of envelope version 2 (test/vectors/envelope-v2.json), made once by an
 * independent implementation from FORMAT.md alone and never regenerated. Positive cases are
 * reproduced byte for byte; negative cases are read through the real AttachmentCodec (read
 * policy, integrity key lookup, header before unwrap, unwrap by the local key wrapper), so that
 * each one fails where the reading order says, and with the error it names.
 */
import { describe, expect, it } from "vitest";
import { AttachmentCodec, type KeyProvider } from "../../../src/attachments/attachment-codec.ts";
import type { DataKey } from "../../../src/crypto/data-key.ts";
import {
  decryptEnvelope,
  encryptEnvelope,
  parseEnvelope,
  rewrapEnvelopeMetadata,
  upgradeEnvelopeToV2,
} from "../../../src/crypto/envelope.ts";
import { type IntegrityKey, IntegrityKeyring, toIntegrityKey } from "../../../src/crypto/integrity-key.ts";
import type { WrapAlgorithm, WrappedKey } from "../../../src/crypto/key-wrapper.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import { StorageError } from "../../../src/errors.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { storageFailure } from "../../support/assertions.ts";
import {
  type KekFiles,
  type PlaintextSpec,
  plaintextOf as plaintextOfSpec,
  readVectorFile,
  sha256,
  testKeks,
  VERIFICATION_FAILED,
  vectorText,
} from "../../support/vectors.ts";

interface PositiveVector {
  name: string;
  cek: string;
  iv: string;
  uuid: string;
  contentType: number;
  library: string;
  plaintext: PlaintextSpec;
  wrappedKey: { keyId: string; algorithm: WrapAlgorithm; encryptedKeyB64: string };
  integrityKeyId: string;
  expected: {
    ciphertextLength: number;
    segmentSize: number;
    segmentCount: number;
    ciphertextSha256: string;
    ciphertextHex?: string;
    encryptiondata: string;
    oabsintegrity: string;
  };
  intermediate: { kMac: string; segmentTags: string; headerTag: string };
  upgradedFrom?: { encryptiondata: string; oabsintegrity: string };
}

interface NegativeVector {
  name: string;
  base: string;
  failsAtStep: number;
  why: string;
  metadata: { encryptiondata: string | null; oabsintegrity: string | null };
  ciphertextHex?: string;
  flipByteAt?: number;
  uuid?: string;
  contentType?: number;
  policy?: "strict";
  verifiesAsV1?: boolean;
  attacker?: { plaintextHex?: string };
  expected: { code: "integrity" | "key-access"; messageIncludes?: string };
}

interface VectorFile {
  keks: KekFiles;
  integrityKeys: Record<string, { file: string; hex: string; integrityKeyId: string }>;
  reader: { trustedKeks: string[]; integrityKeys: string[]; strictIntegrity: boolean };
  positive: PositiveVector[];
  negative: NegativeVector[];
}

const vectors = readVectorFile<VectorFile>("envelope-v2.json");
const { rsaPem: rsaKekPem, aes: aesKek } = testKeks(vectors.keks);
/** FORMAT.md's "key-access error" is StorageError("unavailable") here (Orthanc: StorageAreaPlugin). */
const CODES = { integrity: "integrity", "key-access": "unavailable" } as const;

/** A fresh copy of an integrity key from the vector file (keyrings zero what they hold). */
function integrityKey(name: string): IntegrityKey {
  const entry = vectors.integrityKeys[name];
  if (entry === undefined) throw new Error(`no integrity key ${name}`);
  const hex = vectorText(entry.file).trim();
  expect(hex).toBe(entry.hex);
  return toIntegrityKey(Buffer.from(hex, "hex"));
}

function integrityKeyById(id: string): IntegrityKey {
  const name = Object.keys(vectors.integrityKeys).find(
    (key) => vectors.integrityKeys[key]?.integrityKeyId === id,
  );
  if (name === undefined) throw new Error(`no integrity key with id ${id}`);
  return integrityKey(name);
}

function plaintextOf(vector: PositiveVector): Buffer {
  return plaintextOfSpec(vector.plaintext);
}

function wrappedOf(vector: PositiveVector): WrappedKey {
  return {
    keyId: vector.wrappedKey.keyId,
    algorithm: vector.wrappedKey.algorithm,
    encryptedKey: Buffer.from(vector.wrappedKey.encryptedKeyB64, "base64"),
  };
}

function dataKeyOf(vector: PositiveVector): DataKey {
  return { cek: Buffer.from(vector.cek, "hex"), wrapped: wrappedOf(vector) };
}

function contextOf(vector: { uuid: string; contentType: number }): { uuid: string; contentType: number } {
  return { uuid: vector.uuid, contentType: vector.contentType };
}

function metadataOf(vector: PositiveVector): Record<string, string> {
  return { encryptiondata: vector.expected.encryptiondata, oabsintegrity: vector.expected.oabsintegrity };
}

function positive(name: string): PositiveVector {
  const vector = vectors.positive.find((candidate) => candidate.name === name);
  if (vector === undefined) throw new Error(`no positive vector named ${name}`);
  return vector;
}

async function encrypted(vector: PositiveVector) {
  return encryptEnvelope(plaintextOf(vector), dataKeyOf(vector), contextOf(vector), {
    iv: Buffer.from(vector.iv, "hex"),
    library: vector.library,
    integrityKey: integrityKeyById(vector.integrityKeyId),
  });
}

async function bodyOf(vector: PositiveVector): Promise<Buffer> {
  if (vector.expected.ciphertextHex !== undefined) return Buffer.from(vector.expected.ciphertextHex, "hex");
  const { body } = await encrypted(vector);
  expect(sha256(body)).toBe(vector.expected.ciphertextSha256);
  return body;
}

/** The reader the vector file describes: both test KEKs trusted, both integrity keys held. */
function reader(options: { strict: boolean }): { codec: AttachmentCodec; unwraps: () => number } {
  const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsaKekPem, readOnlyKeys: [aesKek] });
  let unwraps = 0;
  const keys: KeyProvider = {
    acquireDataKey: () => Promise.reject(new StorageError("internal", "the vector reader does not write")),
    unwrap: (wrapped, options) => {
      unwraps++;
      return wrapper.unwrapKey(wrapped, options);
    },
  };
  const codec = new AttachmentCodec({
    encryptWrites: true,
    allowUnencryptedReads: false,
    keys,
    integrityKeys: new IntegrityKeyring(vectors.reader.integrityKeys.map(integrityKey)),
    strictIntegrity: options.strict,
  });
  return { codec, unwraps: () => unwraps };
}

/** The Version a blob's oabsintegrity claims (undefined when it has none, or not a number). */
function metadataVersion(metadata: Record<string, string>): number | undefined {
  try {
    const version = (JSON.parse(metadata.oabsintegrity ?? "null") as { Version?: unknown } | null)?.Version;
    return typeof version === "number" ? version : undefined;
  } catch {
    return undefined;
  }
}

async function readThroughCodec(
  codec: AttachmentCodec,
  body: Buffer,
  metadata: Record<string, string>,
  context: { uuid: string; contentType: number },
): Promise<Buffer> {
  const store = new MemoryBlobStore({ containerName: "vectors" });
  await store.create("blob", body, { metadata });
  return codec.decode(await store.read("blob"), context, "blob");
}

describe("envelope v2 known-answer vectors", () => {
  it("cover the required cases", () => {
    const lengths = vectors.positive.map((vector) => vector.plaintext.length);
    expect(lengths).toEqual(expect.arrayContaining([0, 1, 16, 17, 100_000]));
    expect(new Set(vectors.positive.map((vector) => vector.contentType))).toEqual(new Set([0, 1, 2, 3, 4]));
    const algorithms = vectors.positive.map((vector) => vector.wrappedKey.algorithm);
    expect(algorithms).toEqual(expect.arrayContaining(["RSA-OAEP", "RSA-OAEP-256", "A256KW"]));
    expect(new Set(vectors.positive.map((vector) => vector.integrityKeyId)).size).toBe(2);
    expect(vectors.reader.strictIntegrity).toBe(false);
  });

  it("name the integrity keys by the id that FORMAT.md computes from them", () => {
    for (const [name, entry] of Object.entries(vectors.integrityKeys)) {
      expect(integrityKey(name).id).toBe(entry.integrityKeyId);
    }
  });

  describe.each(vectors.positive.map((vector) => [vector.name, vector] as const))("%s", (_name, vector) => {
    it("encrypts with the fixed IV and integrity key to exactly the expected body and metadata", async () => {
      const blob = await encrypted(vector);
      expect(blob.body.length).toBe(vector.expected.ciphertextLength);
      expect(sha256(blob.body)).toBe(vector.expected.ciphertextSha256);
      expect(blob.metadata).toStrictEqual(metadataOf(vector));
    });

    it("reads back through the codec (whole and every range of 7 bytes), unwrapping once per read", async () => {
      const body = await bodyOf(vector);
      const { codec, unwraps } = reader({ strict: true });
      const plaintext = plaintextOf(vector);
      const whole = await readThroughCodec(codec, body, metadataOf(vector), contextOf(vector));
      expect(whole.equals(plaintext)).toBe(true);
      expect(unwraps()).toBe(1);
      const store = new MemoryBlobStore({ containerName: "vectors" });
      await store.create("blob", body, { metadata: metadataOf(vector) });
      const step = Math.max(7, Math.floor(plaintext.length / 5));
      for (let offset = 0; offset <= plaintext.length; offset += step) {
        const length = Math.min(7, plaintext.length - offset);
        const range = await codec.readRange(store, "blob", contextOf(vector), offset, length);
        expect(range.equals(plaintext.subarray(offset, offset + length))).toBe(true);
      }
    });

    it("parses as version 2 under its integrity key", async () => {
      const body = await bodyOf(vector);
      const parsed = parseEnvelope(metadataOf(vector), body.length);
      expect(parsed).toMatchObject({ version: 2, integrityKeyId: vector.integrityKeyId });
      expect(parsed.segmentTags.toString("hex")).toBe(vector.intermediate.segmentTags);
      expect(parsed.headerTag.toString("hex")).toBe(vector.intermediate.headerTag);
    });
  });

  it("re-seals a rewrap from the RSA KEK to the AES KEK by the header tag alone", () => {
    const rsa = positive("rewrapped-rsa");
    const aes = positive("rewrapped-aes");
    expect(rsa.cek).toBe(aes.cek);
    expect(rsa.intermediate.segmentTags).toBe(aes.intermediate.segmentTags);
    const parsed = parseEnvelope(metadataOf(rsa), rsa.expected.ciphertextLength);
    const resealed = rewrapEnvelopeMetadata(
      parsed,
      contextOf(rsa),
      wrappedOf(aes),
      {
        integrityKey: integrityKeyById(rsa.integrityKeyId),
      },
      aes.library,
    );
    expect(resealed).toStrictEqual(metadataOf(aes));
  });

  it("upgrades the version 1 blob to exactly the version 2 metadata, body unchanged", async () => {
    const vector = positive("v1-upgraded");
    const from = vector.upgradedFrom;
    if (from === undefined) throw new Error("v1-upgraded has no upgradedFrom");
    const body = await bodyOf(vector);
    const v1 = parseEnvelope(
      { encryptiondata: from.encryptiondata, oabsintegrity: from.oabsintegrity },
      body.length,
    );
    expect(v1.version).toBe(1);
    const upgraded = await upgradeEnvelopeToV2(
      body,
      v1,
      Buffer.from(vector.cek, "hex"),
      contextOf(vector),
      integrityKeyById(vector.integrityKeyId),
    );
    expect(upgraded).toStrictEqual(metadataOf(vector));
  });

  it("refuses to upgrade a version 1 blob whose body was changed", async () => {
    const vector = positive("v1-upgraded");
    const from = vector.upgradedFrom;
    if (from === undefined) throw new Error("v1-upgraded has no upgradedFrom");
    const body = Buffer.from(await bodyOf(vector));
    body[3] = (body[3] ?? 0) ^ 1;
    const v1 = parseEnvelope(
      { encryptiondata: from.encryptiondata, oabsintegrity: from.oabsintegrity },
      body.length,
    );
    const error = await storageFailure(
      upgradeEnvelopeToV2(body, v1, Buffer.from(vector.cek, "hex"), contextOf(vector), integrityKey("key1")),
    );
    expect(error.message).toBe(VERIFICATION_FAILED);
  });
});

describe("envelope v2 negative vectors", () => {
  it("cover every step of the reading order, and the three attacks", () => {
    const steps = new Set(vectors.negative.map((vector) => vector.failsAtStep));
    expect([...steps].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const names = vectors.negative.map((vector) => vector.name);
    expect(names).toEqual(
      expect.arrayContaining(["forgery-public-key", "forgery-leaked-cek", "downgrade-to-v1"]),
    );
  });

  describe.each(vectors.negative.map((vector) => [vector.name, vector] as const))("%s", (_name, vector) => {
    async function tampered() {
      const base = positive(vector.base);
      let body =
        vector.ciphertextHex === undefined ? await bodyOf(base) : Buffer.from(vector.ciphertextHex, "hex");
      if (vector.flipByteAt !== undefined) {
        body = Buffer.from(body);
        body[vector.flipByteAt] = (body[vector.flipByteAt] ?? 0) ^ 0x01;
      }
      const metadata: Record<string, string> = {};
      if (vector.metadata.encryptiondata !== null) metadata.encryptiondata = vector.metadata.encryptiondata;
      if (vector.metadata.oabsintegrity !== null) metadata.oabsintegrity = vector.metadata.oabsintegrity;
      const context = { uuid: vector.uuid ?? base.uuid, contentType: vector.contentType ?? base.contentType };
      return { body, metadata, context };
    }

    it(`is refused by the reader (${vector.expected.code})`, async () => {
      const { body, metadata, context } = await tampered();
      const { codec } = reader({ strict: vector.policy === "strict" });
      const error = await storageFailure(readThroughCodec(codec, body, metadata, context));
      expect(error.code).toBe(CODES[vector.expected.code]);
      if (vector.expected.messageIncludes !== undefined) {
        expect(error.message).toContain(vector.expected.messageIncludes);
      }
    });

    it(`fails at step ${vector.failsAtStep}, and nothing is unwrapped before the header tag verifies`, async () => {
      const { body, metadata, context } = await tampered();
      const { codec, unwraps } = reader({ strict: vector.policy === "strict" });
      const error = await storageFailure(readThroughCodec(codec, body, metadata, context));
      if (vector.failsAtStep <= 4 && vector.policy === undefined) {
        expect(() => parseEnvelope(metadata, body.length)).toThrow(StorageError);
      }
      if (vector.failsAtStep >= 6 && vector.failsAtStep !== 8)
        expect(error.message).toContain(VERIFICATION_FAILED);
      // Version 2 (FORMAT.md): the header tag (step 6) is verified before the unwrap (step 8);
      // the segment tags (step 7) before any decryption, on either side of the unwrap. A blob
      // whose metadata says version 1 follows version 1's order, which unwraps first (its MAC
      // key comes from the CEK).
      const unwrapAllowed =
        metadataVersion(metadata) === 1 ? vector.failsAtStep >= 5 : vector.failsAtStep >= 7;
      if (unwrapAllowed) expect(unwraps()).toBeLessThanOrEqual(1);
      else expect(unwraps()).toBe(0);
      if (vector.failsAtStep >= 8) expect(unwraps()).toBe(1);
    });

    if (vector.verifiesAsV1 === true) {
      it("verifies as version 1 for a reader without StrictIntegrity (only the policy stops it)", async () => {
        const { body, metadata, context } = await tampered();
        const { codec } = reader({ strict: false });
        const plaintext = await readThroughCodec(codec, body, metadata, context);
        const expected =
          vector.attacker?.plaintextHex === undefined
            ? plaintextOf(positive(vector.base))
            : Buffer.from(vector.attacker.plaintextHex, "hex");
        expect(plaintext.equals(expected)).toBe(true);
      });
    }
  });
});

describe("envelope v2 without the integrity key", () => {
  it("cannot be verified under a CEK alone, nor under the other integrity key", async () => {
    const vector = positive("seventeen-bytes-type0-a256kw");
    const body = await bodyOf(vector);
    const parsed = parseEnvelope(metadataOf(vector), body.length);
    const cek = Buffer.from(vector.cek, "hex");
    expect((await storageFailure(decryptEnvelope(body, parsed, cek, contextOf(vector)))).message).toBe(
      VERIFICATION_FAILED,
    );
    const other = integrityKey(vector.integrityKeyId === integrityKey("key1").id ? "key2" : "key1");
    const error = await storageFailure(
      decryptEnvelope(body, parsed, cek, contextOf(vector), { integrityKey: other }),
    );
    expect(error.message).toBe(VERIFICATION_FAILED);
  });
});
