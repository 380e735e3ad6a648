/**
 * Property-based tests (fast-check) of the metadata parsers and the envelope reader, with random
 * and mutated input. The invariant (FORMAT.md): every input either verifies to the original bytes
 * or fails with one integrity error, and never throws anything else.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AttachmentCodec, type KeyProvider } from "../../../src/attachments/attachment-codec.ts";
import {
  decryptEnvelope,
  detectBlobFormat,
  encryptEnvelope,
  parseEnvelope,
} from "../../../src/crypto/envelope.ts";
import { IntegrityKeyring, toIntegrityKey } from "../../../src/crypto/integrity-key.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import { StorageError } from "../../../src/errors.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";

const UUID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
const kek = randomBytes(32);
const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: kek });
const integrityBytes = randomBytes(32);
const RUNS = { numRuns: 150 };

function integrityKey() {
  return toIntegrityKey(Buffer.from(integrityBytes));
}

/** Passes when `run` returns `expected`, or throws StorageError("integrity"); anything else fails. */
async function verifiesOrIntegrityError(run: () => Promise<Buffer>, expected: Buffer): Promise<void> {
  let result: Buffer;
  try {
    result = await run();
  } catch (error) {
    if (error instanceof StorageError && error.code === "integrity") return;
    throw new Error(`expected the original bytes or one integrity error but received ${String(error)}`);
  }
  expect(result.equals(expected)).toBe(true);
}

