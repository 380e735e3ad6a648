/**
 * Sizes for envelope version 1: round trips at every length boundary (AES block, PKCS#7,
 * segment, the 16 MiB segment-size step), the segment-size rule, range reads at every
 * boundary, event-loop friendliness on big blobs, and the 8 KiB metadata budget.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { DataKey } from "../../../src/crypto/data-key.ts";
import {
  ciphertextLengthFor,
  decryptEnvelope,
  decryptEnvelopeRange,
  type EncryptedBlob,
  type EnvelopeContext,
  encryptEnvelope,
  type ParsedEnvelope,
  parseEnvelope,
  planRange,
  segmentSizeFor,
} from "../../../src/crypto/envelope.ts";
import { toIntegrityKey } from "../../../src/crypto/integrity-key.ts";
import { StorageError } from "../../../src/errors.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const CONTEXT: EnvelopeContext = { uuid: "0a1b2c3d-4e5f-6789-abcd-ef0123456789", contentType: 1 };

const dataKey: DataKey = {
  cek: randomBytes(32),
  wrapped: {
    keyId: "local:aes:00112233445566778899aabbccddeeff",
    algorithm: "A256KW",
    encryptedKey: randomBytes(40),
  },
};

/** Deterministic, not all-equal content, so that misplaced bytes show. */
function plaintextOf(length: number): Buffer {
  const data = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) data[i] = (i * 31 + (i >>> 8)) & 0xff;
  return data;
}

function integrityOf(blob: EncryptedBlob): {
  SegmentSize: number;
  PlaintextLength: number;
  SegmentTags: string;
} {
  return JSON.parse(blob.metadata.oabsintegrity ?? "") as {
    SegmentSize: number;
    PlaintextLength: number;
    SegmentTags: string;
  };
}

function invalidArgument(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe("invalid-argument");
}

describe("ciphertextLengthFor", () => {
  it.each([
    [0, 16],
    [1, 16],
    [15, 16],
    [16, 32],
    [17, 32],
    [65_519, 65_520],
    [65_520, 65_536],
    [65_535, 65_536],
    [65_536, 65_552],
  ])("%i plaintext bytes give %i ciphertext bytes", (plaintext, ciphertext) => {
    expect(ciphertextLengthFor(plaintext)).toBe(ciphertext);
  });

  it("refuses lengths that are not non-negative integers", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) invalidArgument(() => ciphertextLengthFor(bad));
  });
});

describe("segmentSizeFor", () => {
  it.each([
    [16, 64 * KiB],
    [64 * KiB, 64 * KiB],
    [16 * MiB, 64 * KiB],
    [16 * MiB + 16, 128 * KiB],
    [32 * MiB, 128 * KiB],
    [32 * MiB + 16, 256 * KiB],
    [300e6, 2 * MiB],
    [500e9, 2 * GiB],
  ])("Lc = %i gives S = %i", (ciphertextLength, segmentSize) => {
    expect(segmentSizeFor(ciphertextLength)).toBe(segmentSize);
  });

  it("always gives 65536 * 2^k with n <= 256 and the smallest such k", () => {
    const lengths = [
      16,
      65_520,
      65_536,
      65_552,
      16 * MiB - 16,
      16 * MiB,
      16 * MiB + 16,
      1e9,
      2 ** 40,
      2 ** 50,
    ];
    for (let i = 0; i < 200; i++) lengths.push(16 * Math.floor(Math.random() * 2 ** 44));
    for (const length of lengths) {
      const size = segmentSizeFor(length);
      expect(Math.log2(size / (64 * KiB)) % 1).toBe(0);
      expect(Math.ceil(length / size)).toBeLessThanOrEqual(256);
      if (size > 64 * KiB) expect(Math.ceil(length / (size / 2))).toBeGreaterThan(256);
    }
  });
});

