/**
 * Known-answer vectors for envelope version 1 (test/vectors/envelope-v1.json, generated once
 * by an independent implementation; see test/vectors/README.md). A change that breaks one of
 * these tests breaks compatibility with blobs already stored: fix the code, not the vectors.
 */
import { spawnSync } from "node:child_process";
import { constants, createDecipheriv, createPublicKey, privateDecrypt } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { DataKey } from "../../../src/crypto/data-key.ts";
import {
  decryptEnvelope,
  decryptEnvelopeRange,
  detectBlobFormat,
  ENVELOPE_METADATA,
  encryptEnvelope,
  parseEnvelope,
  planRange,
} from "../../../src/crypto/envelope.ts";
import { NEWEST_ENVELOPE_VERSION } from "../../../src/crypto/envelope-metadata.ts";
import type { WrapAlgorithm } from "../../../src/crypto/key-wrapper.ts";
import { StorageError } from "../../../src/errors.ts";
import { storageFailure } from "../../support/assertions.ts";
import {
  type KekFiles,
  type PlaintextSpec,
  plaintextOf as plaintextOfSpec,
  readVectorFile,
  sha256,
  testKeks,
  VERIFICATION_FAILED,
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
  expected: {
    ciphertextLength: number;
    segmentSize: number;
    segmentCount: number;
    ciphertextSha256: string;
    ciphertextHex?: string;
    encryptiondata: string;
    oabsintegrity: string;
  };
}

interface NegativeVector {
  name: string;
  base: string;
  failsAtStep: number;
  why: string;
  metadata: { encryptiondata: string | null; oabsintegrity: string | null };
  uuid?: string;
  contentType?: number;
  ciphertextHex?: string;
  flipByteAt?: number;
  expected: { code: "integrity"; messageIncludes?: string };
}

interface VectorFile {
  keks: KekFiles;
  positive: PositiveVector[];
  negative: NegativeVector[];
}

const vectors = readVectorFile<VectorFile>("envelope-v1.json");
const { rsaPem: rsaKekPem, aes: aesKek } = testKeks(vectors.keks);

function plaintextOf(vector: PositiveVector): Buffer {
  return plaintextOfSpec(vector.plaintext);
}

function dataKeyOf(vector: PositiveVector): DataKey {
  return {
    cek: Buffer.from(vector.cek, "hex"),
    wrapped: {
      keyId: vector.wrappedKey.keyId,
      algorithm: vector.wrappedKey.algorithm,
      encryptedKey: Buffer.from(vector.wrappedKey.encryptedKeyB64, "base64"),
    },
  };
}

function contextOf(vector: PositiveVector): { uuid: string; contentType: number } {
  return { uuid: vector.uuid, contentType: vector.contentType };
}

function vectorMetadata(vector: PositiveVector): Record<string, string> {
  return { encryptiondata: vector.expected.encryptiondata, oabsintegrity: vector.expected.oabsintegrity };
}

/** The expected body: the full hex when the vector has it, else the re-encrypted body checked by hash. */
async function bodyOf(vector: PositiveVector): Promise<Buffer> {
  if (vector.expected.ciphertextHex !== undefined) return Buffer.from(vector.expected.ciphertextHex, "hex");
  const { body } = await encryptEnvelope(plaintextOf(vector), dataKeyOf(vector), contextOf(vector), {
    iv: Buffer.from(vector.iv, "hex"),
    library: vector.library,
  });
  expect(sha256(body)).toBe(vector.expected.ciphertextSha256);
  return body;
}

