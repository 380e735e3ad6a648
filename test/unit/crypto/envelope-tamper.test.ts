/**
 * Tamper matrix for envelope version 1: every modification of a stored blob (body or
 * metadata), and every attempt to read it as another attachment, ends in
 * StorageError("integrity") and never returns bytes, for whole reads and for range reads.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { DataKey } from "../../../src/crypto/data-key.ts";
import {
  decryptEnvelope,
  decryptEnvelopeRange,
  detectBlobFormat,
  type EnvelopeContext,
  encryptEnvelope,
  parseEnvelope,
  planRange,
} from "../../../src/crypto/envelope.ts";
import { StorageError } from "../../../src/errors.ts";
import { storageFailure } from "../../support/assertions.ts";

const SEGMENT = 65_536;
/** 150 000 bytes: Lc = 150 016, three segments (64 KiB, 64 KiB and 18 944 bytes). */
const PLAINTEXT = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 7 + 3) % 256));
const CONTEXT: EnvelopeContext = { uuid: "0a1b2c3d-4e5f-6789-abcd-ef0123456789", contentType: 1 };
const OTHER_UUID = "ffeeddcc-bbaa-4998-8776-655443322110";
const VERIFICATION_FAILED = "encrypted blob failed verification";

interface Blob {
  body: Buffer;
  metadata: Record<string, string>;
}

const dataKey: DataKey = {
  cek: randomBytes(32),
  wrapped: {
    keyId: "local:rsa:00112233445566778899aabbccddeeff",
    algorithm: "RSA-OAEP-256",
    encryptedKey: randomBytes(256),
  },
};

let original: Blob;

beforeAll(async () => {
  original = await encryptEnvelope(PLAINTEXT, dataKey, CONTEXT);
  expect(JSON.parse(original.metadata.oabsintegrity ?? "")).toMatchObject({ SegmentSize: SEGMENT });
  expect(Math.ceil(original.body.length / SEGMENT)).toBe(3);
});

async function readWhole(blob: Blob, context: EnvelopeContext = CONTEXT): Promise<Buffer> {
  const parsed = parseEnvelope(blob.metadata, blob.body.length);
  return decryptEnvelope(blob.body, parsed, dataKey.cek, context);
}

async function readRange(
  blob: Blob,
  offset: number,
  length: number,
  context: EnvelopeContext = CONTEXT,
): Promise<Buffer> {
  const parsed = parseEnvelope(blob.metadata, blob.body.length);
  const plan = planRange(parsed, offset, length);
  const fetched = blob.body.subarray(plan.fetchOffset, plan.fetchOffset + plan.fetchLength);
  return decryptEnvelopeRange(fetched, plan, parsed, dataKey.cek, context, offset, length);
}

/** Runs a read that must fail with an integrity error (the async wrapper turns throws into rejections). */
async function integrityFailure(read: () => Promise<Buffer>): Promise<StorageError> {
  const error = await storageFailure((async () => read())());
  expect(error.code).toBe("integrity");
  return error;
}