describe("round trips", () => {
  const sizes = [
    0,
    1,
    15,
    16,
    17,
    31,
    32,
    33,
    // Lc = 65520, 65536 (one full segment), and the first two-segment blobs.
    65_519,
    65_520,
    65_535,
    65_536,
    65_537,
    // Around the second segment boundary.
    2 * 65_536 - 17,
    2 * 65_536 - 16,
    2 * 65_536,
    MiB,
    // Lc = 16 MiB - 16 and 16 MiB (256 segments of 64 KiB), then 128 KiB segments.
    16 * MiB - 17,
    16 * MiB - 16,
    16 * MiB,
  ];

  it.each(sizes)("%i bytes", async (length) => {
    const plaintext = plaintextOf(length);
    const blob = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    const ciphertextLength = ciphertextLengthFor(length);
    expect(blob.body.length).toBe(ciphertextLength);
    const integrity = integrityOf(blob);
    expect(integrity.SegmentSize).toBe(segmentSizeFor(ciphertextLength));
    expect(integrity.PlaintextLength).toBe(length);
    const segmentCount = Math.ceil(ciphertextLength / integrity.SegmentSize);
    expect(Buffer.from(integrity.SegmentTags, "base64").length).toBe(16 * segmentCount);

    const parsed = parseEnvelope(blob.metadata, blob.body.length);
    expect(parsed.segmentCount).toBe(segmentCount);
    const decrypted = await decryptEnvelope(blob.body, parsed, dataKey.cek, CONTEXT);
    expect(decrypted.length).toBe(length);
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it("64 MiB, yielding to the event loop while it works", async () => {
    const plaintext = plaintextOf(64 * MiB);
    let turns = 0;
    let running = true;
    const spin = (): void => {
      turns++;
      if (running) setImmediate(spin);
    };
    setImmediate(spin);
    try {
      const blob = await encryptEnvelope(plaintext, dataKey, CONTEXT);
      const afterEncrypt = turns;
      expect(afterEncrypt).toBeGreaterThan(8);
      // Lc = 64 MiB + 16: more than 256 segments of 256 KiB.
      expect(integrityOf(blob).SegmentSize).toBe(512 * KiB);
      const parsed = parseEnvelope(blob.metadata, blob.body.length);
      const decrypted = await decryptEnvelope(blob.body, parsed, dataKey.cek, CONTEXT);
      expect(turns - afterEncrypt).toBeGreaterThan(16);
      expect(decrypted.equals(plaintext)).toBe(true);
      const middle = 40 * MiB + 12_345;
      const plan = planRange(parsed, middle, MiB);
      const fetched = blob.body.subarray(plan.fetchOffset, plan.fetchOffset + plan.fetchLength);
      const range = await decryptEnvelopeRange(fetched, plan, parsed, dataKey.cek, CONTEXT, middle, MiB);
      expect(range.equals(plaintext.subarray(middle, middle + MiB))).toBe(true);
    } finally {
      running = false;
    }
  });

  it("does not yield for small blobs (up to 1 MiB): no turn of the event loop", async () => {
    for (const length of [500 * KiB, MiB - 1]) {
      let turned = false;
      const immediate = setImmediate(() => {
        turned = true;
      });
      const blob = await encryptEnvelope(plaintextOf(length), dataKey, CONTEXT);
      const parsed = parseEnvelope(blob.metadata, blob.body.length);
      await decryptEnvelope(blob.body, parsed, dataKey.cek, CONTEXT);
      expect(turned).toBe(false);
      clearImmediate(immediate);
    }
  });

  it("uses a fresh IV for every blob, even under the same CEK", async () => {
    const plaintext = plaintextOf(100);
    const a = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    const b = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    expect(a.body.equals(b.body)).toBe(false);
    expect(a.metadata.encryptiondata).not.toBe(b.metadata.encryptiondata);
  });

  it("does not modify its inputs", async () => {
    const plaintext = plaintextOf(70_000);
    const copy = Buffer.from(plaintext);
    const cek = Buffer.from(dataKey.cek);
    const blob = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    await decryptEnvelope(blob.body, parseEnvelope(blob.metadata, blob.body.length), dataKey.cek, CONTEXT);
    expect(plaintext.equals(copy)).toBe(true);
    expect(dataKey.cek.equals(cek)).toBe(true);
  });

  it("refuses bad arguments", async () => {
    const plaintext = plaintextOf(10);
    const refusals: Array<() => Promise<unknown>> = [
      () => encryptEnvelope(plaintext, { ...dataKey, cek: randomBytes(16) }, CONTEXT),
      () => encryptEnvelope(plaintext, dataKey, CONTEXT, { iv: randomBytes(12) }),
      () => encryptEnvelope(plaintext, dataKey, { ...CONTEXT, contentType: -1 }),
      () => encryptEnvelope(plaintext, dataKey, { ...CONTEXT, contentType: 2 ** 32 }),
      () => encryptEnvelope(plaintext, dataKey, CONTEXT, { library: "Orthanc\u00e9" }),
      () =>
        encryptEnvelope(
          plaintext,
          { ...dataKey, wrapped: { ...dataKey.wrapped, keyId: "kid-\u00e9" } },
          CONTEXT,
        ),
      () =>
        encryptEnvelope(
          plaintext,
          { ...dataKey, wrapped: { ...dataKey.wrapped, algorithm: "RSA1_5" as "RSA-OAEP" } },
          CONTEXT,
        ),
    ];
    for (const refusal of refusals) {
      const error = await refusal().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).code).toBe("invalid-argument");
    }
  });
});