function unwrapWithTestKek(vector: PositiveVector): Buffer {
  const encryptedKey = Buffer.from(vector.wrappedKey.encryptedKeyB64, "base64");
  switch (vector.wrappedKey.algorithm) {
    case "RSA-OAEP":
    case "RSA-OAEP-256":
      return privateDecrypt(
        {
          key: rsaKekPem,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: vector.wrappedKey.algorithm === "RSA-OAEP" ? "sha1" : "sha256",
        },
        encryptedKey,
      );
    case "A256KW": {
      const decipher = createDecipheriv("id-aes256-wrap", aesKek, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
      return Buffer.concat([decipher.update(encryptedKey), decipher.final()]);
    }
  }
}

function positive(name: string): PositiveVector {
  const vector = vectors.positive.find((candidate) => candidate.name === name);
  if (vector === undefined) throw new Error(`no positive vector named ${name}`);
  return vector;
}

describe("envelope v1 known-answer vectors", () => {
  it("cover the required cases", () => {
    const lengths = vectors.positive.map((vector) => vector.plaintext.length);
    expect(lengths).toEqual(expect.arrayContaining([0, 1, 16, 17, 100_000]));
    const contentTypes = vectors.positive.map((vector) => vector.contentType);
    expect(contentTypes).toEqual(expect.arrayContaining([0, 1, 2, 3]));
    const algorithms = vectors.positive.map((vector) => vector.wrappedKey.algorithm);
    expect(algorithms).toEqual(expect.arrayContaining(["RSA-OAEP", "RSA-OAEP-256", "A256KW"]));
    expect(vectors.positive.some((vector) => vector.expected.segmentCount > 1)).toBe(true);
  });

  it("name the local test KEKs by their FORMAT.md fingerprints", () => {
    const spki = createPublicKey(rsaKekPem).export({ type: "spki", format: "der" });
    expect(vectors.keks.rsa.keyId).toBe(`local:rsa:${sha256(spki).slice(0, 32)}`);
    expect(aesKek.length).toBe(32);
    expect(vectors.keks.aes.keyId).toBe(`local:aes:${sha256(aesKek).slice(0, 32)}`);
  });

  describe.each(vectors.positive.map((vector) => [vector.name, vector] as const))("%s", (_name, vector) => {
    it("encrypts with the fixed IV to exactly the expected body and metadata", async () => {
      const encrypted = await encryptEnvelope(plaintextOf(vector), dataKeyOf(vector), contextOf(vector), {
        iv: Buffer.from(vector.iv, "hex"),
        library: vector.library,
      });
      expect(encrypted.body.length).toBe(vector.expected.ciphertextLength);
      expect(sha256(encrypted.body)).toBe(vector.expected.ciphertextSha256);
      if (vector.expected.ciphertextHex !== undefined) {
        expect(encrypted.body.toString("hex")).toBe(vector.expected.ciphertextHex);
      }
      expect(encrypted.metadata).toStrictEqual(vectorMetadata(vector));
    });

    it("parses the metadata and decrypts to the plaintext", async () => {
      const body = await bodyOf(vector);
      const metadata = vectorMetadata(vector);
      expect(detectBlobFormat(metadata)).toEqual({ kind: "envelope" });
      const parsed = parseEnvelope(metadata, body.length);
      expect(parsed).toMatchObject({
        plaintextLength: vector.plaintext.length,
        ciphertextLength: vector.expected.ciphertextLength,
        segmentSize: vector.expected.segmentSize,
        segmentCount: vector.expected.segmentCount,
        encryptionData: vector.expected.encryptiondata,
      });
      expect(parsed.iv.toString("hex")).toBe(vector.iv);
      expect(parsed.wrapped).toStrictEqual(dataKeyOf(vector).wrapped);
      const plaintext = await decryptEnvelope(
        body,
        parsed,
        Buffer.from(vector.cek, "hex"),
        contextOf(vector),
      );
      expect(plaintext.equals(plaintextOf(vector))).toBe(true);
    });

    it("has a wrapped key that unwraps to the CEK with the test KEK", () => {
      expect(unwrapWithTestKek(vector).toString("hex")).toBe(vector.cek);
      if (!vector.wrappedKey.keyId.startsWith("https://")) {
        const kek = vector.wrappedKey.algorithm === "A256KW" ? vectors.keks.aes : vectors.keks.rsa;
        expect(vector.wrappedKey.keyId).toBe(kek.keyId);
      }
    });
  });

  it("gives different MAC keys to blobs that share a CEK", () => {
    const a = positive("one-byte");
    const b = positive("sixteen-bytes-shared-cek");
    expect(a.cek).toBe(b.cek);
    expect(a.iv).not.toBe(b.iv);
  });

  it("produces a body that the openssl CLI decrypts with the CEK and IV (Microsoft CSE v1 body)", async () => {
    for (const name of ["empty", "seventeen-bytes-type0-a256kw", "100000-bytes-two-segments"]) {
      const vector = positive(name);
      const body = await bodyOf(vector);
      const result = spawnSync("openssl", ["enc", "-d", "-aes-256-cbc", "-K", vector.cek, "-iv", vector.iv], {
        input: body,
      });
      expect(result.error).toBeUndefined();
      expect(result.status, result.stderr?.toString()).toBe(0);
      expect(Buffer.from(result.stdout).equals(plaintextOf(vector))).toBe(true);
    }
  });
});

/**
 * "Written by a newer plugin (format version N); upgrade" is what a reader says for a version it
 * does not know. The v1 vectors were written when only version 1 existed, so their "version-2"
 * case asks a v1-only reader for an upgrade. This reader knows version 2: that metadata (Version 2
 * without an IntegrityKeyId) must still fail at step 2 with an integrity error, which the test
 * checks, but as malformed version 2 metadata rather than with the upgrade message.
 */
function messageForThisReader(messageIncludes: string | undefined): string | undefined {
  const version = /format version (\d+)\); upgrade/.exec(messageIncludes ?? "")?.[1];
  if (version !== undefined && Number(version) <= NEWEST_ENVELOPE_VERSION) {
    return "oabsintegrity.IntegrityKeyId";
  }
  return messageIncludes;
}