function flip(body: Buffer, at: number): Buffer {
  const copy = Buffer.from(body);
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

function json(value: string | undefined): Record<string, unknown> {
  return JSON.parse(value ?? "") as Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** The blob with `encryptiondata` re-serialised after `edit`. */
function editEncryptionData(
  edit: (data: Json & { WrappedContentKey: Json; EncryptionAgent: Json }) => void,
): Blob {
  const data = json(original.metadata.encryptiondata) as Json & {
    WrappedContentKey: Json;
    EncryptionAgent: Json;
  };
  edit(data);
  return { body: original.body, metadata: { ...original.metadata, encryptiondata: JSON.stringify(data) } };
}

/** The blob with `oabsintegrity` re-serialised after `edit`. */
function editIntegrity(edit: (data: Json) => void, body: Buffer = original.body): Blob {
  const data = json(original.metadata.oabsintegrity);
  edit(data);
  return { body, metadata: { ...original.metadata, oabsintegrity: JSON.stringify(data) } };
}

function b64(value: unknown): Buffer {
  return Buffer.from(String(value), "base64");
}

function flippedB64(value: unknown, at = 0): string {
  return flip(b64(value), at).toString("base64");
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The same bytes, in a non-canonical encoding: sets an unused bit of the last character. */
function withPaddingBits(value: string): string {
  const at = value.indexOf("=") - 1;
  const digit = BASE64_ALPHABET.indexOf(value.charAt(at));
  const encoded = `${value.slice(0, at)}${BASE64_ALPHABET.charAt(digit ^ 1)}${value.slice(at + 1)}`;
  expect(Buffer.from(encoded, "base64").equals(Buffer.from(value, "base64"))).toBe(true);
  return encoded;
}

function tags(): Buffer {
  return b64(json(original.metadata.oabsintegrity).SegmentTags);
}

/** Ranges: in each segment, across the two boundaries, and the whole attachment. */
const ALL_RANGES: Array<[number, number]> = [
  [0, 100],
  [SEGMENT + 100, 100],
  [2 * SEGMENT + 100, 100],
  [SEGMENT - 8, 16],
  [2 * SEGMENT, 16],
  [PLAINTEXT.length - 1, 1],
  [0, PLAINTEXT.length],
];
/** Ranges whose fetched segments include segment 0 or 1 (block b0 - 1 counts). */
const RANGES_USING_SEGMENT_0_OR_1: Array<[number, number]> = [
  [0, 100],
  [SEGMENT + 100, 100],
  [SEGMENT - 8, 16],
  [2 * SEGMENT, 16],
  [0, PLAINTEXT.length],
];
/** Ranges whose fetched segments include segment 1. */
const RANGES_USING_SEGMENT_1 = RANGES_USING_SEGMENT_0_OR_1.slice(1);

/** Metadata-level and body-level tampering: each case fails for whole reads and for every range. */
const cases: Array<[string, () => Blob, Array<[number, number]>]> = [
  [
    "IV changed",
    () =>
      editEncryptionData((d) => Object.assign(d, { ContentEncryptionIV: flippedB64(d.ContentEncryptionIV) })),
    ALL_RANGES,
  ],
  [
    "KeyId changed",
    () =>
      editEncryptionData((d) =>
        Object.assign(d.WrappedContentKey, { KeyId: "local:rsa:ffffffffffffffffffffffffffffffff" }),
      ),
    ALL_RANGES,
  ],
  [
    "EncryptedKey changed",
    () =>
      editEncryptionData((d) =>
        Object.assign(d.WrappedContentKey, { EncryptedKey: flippedB64(d.WrappedContentKey.EncryptedKey, 7) }),
      ),
    ALL_RANGES,
  ],
  [
    "Algorithm changed to RSA-OAEP",
    () => editEncryptionData((d) => Object.assign(d.WrappedContentKey, { Algorithm: "RSA-OAEP" })),
    ALL_RANGES,
  ],
  [
    "Algorithm changed to A256KW",
    () => editEncryptionData((d) => Object.assign(d.WrappedContentKey, { Algorithm: "A256KW" })),
    ALL_RANGES,
  ],
  [
    "Algorithm changed to RSA1_5",
    () => editEncryptionData((d) => Object.assign(d.WrappedContentKey, { Algorithm: "RSA1_5" })),
    ALL_RANGES,
  ],
  [
    "Protocol changed",
    () => editEncryptionData((d) => Object.assign(d.EncryptionAgent, { Protocol: "2.0" })),
    ALL_RANGES,
  ],
  [
    "EncryptionAlgorithm changed",
    () => editEncryptionData((d) => Object.assign(d.EncryptionAgent, { EncryptionAlgorithm: "AES_GCM_256" })),
    ALL_RANGES,
  ],
  [
    "EncryptionMode changed",
    () => editEncryptionData((d) => Object.assign(d, { EncryptionMode: "Partial" })),
    ALL_RANGES,
  ],
  [
    "KeyWrappingMetadata changed",
    () =>
      editEncryptionData((d) =>
        Object.assign(d, { KeyWrappingMetadata: { EncryptionLibrary: "Other 1.0" } }),
      ),
    ALL_RANGES,
  ],
  [
    "KeyWrappingMetadata removed",
    () => editEncryptionData((d) => Reflect.deleteProperty(d, "KeyWrappingMetadata")),
    ALL_RANGES,
  ],
  [
    "encryptiondata reordered (same JSON, other bytes)",
    () =>
      editEncryptionData((d) => {
        const key = d.WrappedContentKey;
        Reflect.deleteProperty(d, "WrappedContentKey");
        d.WrappedContentKey = key;
      }),
    ALL_RANGES,
  ],
  [
    "SegmentSize changed",
    () => editIntegrity((d) => Object.assign(d, { SegmentSize: 2 * SEGMENT })),
    ALL_RANGES,
  ],
  [
    "PlaintextLength changed within the last block",
    () => editIntegrity((d) => Object.assign(d, { PlaintextLength: PLAINTEXT.length + 1 })),
    ALL_RANGES,
  ],
  [
    "PlaintextLength changed beyond the last block",
    () => editIntegrity((d) => Object.assign(d, { PlaintextLength: PLAINTEXT.length + 16 })),
    ALL_RANGES,
  ],
  [
    "SegmentTags changed (tag 0)",
    () => editIntegrity((d) => Object.assign(d, { SegmentTags: flippedB64(d.SegmentTags, 0) })),
    ALL_RANGES,
  ],
  [
    "SegmentTags changed (tag 2)",
    () => editIntegrity((d) => Object.assign(d, { SegmentTags: flippedB64(d.SegmentTags, 47) })),
    ALL_RANGES,
  ],
  [
    "SegmentTags one tag short",
    () =>
      editIntegrity((d) =>
        Object.assign(d, { SegmentTags: b64(d.SegmentTags).subarray(16).toString("base64") }),
      ),
    ALL_RANGES,
  ],
  [
    "HeaderTag changed",
    () => editIntegrity((d) => Object.assign(d, { HeaderTag: flippedB64(d.HeaderTag, 13) })),
    ALL_RANGES,
  ],
  [
    "HeaderTag with non-zero padding bits",
    () => editIntegrity((d) => Object.assign(d, { HeaderTag: withPaddingBits(String(d.HeaderTag)) })),
    ALL_RANGES,
  ],
  [
    "SegmentTags with a space",
    () => editIntegrity((d) => Object.assign(d, { SegmentTags: ` ${String(d.SegmentTags)}` })),
    ALL_RANGES,
  ],
  [
    "HeaderTag in base64url",
    () => editIntegrity((d) => Object.assign(d, { HeaderTag: b64(d.HeaderTag).toString("base64url") })),
    ALL_RANGES,
  ],
  ["Version removed", () => editIntegrity((d) => Reflect.deleteProperty(d, "Version")), ALL_RANGES],
  ["Version 0", () => editIntegrity((d) => Object.assign(d, { Version: 0 })), ALL_RANGES],
  [
    "oabsintegrity not JSON",
    () => ({ body: original.body, metadata: { ...original.metadata, oabsintegrity: "{" } }),
    ALL_RANGES,
  ],
  [
    "encryptiondata not JSON",
    () => ({ body: original.body, metadata: { ...original.metadata, encryptiondata: "null" } }),
    ALL_RANGES,
  ],
  [
    "encryptiondata removed",
    () => ({ body: original.body, metadata: { oabsintegrity: original.metadata.oabsintegrity ?? "" } }),
    ALL_RANGES,
  ],
  [
    "oabsintegrity removed (downgrade to plain Microsoft CSE v1)",
    () => ({ body: original.body, metadata: { encryptiondata: original.metadata.encryptiondata ?? "" } }),
    ALL_RANGES,
  ],
  [
    "both entries swapped",
    () => ({
      body: original.body,
      metadata: {
        encryptiondata: original.metadata.oabsintegrity ?? "",
        oabsintegrity: original.metadata.encryptiondata ?? "",
      },
    }),
    ALL_RANGES,
  ],
  [
    "truncated by 1 byte",
    () => ({ body: original.body.subarray(0, -1), metadata: original.metadata }),
    ALL_RANGES,
  ],
  [
    "truncated by 16 bytes",
    () => ({ body: original.body.subarray(0, -16), metadata: original.metadata }),
    ALL_RANGES,
  ],
  [
    "truncated to a segment boundary",
    () => ({ body: original.body.subarray(0, 2 * SEGMENT), metadata: original.metadata }),
    ALL_RANGES,
  ],
  [
    "truncated to a segment boundary, lengths and tags adjusted",
    () =>
      editIntegrity(
        (d) =>
          Object.assign(d, {
            PlaintextLength: 2 * SEGMENT - 1,
            SegmentTags: tags().subarray(0, 32).toString("base64"),
          }),
        original.body.subarray(0, 2 * SEGMENT),
      ),
    ALL_RANGES,
  ],
  [
    "extended by 16 bytes",
    () => ({ body: Buffer.concat([original.body, randomBytes(16)]), metadata: original.metadata }),
    ALL_RANGES,
  ],
  [
    "extended by 16 bytes, length adjusted",
    () =>
      editIntegrity(
        (d) => Object.assign(d, { PlaintextLength: PLAINTEXT.length + 16 }),
        Buffer.concat([original.body, randomBytes(16)]),
      ),
    ALL_RANGES,
  ],
  [
    "extended by a whole segment",
    () => ({ body: Buffer.concat([original.body, randomBytes(SEGMENT)]), metadata: original.metadata }),
    ALL_RANGES,
  ],
  [
    "extended by a whole segment, length and tags adjusted",
    () =>
      editIntegrity(
        (d) =>
          Object.assign(d, {
            PlaintextLength: PLAINTEXT.length + SEGMENT,
            SegmentTags: Buffer.concat([tags(), randomBytes(16)]).toString("base64"),
          }),
        Buffer.concat([original.body, randomBytes(SEGMENT)]),
      ),
    ALL_RANGES,
  ],
  [
    "segments 0 and 1 swapped",
    () => ({ body: swapSegments(original.body), metadata: original.metadata }),
    RANGES_USING_SEGMENT_0_OR_1,
  ],
  [
    "segments 0 and 1 swapped with their tags",
    () =>
      editIntegrity(
        (d) =>
          Object.assign(d, {
            SegmentTags: Buffer.concat([
              tags().subarray(16, 32),
              tags().subarray(0, 16),
              tags().subarray(32),
            ]).toString("base64"),
          }),
        swapSegments(original.body),
      ),
    ALL_RANGES,
  ],
  [
    "segment 1 replaced by a copy of segment 0",
    () => ({
      body: Buffer.concat([
        original.body.subarray(0, SEGMENT),
        original.body.subarray(0, SEGMENT),
        original.body.subarray(2 * SEGMENT),
      ]),
      metadata: original.metadata,
    }),
    RANGES_USING_SEGMENT_1,
  ],
];

function swapSegments(body: Buffer): Buffer {
  return Buffer.concat([
    body.subarray(SEGMENT, 2 * SEGMENT),
    body.subarray(0, SEGMENT),
    body.subarray(2 * SEGMENT),
  ]);
}

describe("envelope tamper matrix", () => {
  it("reads back the untampered blob, whole and by range", async () => {
    expect((await readWhole(original)).equals(PLAINTEXT)).toBe(true);
    for (const [offset, length] of ALL_RANGES) {
      expect(
        (await readRange(original, offset, length)).equals(PLAINTEXT.subarray(offset, offset + length)),
      ).toBe(true);
    }
  });

  describe.each(cases)("%s", (_name, tamper, ranges) => {
    it("fails a whole read with an integrity error", async () => {
      await integrityFailure(() => readWhole(tamper()));
    });

    it.each(ranges)("fails a range read at %i+%i with an integrity error", async (offset, length) => {
      const blob = tamper();
      await integrityFailure(async () => {
        // A range beyond a (forged) PlaintextLength is refused by planRange before anything is
        // fetched (invalid-argument); clamp to it so that the read reaches verification.
        const parsed = parseEnvelope(blob.metadata, blob.body.length);
        const start = Math.min(offset, parsed.plaintextLength);
        return readRange(blob, start, Math.min(offset + length, parsed.plaintextLength) - start);
      });
    });
  });

  describe.each([0, 1, 2])("a flipped byte in segment %i", (segment) => {
    const positions = [
      segment * SEGMENT,
      segment * SEGMENT + 777,
      Math.min((segment + 1) * SEGMENT, 150_016) - 1,
    ];

    it.each(positions)("at %i fails a whole read with the one verification message", async (at) => {
      const error = await integrityFailure(() =>
        readWhole({ body: flip(original.body, at), metadata: original.metadata }),
      );
      expect(error.message).toBe(VERIFICATION_FAILED);
    });

    it.each(positions)("at %i fails every range read that uses the segment", async (at) => {
      const blob = { body: flip(original.body, at), metadata: original.metadata };
      await integrityFailure(() => readRange(blob, segment * SEGMENT + 100, 100));
      await integrityFailure(() => readRange(blob, 0, PLAINTEXT.length));
    });
  });

  it("authenticates the segment holding the IV block of a range (block b0 - 1)", async () => {
    const blob = { body: flip(original.body, SEGMENT - 1), metadata: original.metadata };
    await integrityFailure(() => readRange(blob, SEGMENT, 16));
  });

  it("serves a range from untouched segments when another segment is damaged", async () => {
    // Range reads authenticate what they use: the header tag and the fetched segments.
    const blob = { body: flip(original.body, 2 * SEGMENT + 5), metadata: original.metadata };
    const bytes = await readRange(blob, 100, 1000);
    expect(bytes.equals(PLAINTEXT.subarray(100, 1100))).toBe(true);
  });

  describe("binding to the attachment", () => {
    let other: Blob;
    beforeAll(async () => {
      other = await encryptEnvelope(PLAINTEXT, dataKey, { uuid: OTHER_UUID, contentType: 1 });
    });

    it("fails a blob swapped with another uuid's blob (same CEK), whole and by range", async () => {
      for (const [blob, context] of [
        [other, CONTEXT],
        [original, { uuid: OTHER_UUID, contentType: 1 }],
      ] as const) {
        const error = await integrityFailure(() => readWhole(blob, context));
        expect(error.message).toBe(VERIFICATION_FAILED);
        await integrityFailure(() => readRange(blob, 10, 10, context));
      }
    });

    it.each([0, 2, 3, 4])("fails the blob read as content type %i", async (contentType) => {
      const context = { ...CONTEXT, contentType };
      await integrityFailure(() => readWhole(original, context));
      await integrityFailure(() => readRange(original, 10, 10, context));
    });

    it("fails a blob swapped between two content types of the same uuid", async () => {
      const json = await encryptEnvelope(PLAINTEXT, dataKey, { ...CONTEXT, contentType: 2 });
      await integrityFailure(() => readWhole(json, CONTEXT));
      await integrityFailure(() => readWhole(original, { ...CONTEXT, contentType: 2 }));
    });

    it("fails the metadata of one blob on the body of another", async () => {
      await integrityFailure(() => readWhole({ body: other.body, metadata: original.metadata }));
      await integrityFailure(() => readRange({ body: other.body, metadata: original.metadata }, 0, 32));
    });
  });

  describe("range reads", () => {
    it("fail when the fetched bytes are short", async () => {
      const parsed = parseEnvelope(original.metadata, original.body.length);
      const plan = planRange(parsed, 100, 100);
      const fetched = original.body.subarray(plan.fetchOffset, plan.fetchOffset + plan.fetchLength - 16);
      await integrityFailure(() =>
        decryptEnvelopeRange(fetched, plan, parsed, dataKey.cek, CONTEXT, 100, 100),
      );
    });

    it("fail when the fetched bytes are another segment", async () => {
      const parsed = parseEnvelope(original.metadata, original.body.length);
      const plan = planRange(parsed, 100, 100);
      const fetched = original.body.subarray(SEGMENT, 2 * SEGMENT);
      await integrityFailure(() =>
        decryptEnvelopeRange(fetched, plan, parsed, dataKey.cek, CONTEXT, 100, 100),
      );
    });

    it("refuse a plan that does not match the requested range", async () => {
      const parsed = parseEnvelope(original.metadata, original.body.length);
      const plan = planRange(parsed, 100, 100);
      const error = await storageFailure(
        decryptEnvelopeRange(
          original.body.subarray(0, SEGMENT),
          plan,
          parsed,
          dataKey.cek,
          CONTEXT,
          70_000,
          100,
        ),
      );
      expect(error.code).toBe("invalid-argument");
    });

    it("verify the header tag even for an empty range", async () => {
      const blob = editIntegrity((d) => Object.assign(d, { HeaderTag: flippedB64(d.HeaderTag) }));
      await integrityFailure(() => readRange(blob, 0, 0));
      expect((await readRange(original, 0, 0)).length).toBe(0);
    });
  });

  describe("error messages", () => {
    it("are the same for every verification failure", async () => {
      const messages = new Set<string>();
      for (const blob of [
        { body: flip(original.body, 3), metadata: original.metadata },
        editIntegrity((d) => Object.assign(d, { HeaderTag: flippedB64(d.HeaderTag) })),
        editIntegrity((d) => Object.assign(d, { SegmentTags: flippedB64(d.SegmentTags) })),
        editEncryptionData((d) =>
          Object.assign(d, { ContentEncryptionIV: flippedB64(d.ContentEncryptionIV) }),
        ),
      ]) {
        messages.add((await integrityFailure(() => readWhole(blob))).message);
      }
      expect([...messages]).toEqual([VERIFICATION_FAILED]);
    });

    it("never echo the wrapped key or the tags", async () => {
      const blob = editEncryptionData((d) => Object.assign(d.WrappedContentKey, { Algorithm: "RSA1_5" }));
      const error = await integrityFailure(() => readWhole(blob));
      expect(error.message).toContain("RSA1_5");
      const encryptedKey = dataKey.wrapped.encryptedKey.toString("base64");
      for (const candidate of [
        blob,
        editIntegrity((d) => Object.assign(d, { SegmentTags: "not base64!" })),
      ]) {
        const message = (await integrityFailure(() => readWhole(candidate))).message;
        expect(message).not.toContain(encryptedKey.slice(0, 16));
        expect(message).not.toContain(tags().toString("base64").slice(0, 16));
      }
    });

    it("ask for an upgrade on an unknown version", async () => {
      const blob = editIntegrity((d) => Object.assign(d, { Version: 7 }));
      const error = await integrityFailure(() => readWhole(blob));
      expect(error.message).toMatch(/written by a newer plugin \(format version 7\); upgrade/);
    });
  });
});

describe("detectBlobFormat", () => {
  it("tells plain from envelope, with case-insensitive names", () => {
    expect(detectBlobFormat({})).toEqual({ kind: "plain" });
    expect(detectBlobFormat({ orthanc_uuid: CONTEXT.uuid, plugin_format: "envelope-1" })).toEqual({
      kind: "plain",
    });
    expect(detectBlobFormat({ EncryptionData: "{}", OABSIntegrity: "{}" })).toEqual({ kind: "envelope" });
  });

  it("refuses a blob with only one of the two entries", () => {
    for (const metadata of [{ encryptiondata: "{}" }, { oabsintegrity: "{}" }, { EncryptionData: "{}" }]) {
      let error: unknown;
      try {
        detectBlobFormat(metadata);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).code).toBe("integrity");
    }
  });

  it("refuses two entries whose names differ only by case", () => {
    const metadata = { ...original.metadata, EncryptionData: original.metadata.encryptiondata ?? "" };
    expect(() => detectBlobFormat(metadata)).toThrow(StorageError);
  });

  it("reads an envelope whose metadata names come back in another case", async () => {
    const metadata = {
      EncryptionData: original.metadata.encryptiondata ?? "",
      OabsIntegrity: original.metadata.oabsintegrity ?? "",
    };
    expect((await readWhole({ body: original.body, metadata })).equals(PLAINTEXT)).toBe(true);
  });
});