/** A mutation of a blob: of its body or of one metadata value, as an attacker with write access could make. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("truncate" as const), by: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
  fc.record({
    kind: fc.constant("metadata-char" as const),
    entry: fc.constantFrom("encryptiondata", "oabsintegrity"),
    at: fc.nat(),
    char: fc.string({ minLength: 1, maxLength: 1 }),
  }),
  fc.record({
    kind: fc.constant("metadata-splice" as const),
    entry: fc.constantFrom("encryptiondata", "oabsintegrity"),
    at: fc.nat(),
    deleted: fc.integer({ min: 0, max: 12 }),
    inserted: fc.string({ maxLength: 12 }),
  }),
  fc.record({
    kind: fc.constant("drop" as const),
    entry: fc.constantFrom("encryptiondata", "oabsintegrity"),
  }),
  // Structured: a well-formed change that decrypts to other bytes unless the header tag is checked.
  fc.record({ kind: fc.constant("iv" as const), iv: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
  fc.record({
    kind: fc.constant("context" as const),
    uuid: fc.uuid({ version: 4 }),
    contentTypeDelta: fc.integer({ min: 0, max: 3 }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

interface Tampered {
  body: Buffer;
  metadata: Record<string, string>;
  context: { uuid: string; contentType: number };
}

function mutate(
  body: Buffer,
  metadata: Record<string, string>,
  context: { uuid: string; contentType: number },
  change: Mutation,
): Tampered {
  const next = { ...metadata };
  const same = (tampered: { body: Buffer; metadata: Record<string, string> }): Tampered => ({
    ...tampered,
    context,
  });
  switch (change.kind) {
    case "iv": {
      const data = JSON.parse(next.encryptiondata ?? "{}") as Record<string, unknown>;
      data.ContentEncryptionIV = Buffer.from(change.iv).toString("base64");
      next.encryptiondata = JSON.stringify(data);
      return same({ body, metadata: next });
    }
    case "context":
      return {
        body,
        metadata: next,
        context: {
          uuid: change.uuid,
          contentType: (context.contentType + change.contentTypeDelta) % 2 ** 32,
        },
      };
    case "flip": {
      const copy = Buffer.from(body);
      const at = change.at % copy.length;
      copy[at] = (copy[at] ?? 0) ^ (1 << change.bit);
      return same({ body: copy, metadata: next });
    }
    case "truncate":
      return same({ body: body.subarray(0, Math.max(0, body.length - change.by)), metadata: next });
    case "extend":
      return same({ body: Buffer.concat([body, Buffer.from(change.bytes)]), metadata: next });
    case "metadata-char": {
      const value = next[change.entry] ?? "";
      const at = change.at % Math.max(1, value.length);
      next[change.entry] = value.slice(0, at) + change.char + value.slice(at + 1);
      return same({ body, metadata: next });
    }
    case "metadata-splice": {
      const value = next[change.entry] ?? "";
      const at = change.at % Math.max(1, value.length);
      next[change.entry] = value.slice(0, at) + change.inserted + value.slice(at + change.deleted);
      return same({ body, metadata: next });
    }
    case "drop":
      delete next[change.entry];
      return same({ body, metadata: next });
  }
}

function sameContext(
  a: { uuid: string; contentType: number },
  b: { uuid: string; contentType: number },
): boolean {
  return a.uuid === b.uuid && a.contentType === b.contentType;
}

const plaintexts = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.integer({ min: 65_000, max: 140_000 }).map((length) => new Uint8Array(randomBytes(length))),
);
const contentTypes = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const versions = fc.constantFrom(1 as const, 2 as const);

describe("envelope reader, fuzzed (fast-check)", () => {
  it("reads every mutated blob back to the original bytes or refuses it with one integrity error", async () => {
    await fc.assert(
      fc.asyncProperty(
        plaintexts,
        contentTypes,
        versions,
        mutation,
        async (bytes, contentType, version, change) => {
          const plaintext = Buffer.from(bytes);
          const context = { uuid: UUID, contentType };
          const cek = randomBytes(32);
          const sealing = version === 2 ? { integrityKey: integrityKey() } : {};
          const blob = await encryptEnvelope(
            plaintext,
            { cek, wrapped: await wrapper.wrapKey(cek) },
            context,
            sealing,
          );
          const tampered = mutate(blob.body, blob.metadata, context, change);
          const read = async (): Promise<Buffer> => {
            const parsed = parseEnvelope(tampered.metadata, tampered.body.length);
            return decryptEnvelope(tampered.body, parsed, cek, tampered.context, {
              integrityKey: integrityKey(),
            });
          };
          if (!sameContext(tampered.context, context)) {
            // The blob is bound to its attachment: read as another one, it is always refused.
            const error = await read().then(
              () => undefined,
              (failure: unknown) => failure,
            );
            expect(error).toBeInstanceOf(StorageError);
            expect((error as StorageError).code).toBe("integrity");
            return;
          }
          await verifiesOrIntegrityError(async () => {
            const parsed = parseEnvelope(tampered.metadata, tampered.body.length);
            return decryptEnvelope(tampered.body, parsed, cek, tampered.context, {
              integrityKey: integrityKey(),
            });
          }, plaintext);
        },
      ),
      RUNS,
    );
  });

  it("through the codec with StrictIntegrity, a mutated version 2 blob reads back or is refused as corrupt, whole and in ranges", async () => {
    await fc.assert(
      fc.asyncProperty(
        plaintexts,
        contentTypes,
        mutation,
        fc.nat(),
        async (bytes, contentType, change, seed) => {
          const plaintext = Buffer.from(bytes);
          const context = { uuid: UUID, contentType };
          let unwraps = 0;
          const keys: KeyProvider = {
            acquireDataKey: async () => {
              const cek = randomBytes(32);
              return { cek, wrapped: await wrapper.wrapKey(cek) };
            },
            unwrap: (wrapped) => {
              unwraps++;
              return wrapper.unwrapKey(wrapped);
            },
          };
          const codec = new AttachmentCodec({
            encryptWrites: true,
            allowUnencryptedReads: false,
            keys,
            integrityKeys: new IntegrityKeyring([integrityKey()]),
            strictIntegrity: true,
          });
          const encoded = await codec.encode(Buffer.from(plaintext), context);
          const tampered = mutate(encoded.body, encoded.metadata, context, change);
          const store = new MemoryBlobStore({ containerName: "fuzz" });
          await store.create("blob", tampered.body, { metadata: tampered.metadata });
          await verifiesOrIntegrityError(async () => {
            const read = await codec.decode(await store.read("blob"), tampered.context, "blob");
            return read;
          }, plaintext);
          // Ranges: the same invariant for the bytes of that range.
          const offset = plaintext.length === 0 ? 0 : seed % plaintext.length;
          const length = Math.min(plaintext.length - offset, 1 + (seed % 40_000));
          await verifiesOrIntegrityError(
            () => codec.readRange(store, "blob", tampered.context, offset, length),
            plaintext.subarray(offset, offset + length),
          );
          // At most one unwrap per read (none when the header tag fails first).
          expect(unwraps).toBeLessThanOrEqual(2);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("parses any metadata to an envelope or to one integrity error, never anything else", () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc
        .record({
          Version: fc.oneof(fc.integer({ min: -2, max: 4 }), fc.string(), fc.double()),
          IntegrityKeyId: fc.oneof(fc.string(), fc.stringMatching(/^ik-[0-9a-fA-F]{0,40}$/)),
          SegmentSize: fc.oneof(fc.integer(), fc.constant(65_536)),
          PlaintextLength: fc.integer(),
          SegmentTags: fc.base64String(),
          HeaderTag: fc.base64String(),
        })
        .map((value) => JSON.stringify(value)),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("encryptiondata", "oabsintegrity", "EncryptionData", "other"), jsonish),
        fc.integer({ min: -1, max: 2 ** 40 }),
        (metadata, length) => {
          for (const parse of [
            () => detectBlobFormat(metadata),
            () => parseEnvelope(metadata, Math.max(0, length)),
          ]) {
            try {
              parse();
            } catch (error) {
              expect(error).toBeInstanceOf(StorageError);
              expect((error as StorageError).code).toBe("integrity");
            }
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