describe("envelope v1 negative vectors", () => {
  it("cover every step of the reading order", () => {
    const steps = new Set(vectors.negative.map((vector) => vector.failsAtStep));
    expect([...steps].sort()).toEqual([1, 2, 3, 4, 6, 7, 8]);
    expect(vectors.negative.some((vector) => vector.expected.messageIncludes?.includes("upgrade"))).toBe(
      true,
    );
  });

  describe.each(vectors.negative.map((vector) => [vector.name, vector] as const))("%s", (_name, vector) => {
    async function tampered(): Promise<{
      body: Buffer;
      metadata: Record<string, string>;
      context: { uuid: string; contentType: number };
      cek: Buffer;
    }> {
      const base = positive(vector.base);
      let body =
        vector.ciphertextHex === undefined ? await bodyOf(base) : Buffer.from(vector.ciphertextHex, "hex");
      if (vector.flipByteAt !== undefined) {
        body = Buffer.from(body);
        body[vector.flipByteAt] = (body[vector.flipByteAt] ?? 0) ^ 0x01;
      }
      const metadata: Record<string, string> = {};
      if (vector.metadata.encryptiondata !== null) {
        metadata[ENVELOPE_METADATA.encryptionData] = vector.metadata.encryptiondata;
      }
      if (vector.metadata.oabsintegrity !== null) {
        metadata[ENVELOPE_METADATA.integrity] = vector.metadata.oabsintegrity;
      }
      const context = { uuid: vector.uuid ?? base.uuid, contentType: vector.contentType ?? base.contentType };
      return { body, metadata, context, cek: Buffer.from(base.cek, "hex") };
    }

    it(`fails with an integrity error (${vector.why})`, async () => {
      const { body, metadata, context, cek } = await tampered();
      const read = async (): Promise<Buffer> => {
        const parsed = parseEnvelope(metadata, body.length);
        return decryptEnvelope(body, parsed, cek, context);
      };
      const error = await storageFailure(read());
      expect(error.code).toBe(vector.expected.code);
      const expectedMessage = messageForThisReader(vector.expected.messageIncludes);
      if (expectedMessage !== undefined) expect(error.message).toContain(expectedMessage);
      if (vector.failsAtStep === 1) {
        expect(() => detectBlobFormat(metadata)).toThrow(StorageError);
      }
    });

    it(`fails at step ${vector.failsAtStep} of the reading order`, async () => {
      const { body, metadata, context, cek } = await tampered();
      if (vector.failsAtStep <= 4) {
        expect(() => parseEnvelope(metadata, body.length)).toThrow(StorageError);
        return;
      }
      // Steps 6-8: the metadata parses; verification fails with the one message.
      const parsed = parseEnvelope(metadata, body.length);
      const whole = await storageFailure(decryptEnvelope(body, parsed, cek, context));
      expect(whole.message).toBe(VERIFICATION_FAILED);
      if (vector.failsAtStep < 8) {
        // A range read of everything fails the same way (padding is not checked by range reads).
        const plan = planRange(parsed, 0, parsed.plaintextLength);
        const fetched = body.subarray(plan.fetchOffset, plan.fetchOffset + plan.fetchLength);
        const ranged = await storageFailure(
          decryptEnvelopeRange(fetched, plan, parsed, cek, context, 0, parsed.plaintextLength),
        );
        expect(ranged.message).toBe(VERIFICATION_FAILED);
      }
    });
  });
});
