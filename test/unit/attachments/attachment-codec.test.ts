/**
 * AttachmentCodec: which way each attachment goes (plain, encrypted, or refused while migrating)
 * and how a range read is widened so that one ranged GET usually serves an encrypted blob too.
 * Over the in-memory store, with an in-memory local key.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { OperationOptions } from "../../../src/async/operation-options.ts";
import {
  AttachmentCodec,
  ENVELOPE_FORMATS,
  type KeyProvider,
  PLAIN_FORMAT,
} from "../../../src/attachments/attachment-codec.ts";
import type { DataKey } from "../../../src/crypto/data-key.ts";
import { ciphertextLengthFor, ENVELOPE_METADATA, segmentSizeFor } from "../../../src/crypto/envelope.ts";
import type { WrappedKey } from "../../../src/crypto/key-wrapper.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import type { DownloadedBlob } from "../../../src/storage/blob-store.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { storageFailure } from "../../support/assertions.ts";

const UUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const context = { uuid: UUID, contentType: 1 };
const NAME = `${UUID}.dcm`;
const SEGMENT = 65_536;
const MiB = 1024 * 1024;

/** A key provider over an in-memory AES key that counts its calls. */
class CountingKeys implements KeyProvider {
  acquired = 0;
  unwrapped = 0;
  readonly #wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });

  async acquireDataKey(options?: OperationOptions): Promise<DataKey> {
    this.acquired++;
    const cek = randomBytes(32);
    return { cek, wrapped: await this.#wrapper.wrapKey(cek, options) };
  }

  async unwrap(wrapped: WrappedKey, options?: OperationOptions): Promise<Buffer> {
    this.unwrapped++;
    return this.#wrapper.unwrapKey(wrapped, options);
  }
}

/** A MemoryBlobStore that records every ranged request. */
class RecordingStore extends MemoryBlobStore {
  readonly ranges: Array<[offset: number, length: number]> = [];

  override async readRange(
    name: string,
    offset: number,
    length: number,
    options?: OperationOptions,
  ): Promise<DownloadedBlob> {
    this.ranges.push([offset, length]);
    return super.readRange(name, offset, length, options);
  }
}

/** Deterministic, not all-equal content, so that misplaced bytes show. */
function plaintextOf(length: number): Buffer {
  const data = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) data[i] = (i * 31 + (i >>> 8)) & 0xff;
  return data;
}

function codecWith(options: {
  encrypt: boolean;
  allowPlain?: boolean;
  keys?: KeyProvider | undefined;
}): AttachmentCodec {
  return new AttachmentCodec({
    encryptWrites: options.encrypt,
    allowUnencryptedReads: options.allowPlain ?? false,
    keys: options.keys,
  });
}

/** Stores `data` under NAME as `codec` encodes it. */
async function store(codec: AttachmentCodec, data: Buffer, target = new RecordingStore()) {
  const encoded = await codec.encode(Buffer.from(data), context);
  target.put(NAME, encoded.body, encoded.metadata);
  return { store: target, encoded };
}

async function readWhole(codec: AttachmentCodec, target: MemoryBlobStore): Promise<Buffer> {
  return codec.decode(await target.read(NAME), context, NAME);
}