describe("range reads", () => {
  /** Three segments: 64 KiB, 64 KiB and 1008 bytes of ciphertext. */
  const LENGTH = 2 * 65_536 + 1_000;
  const plaintext = plaintextOf(LENGTH);
  let blob: EncryptedBlob;
  let parsed: ParsedEnvelope;

  beforeAll(async () => {
    blob = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    parsed = parseEnvelope(blob.metadata, blob.body.length);
    expect(parsed.segmentCount).toBe(3);
  });

  async function read(offset: number, length: number): Promise<Buffer> {
    const plan = planRange(parsed, offset, length);
    const fetched = blob.body.subarray(plan.fetchOffset, plan.fetchOffset + plan.fetchLength);
    expect(fetched.length).toBe(plan.fetchLength);
    return decryptEnvelopeRange(fetched, plan, parsed, dataKey.cek, CONTEXT, offset, length);
  }

  const offsets = [
    0,
    1,
    15,
    16,
    17,
    31,
    32,
    33,
    65_519,
    65_520,
    65_535,
    65_536,
    65_537,
    65_551,
    65_552,
    131_071,
    131_072,
    131_073,
    LENGTH - 17,
    LENGTH - 16,
    LENGTH - 15,
    LENGTH - 1,
    LENGTH,
  ];
  const lengths = [0, 1, 15, 16, 17, 32, 65_535, 65_536, 65_537];

  it("serve every offset and length around the boundaries", async () => {
    let checked = 0;
    for (const offset of offsets) {
      for (const length of [...lengths, LENGTH - offset]) {
        if (offset + length > LENGTH) continue;
        const bytes = await read(offset, length);
        expect(bytes.equals(plaintext.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(150);
  });

  it("serve the whole attachment and the last block", async () => {
    expect((await read(0, LENGTH)).equals(plaintext)).toBe(true);
    const lastBlock = LENGTH - (LENGTH % 16);
    expect((await read(lastBlock, LENGTH - lastBlock)).equals(plaintext.subarray(lastBlock))).toBe(true);
  });

  it.each([
    // [offset, length, fetchOffset, fetchLength, firstSegment, lastSegment]
    [0, 1, 0, 65_536, 0, 0],
    [65_535, 1, 0, 65_536, 0, 0],
    [65_536, 1, 0, 131_072, 0, 1], // block 4096 needs block 4095 (segment 0) as its IV
    [65_552, 1, 65_536, 65_536, 1, 1],
    [65_535, 2, 0, 131_072, 0, 1],
    [131_072, 16, 65_536, 65_536 + 1_008, 1, 2],
    [131_088, 16, 131_072, 1_008, 2, 2],
    [LENGTH - 1, 1, 131_072, 1_008, 2, 2],
    [0, LENGTH, 0, 132_080, 0, 2],
    [0, 0, 0, 0, 0, -1],
    [LENGTH, 0, 0, 0, 0, -1],
  ])(
    "plan %i+%i fetches %i+%i (segments %i..%i)",
    (offset, length, fetchOffset, fetchLength, first, last) => {
      expect(planRange(parsed, offset, length)).toEqual({
        fetchOffset,
        fetchLength,
        firstSegment: first,
        lastSegment: last,
      });
    },
  );

  it("refuse a range that ends beyond the attachment, or bad numbers", () => {
    invalidArgument(() => planRange(parsed, LENGTH, 1));
    invalidArgument(() => planRange(parsed, 0, LENGTH + 1));
    invalidArgument(() => planRange(parsed, LENGTH + 1, 0));
    invalidArgument(() => planRange(parsed, -1, 1));
    invalidArgument(() => planRange(parsed, 0.5, 1));
  });
});

describe("metadata size budget", () => {
  it.each([
    { version: 1, integrityKey: undefined, budget: 7020 },
    { version: 2, integrityKey: toIntegrityKey(randomBytes(32)), budget: 7080 },
  ])(
    "stays under Azure's 8 KiB in the worst case, envelope version $version (256 tags, 4096-bit RSA key, 256-character kid)",
    async ({ version, integrityKey, budget }) => {
      // Lc = 16 MiB exactly: 256 segments of 64 KiB, the most tags a blob can have.
      const kid = `https://a-long-vault-name-24.vault.azure.net/keys/${"k".repeat(127)}/`.padEnd(256, "0");
      expect(kid.length).toBe(256);
      const worstKey: DataKey = {
        cek: dataKey.cek,
        wrapped: { keyId: kid, algorithm: "RSA-OAEP-256", encryptedKey: randomBytes(512) },
      };
      const blob = await encryptEnvelope(plaintextOf(16 * MiB - 1), worstKey, CONTEXT, {
        library: "OrthancAzureBlobStorage 10.100.1000",
        integrityKey,
      });
      expect(Buffer.from(integrityOf(blob).SegmentTags, "base64").length).toBe(256 * 16);
      expect(JSON.parse(blob.metadata.oabsintegrity ?? "{}").Version).toBe(version);

      // The largest numbers a blob can carry (PlaintextLength and SegmentSize of a huge blob).
      const integrity = (blob.metadata.oabsintegrity ?? "")
        .replace(/"SegmentSize":\d+/, `"SegmentSize":${2 ** 40}`)
        .replace(/"PlaintextLength":\d+/, `"PlaintextLength":${Number.MAX_SAFE_INTEGER}`);
      const metadata: Record<string, string> = {
        ...blob.metadata,
        oabsintegrity: integrity,
        orthanc_uuid: CONTEXT.uuid,
        orthanc_content_type: String(2 ** 32 - 1),
        plugin_format: `envelope-${version}`,
      };
      let total = 0;
      for (const [name, value] of Object.entries(metadata)) {
        expect(value).toMatch(/^[\x20-\x7e]*$/);
        total += Buffer.byteLength(name, "ascii") + Buffer.byteLength(value, "ascii");
      }
      expect(total).toBeLessThan(8192);
      // FORMAT.md's own estimate of the worst case of each version.
      expect(total).toBeLessThanOrEqual(budget);
    },
  );
});

describe("in place (a crypto worker's own copy)", () => {
  const IV = Buffer.alloc(16, 7);

  it.each([
    ["one chunk", 300 * KiB + 5],
    ["several chunks", 3 * MiB + 1],
    ["a whole number of blocks", 2 * MiB],
  ])("encrypts over the plaintext exactly what a separate output gets: %s", async (_name, length) => {
    const plaintext = plaintextOf(length);
    const expected = await encryptEnvelope(plaintext, dataKey, CONTEXT, { iv: IV });
    const room = Buffer.alloc(length + 16);
    plaintext.copy(room);
    const input = room.subarray(0, length);

    const actual = await encryptEnvelope(input, dataKey, CONTEXT, { iv: IV, inPlace: true });

    expect(actual.body.equals(expected.body)).toBe(true);
    expect(actual.metadata).toEqual(expected.metadata);
    expect(actual.body.buffer).toBe(room.buffer);
    expect(actual.body.byteOffset).toBe(room.byteOffset);
  });

  it("refuses to encrypt in place without room for the padding", async () => {
    const exact = Buffer.from(new ArrayBuffer(100_000));
    await expect(encryptEnvelope(exact, dataKey, CONTEXT, { inPlace: true })).rejects.toThrow(
      "Expected room for 100016 bytes to encrypt in place but received 100000",
    );
  });

  it("decrypts over the ciphertext, reusing its memory above one chunk", async () => {
    const plaintext = plaintextOf(5 * MiB + 3);
    const blob = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    const parsed = parseEnvelope(blob.metadata, blob.body.length);

    const decrypted = await decryptEnvelope(blob.body, parsed, dataKey.cek, CONTEXT, { inPlace: true });

    expect(decrypted.equals(plaintext)).toBe(true);
    expect(decrypted.buffer).toBe(blob.body.buffer);
  });

  it("still refuses a tampered blob in place, and leaves no plaintext behind", async () => {
    const plaintext = plaintextOf(3 * MiB);
    const blob = await encryptEnvelope(plaintext, dataKey, CONTEXT);
    const parsed = parseEnvelope(blob.metadata, blob.body.length);
    const last = blob.body.length - 1;
    blob.body[last] = (blob.body[last] ?? 0) ^ 1;
    const before = Buffer.from(blob.body);

    await expect(decryptEnvelope(blob.body, parsed, dataKey.cek, CONTEXT, { inPlace: true })).rejects.toThrow(
      "encrypted blob failed verification",
    );
    // Verification comes first: nothing was decrypted over the body.
    expect(blob.body.equals(before)).toBe(true);
  });
});