describe("AttachmentCodec: plain, encrypted or refused", () => {
  it("refuses encrypted writes without a key provider", () => {
    expect(() => codecWith({ encrypt: true })).toThrow(
      "Expected a key provider for encrypted writes but received none",
    );
  });

  it("writes plain with encryption off, even with a key, and hands the input through", async () => {
    const keys = new CountingKeys();
    for (const codec of [codecWith({ encrypt: false }), codecWith({ encrypt: false, keys })]) {
      expect(codec.encrypting).toBe(false);
      const data = plaintextOf(1000);
      const encoded = await codec.encode(data, context);
      expect(encoded.body).toBe(data);
      expect(encoded.metadata).toEqual({
        orthanc_uuid: UUID,
        orthanc_content_type: "1",
        plugin_format: PLAIN_FORMAT,
      });
    }
    expect(keys.acquired).toBe(0);
  });

  it("writes an envelope with encryption on, and reads it back", async () => {
    const keys = new CountingKeys();
    const codec = codecWith({ encrypt: true, keys });
    expect(codec.encrypting).toBe(true);
    const data = plaintextOf(100_000);
    const { store: target, encoded } = await store(codec, data);

    expect(keys.acquired).toBe(1);
    expect(encoded.metadata).toMatchObject({
      orthanc_uuid: UUID,
      orthanc_content_type: "1",
      plugin_format: ENVELOPE_FORMATS[1],
    });
    expect(Object.keys(encoded.metadata)).toEqual(
      expect.arrayContaining([ENVELOPE_METADATA.encryptionData, ENVELOPE_METADATA.integrity]),
    );
    expect(encoded.body.length).toBe(ciphertextLengthFor(data.length));
    expect(encoded.body.includes(data.subarray(0, 64))).toBe(false);
    expect((await readWhole(codec, target)).equals(data)).toBe(true);
    expect(
      (await codec.readRange(target, NAME, context, 70_000, 100)).equals(data.subarray(70_000, 70_100)),
    ).toBe(true);
    expect(keys.unwrapped).toBe(2);
  });

  it.each([
    ["encryption off, no key", { encrypt: false }],
    [
      "encryption off, AllowUnencryptedReads false",
      { encrypt: false, allowPlain: false, keys: new CountingKeys() },
    ],
    [
      "encryption on, AllowUnencryptedReads true",
      { encrypt: true, allowPlain: true, keys: new CountingKeys() },
    ],
  ] as const)("reads a plain blob with %s, without a key", async (_name, options) => {
    const data = plaintextOf(5000);
    const { store: target } = await store(codecWith({ encrypt: false }), data);
    const codec = codecWith(options);
    expect((await readWhole(codec, target)).equals(data)).toBe(true);
    expect((await codec.readRange(target, NAME, context, 4990, 10)).equals(data.subarray(4990))).toBe(true);
    if ("keys" in options) expect(options.keys.unwrapped).toBe(0);
  });

  it("refuses a plain blob with encryption on and AllowUnencryptedReads false, naming the key", async () => {
    const { store: target } = await store(codecWith({ encrypt: false }), plaintextOf(5000));
    const codec = codecWith({ encrypt: true, allowPlain: false, keys: new CountingKeys() });
    const reason =
      "the blob is not encrypted, and AzureBlobStorage.AllowUnencryptedReads is false " +
      "(set it to true while migrating a container that still holds unencrypted attachments)";

    const whole = await storageFailure(readWhole(codec, target));
    expect(whole.code).toBe("integrity");
    expect(whole.message).toBe(`read ${NAME}: ${reason}`);
    const range = await storageFailure(codec.readRange(target, NAME, context, 0, 10));
    expect(range.code).toBe("integrity");
    expect(range.message).toBe(`readRange ${NAME}: ${reason}`);
  });

  it("trusts the envelope metadata, not plugin_format", async () => {
    const data = plaintextOf(300);
    const target = new RecordingStore();
    target.put(NAME, data, { plugin_format: ENVELOPE_FORMATS[1] });
    const codec = codecWith({ encrypt: false, keys: new CountingKeys() });
    expect((await readWhole(codec, target)).equals(data)).toBe(true);
  });

  it("reads an encrypted blob with encryption off when its key is configured (turning encryption off)", async () => {
    const keys = new CountingKeys();
    const data = plaintextOf(70_000);
    const { store: target } = await store(codecWith({ encrypt: true, keys }), data);
    const codec = codecWith({ encrypt: false, keys });
    expect((await readWhole(codec, target)).equals(data)).toBe(true);
    expect((await codec.readRange(target, NAME, context, 10, 20)).equals(data.subarray(10, 30))).toBe(true);
  });

  it("refuses an encrypted blob when no key is configured, naming its key id", async () => {
    const { store: target, encoded } = await store(
      codecWith({ encrypt: true, keys: new CountingKeys() }),
      plaintextOf(1000),
    );
    const keyId = (
      JSON.parse(encoded.metadata.encryptiondata ?? "") as { WrappedContentKey: { KeyId: string } }
    ).WrappedContentKey.KeyId;
    const codec = codecWith({ encrypt: false });
    const reason = `the blob is encrypted (key ${keyId}), but no key is configured (AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile)`;

    const whole = await storageFailure(readWhole(codec, target));
    expect(whole.code).toBe("unavailable");
    expect(whole.message).toBe(`read ${NAME}: ${reason}`);
    const range = await storageFailure(codec.readRange(target, NAME, context, 0, 10));
    expect(range.code).toBe("unavailable");
    expect(range.message).toBe(`readRange ${NAME}: ${reason}`);
    // Without a key the first request is not widened: the blob is expected to be plain.
    expect(target.ranges[0]).toEqual([0, 10]);
  });

  it("refuses an encrypted blob whose key is not among the configured ones", async () => {
    const { store: target } = await store(
      codecWith({ encrypt: true, keys: new CountingKeys() }),
      plaintextOf(1000),
    );
    const other = new CountingKeys();
    const codec = codecWith({ encrypt: true, keys: other });
    const error = await storageFailure(readWhole(codec, target));
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(new RegExp(`^read ${NAME}: no local key with id \\S+ is configured`));
    expect(other.unwrapped).toBe(1);
  });

  describe("format versions", () => {
    async function withIntegrity(
      edit: (integrity: Record<string, unknown>) => void,
    ): Promise<MemoryBlobStore> {
      const { store: target, encoded } = await store(
        codecWith({ encrypt: true, keys: new CountingKeys() }),
        plaintextOf(1000),
      );
      const integrity = JSON.parse(encoded.metadata.oabsintegrity ?? "") as Record<string, unknown>;
      edit(integrity);
      target.put(NAME, encoded.body, { ...encoded.metadata, oabsintegrity: JSON.stringify(integrity) });
      return target;
    }

    it("asks for an upgrade for a newer envelope version, before any key is used", async () => {
      const target = await withIntegrity((integrity) => {
        integrity.Version = 3;
      });
      const keys = new CountingKeys();
      const codec = codecWith({ encrypt: true, keys });
      const reason =
        "encrypted blob was written by a newer plugin (format version 3); upgrade the plugin to read it";
      const whole = await storageFailure(readWhole(codec, target));
      expect(whole.code).toBe("integrity");
      expect(whole.message).toBe(`read ${NAME}: ${reason}`);
      const range = await storageFailure(codec.readRange(target, NAME, context, 0, 10));
      expect(range.message).toBe(`readRange ${NAME}: ${reason}`);
      expect(keys.unwrapped).toBe(0);
    });

    it.each([0, "1", null])("calls version %j malformed", async (version) => {
      const target = await withIntegrity((integrity) => {
        integrity.Version = version;
      });
      const error = await storageFailure(
        readWhole(codecWith({ encrypt: true, keys: new CountingKeys() }), target),
      );
      expect(error.code).toBe("integrity");
      expect(error.message).toBe(
        `read ${NAME}: encrypted blob metadata is malformed: oabsintegrity.Version is not a known version`,
      );
    });

    it("refuses a blob that lost one of its two envelope entries, even when plain reads are allowed", async () => {
      const { store: target, encoded } = await store(
        codecWith({ encrypt: true, keys: new CountingKeys() }),
        plaintextOf(1000),
      );
      const { oabsintegrity: _dropped, ...stripped } = encoded.metadata;
      target.put(NAME, encoded.body, stripped);
      const codec = codecWith({ encrypt: true, allowPlain: true, keys: new CountingKeys() });
      for (const read of [readWhole(codec, target), codec.readRange(target, NAME, context, 0, 10)]) {
        const error = await storageFailure(read);
        expect(error.code).toBe("integrity");
        expect(error.message).toMatch(/encrypted blob metadata is incomplete: oabsintegrity is missing/);
      }
    });
  });
});

describe("AttachmentCodec.readRange: one widened GET", () => {
  it("asks for the exact range when no key is configured", async () => {
    const data = plaintextOf(200_000);
    const { store: target } = await store(codecWith({ encrypt: false }), data);
    const codec = codecWith({ encrypt: false });
    expect(
      (await codec.readRange(target, NAME, context, 70_000, 30)).equals(data.subarray(70_000, 70_030)),
    ).toBe(true);
    expect(target.ranges).toEqual([[70_000, 30]]);
  });

  it.each([
    // [offset, length, widened offset, widened length]
    [0, 1, 0, SEGMENT],
    [100, 10, 0, SEGMENT],
    [SEGMENT - 10, 10, 0, SEGMENT],
    [SEGMENT - 10, 11, 0, 2 * SEGMENT],
    // The block before the first one is its CBC IV: a range starting in the first block of a
    // segment needs the last block of the previous segment.
    [SEGMENT, 16, 0, 2 * SEGMENT],
    [SEGMENT + 15, 1, 0, 2 * SEGMENT],
    [SEGMENT + 16, 16, SEGMENT, SEGMENT],
    [2 * SEGMENT + 17, SEGMENT, 2 * SEGMENT, 2 * SEGMENT],
  ])(
    "widens offset %i length %i to whole 64 KiB segments when a key is configured",
    async (offset, length, wideOffset, wideLength) => {
      const data = plaintextOf(300_000);
      const keys = new CountingKeys();
      for (const encrypt of [false, true]) {
        const { store: target } = await store(codecWith({ encrypt, keys }), data);
        const codec = codecWith({ encrypt, allowPlain: true, keys });
        const range = await codec.readRange(target, NAME, context, offset, length);
        expect(range.equals(data.subarray(offset, offset + length))).toBe(true);
        // One GET, also for the encrypted blob: the widened range holds its segments and IV block.
        expect(target.ranges).toEqual([[wideOffset, wideLength]]);
      }
    },
  );

  it.each([
    ["plain", false, "blob", 300_000],
    ["encrypted", true, "attachment", 300_000],
  ] as const)(
    "reads up to the end of a %s blob, and refuses a range beyond it",
    async (_name, encrypt, what, size) => {
      const data = plaintextOf(size);
      const keys = new CountingKeys();
      const { store: target } = await store(codecWith({ encrypt, keys }), data);
      const codec = codecWith({ encrypt, allowPlain: true, keys });

      expect(
        (await codec.readRange(target, NAME, context, size - 1, 1)).equals(data.subarray(size - 1)),
      ).toBe(true);
      expect(
        (await codec.readRange(target, NAME, context, size - 5000, 5000)).equals(data.subarray(size - 5000)),
      ).toBe(true);
      expect((await codec.readRange(target, NAME, context, 0, size)).equals(data)).toBe(true);

      for (const [offset, length] of [
        [size - 10, 11],
        [size, 1],
        [size + 100_000, 5],
      ] as const) {
        const error = await storageFailure(codec.readRange(target, NAME, context, offset, length));
        expect(error.code).toBe("invalid-argument");
        expect(error.message).toBe(
          `readRange ${NAME}: range offset=${offset} length=${length} goes beyond the end of the ${what} (size ${size})`,
        );
      }
    },
  );

  it("names offset, length and size for a range beyond the end of a small plain blob", async () => {
    const target = new RecordingStore();
    target.put("ten", Buffer.from("0123456789"));
    const codec = codecWith({ encrypt: false });
    for (const [offset, length] of [
      [8, 5],
      [10, 1],
    ] as const) {
      const error = await storageFailure(codec.readRange(target, "ten", context, offset, length));
      expect(error.code).toBe("invalid-argument");
      expect(error.message).toBe(
        `readRange ten: range offset=${offset} length=${length} goes beyond the end of the blob (size 10)`,
      );
    }
  });

  it("answers a zero-length range without fetching bytes, but still checks the blob's format and header tag", async () => {
    const keys = new CountingKeys();
    const { store: target, encoded } = await store(codecWith({ encrypt: true, keys }), plaintextOf(1000));
    const codec = codecWith({ encrypt: true, keys });
    target.resetCounts();
    const unwrapsBefore = keys.unwrapped;
    expect((await codec.readRange(target, NAME, context, 1000, 0)).length).toBe(0);
    expect((await codec.readRange(target, NAME, context, 0, 0)).length).toBe(0);
    expect(target.counts.getProperties).toBe(2);
    expect(target.ranges).toEqual([]);
    // Envelope version 1: the header tag is keyed from the CEK, so each check unwraps it.
    expect(keys.unwrapped - unwrapsBefore).toBe(2);
    const missing = await storageFailure(codec.readRange(target, "missing", context, 0, 0));
    expect(missing.code).toBe("not-found");

    // FORMAT.md: a zero-length range fetches nothing but still checks the header tag.
    const integrity = JSON.parse(encoded.metadata.oabsintegrity ?? "{}") as { HeaderTag: string };
    const tag = Buffer.from(integrity.HeaderTag, "base64");
    tag[0] = (tag[0] ?? 0) ^ 1;
    target.put(NAME, encoded.body, {
      ...encoded.metadata,
      oabsintegrity: JSON.stringify({ ...integrity, HeaderTag: tag.toString("base64") }),
    });
    const tampered = await storageFailure(codec.readRange(target, NAME, context, 0, 0));
    expect(tampered.code).toBe("integrity");
    // ... and the plain-blob policy.
    target.put(NAME, Buffer.from("plain"), { plugin_format: PLAIN_FORMAT });
    const plain = await storageFailure(codec.readRange(target, NAME, context, 0, 0));
    expect(plain.code).toBe("integrity");
    expect(plain.message).toContain("AllowUnencryptedReads is false");
  });

  describe("above 16 MiB (segments larger than 64 KiB)", () => {
    const size = 17 * MiB;
    const data = plaintextOf(size);
    const segment = segmentSizeFor(ciphertextLengthFor(size));
    /** The range read in segment 40, and the requests it made. */
    const start = 40 * segment;
    const keys = new CountingKeys();
    const codec = codecWith({ encrypt: true, keys });
    let target: RecordingStore;

    beforeAll(async () => {
      ({ store: target } = await store(codec, data));
    });

    async function readRange(offset: number, length: number): Promise<Array<[number, number]>> {
      target.ranges.length = 0;
      const range = await codec.readRange(target, NAME, context, offset, length);
      expect(range.equals(data.subarray(offset, offset + length))).toBe(true);
      return target.ranges;
    }

    it("has 128 KiB segments", () => {
      expect(segment).toBe(2 * SEGMENT);
    });

    it("needs no second GET when the widened range holds the whole segment", async () => {
      expect(await readRange(start + 100, 70_000)).toEqual([[start, segment]]);
    });

    it("makes a second GET for the whole segment when the widened range misses its start", async () => {
      expect(await readRange(start + 70_000, 10)).toEqual([
        [start + SEGMENT, SEGMENT],
        [start, segment],
      ]);
    });

    it("makes a second GET when the widened range holds only the start of the segment", async () => {
      expect(await readRange(start + 100, 10)).toEqual([
        [start, SEGMENT],
        [start, segment],
      ]);
    });

    it("reads the first and the last byte, from their whole segments", async () => {
      expect(await readRange(0, 1)).toEqual([
        [0, SEGMENT],
        [0, segment],
      ]);
      expect(await readRange(size - 1, 1)).toEqual([
        [size - SEGMENT, SEGMENT],
        [size - segment, segment],
      ]);
    });
  });
});
