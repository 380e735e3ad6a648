/**
 * Metadata-only re-sealing of one blob: the upgrade from envelope version 1 to version 2, and rewrap
 * under another key-encryption key. The body is never rewritten, a blob that fails verification is
 * left alone, and a blob that changes between the read and the write is never overwritten.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { OperationOptions } from "../../../src/async/operation-options.ts";
import { AttachmentCodec } from "../../../src/attachments/attachment-codec.ts";
import { rewrapBlob, upgradeBlobToV2 } from "../../../src/attachments/reseal.ts";
import { IntegrityKeyring, toIntegrityKey } from "../../../src/crypto/integrity-key.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import type { DownloadedBlob } from "../../../src/storage/blob-store.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { storageFailure } from "../../support/assertions.ts";

const context = { uuid: "0a1b2c3d-4e5f-6789-abcd-ef0123456789", contentType: 1 };
const NAME = `${context.uuid}.dcm`;
const kekA = randomBytes(32);
const kekB = randomBytes(32);
const integrityBytes = randomBytes(32);

function keyring(): IntegrityKeyring {
  return new IntegrityKeyring([toIntegrityKey(Buffer.from(integrityBytes))]);
}

/** A codec that writes with `kek`, sealing with the integrity key when `v2`. */
function writer(kek: Buffer, v2: boolean): AttachmentCodec {
  const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: kek });
  return new AttachmentCodec({
    encryptWrites: true,
    allowUnencryptedReads: false,
    keys: {
      acquireDataKey: async () => {
        const cek = randomBytes(32);
        return { cek, wrapped: await wrapper.wrapKey(cek) };
      },
      unwrap: (wrapped) => wrapper.unwrapKey(wrapped),
    },
    ...(v2 ? { integrityKeys: keyring() } : {}),
  });
}

/** A strict reader that holds only `kek`. */
function strictReader(kek: Buffer): AttachmentCodec {
  const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: kek });
  return new AttachmentCodec({
    encryptWrites: true,
    allowUnencryptedReads: false,
    keys: {
      acquireDataKey: () => Promise.reject(new Error("not used")),
      unwrap: (wrapped) => wrapper.unwrapKey(wrapped),
    },
    integrityKeys: keyring(),
    strictIntegrity: true,
  });
}

async function stored(codec: AttachmentCodec, plaintext: Buffer, store = new MemoryBlobStore()) {
  const encoded = await codec.encode(Buffer.from(plaintext), context);
  await store.create(NAME, encoded.body, { metadata: encoded.metadata });
  return store;
}

/** Both KEKs for reading (the old one still trusted during a rotation). */
function unwrapAB() {
  const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: kekB, readOnlyKeys: [kekA] });
  let unwraps = 0;
  return {
    keys: {
      unwrap: (wrapped: Parameters<typeof wrapper.unwrapKey>[0], options?: OperationOptions) => {
        unwraps++;
        return wrapper.unwrapKey(wrapped, options);
      },
    },
    wrapperB: LocalKeyWrapper.fromKeyMaterial({ writeKey: kekB }),
    unwraps: () => unwraps,
  };
}

describe("upgradeBlobToV2", () => {
  it("re-seals a version 1 blob as version 2, body unchanged, and a strict reader reads it", async () => {
    const plaintext = randomBytes(150_000);
    const store = await stored(writer(kekA, false), plaintext);
    const body = store.peek(NAME);
    const before = await store.getProperties(NAME);
    expect(before.metadata.plugin_format).toBe("envelope-1");
    await expect(strictReader(kekA).decode(await store.read(NAME), context, NAME)).rejects.toThrow(
      /StrictIntegrity/,
    );

    const { keys } = unwrapAB();
    expect(
      await upgradeBlobToV2(store, NAME, context, keys, toIntegrityKey(Buffer.from(integrityBytes))),
    ).toBe("done");
    expect(store.peek(NAME)?.equals(body ?? Buffer.alloc(0))).toBe(true);
    const after = await store.getProperties(NAME);
    expect(after.metadata.plugin_format).toBe("envelope-2");
    expect(after.metadata.orthanc_uuid).toBe(context.uuid);
    expect(after.metadata.encryptiondata).toBe(before.metadata.encryptiondata);
    expect(JSON.parse(after.metadata.oabsintegrity ?? "{}").Version).toBe(2);
    const read = await strictReader(kekA).decode(await store.read(NAME), context, NAME);
    expect(read.equals(plaintext)).toBe(true);

    expect(
      await upgradeBlobToV2(store, NAME, context, keys, toIntegrityKey(Buffer.from(integrityBytes))),
    ).toBe("unchanged");
    store.put("plain", Buffer.from("x"), { plugin_format: "plain-1" });
    expect(
      await upgradeBlobToV2(store, "plain", context, keys, toIntegrityKey(Buffer.from(integrityBytes))),
    ).toBe("plain");
  });

  it("refuses a version 1 blob that fails verification, and leaves it as it is", async () => {
    const store = await stored(writer(kekA, false), randomBytes(1000));
    const blob = await store.read(NAME);
    const tampered = Buffer.from(blob.data);
    tampered[5] = (tampered[5] ?? 0) ^ 1;
    store.put(NAME, tampered, blob.properties.metadata);
    const etag = (await store.getProperties(NAME)).etag;
    const error = await storageFailure(
      upgradeBlobToV2(store, NAME, context, unwrapAB().keys, toIntegrityKey(Buffer.from(integrityBytes))),
    );
    expect(error.code).toBe("integrity");
    expect(error.message).toMatch(new RegExp(`^upgrade ${NAME}: `));
    expect((await store.getProperties(NAME)).etag).toBe(etag);
    expect(store.counts.setMetadata).toBe(0);
  });

  it("never overwrites a blob that changed between its read and the write", async () => {
    class RacingStore extends MemoryBlobStore {
      override async read(name: string, options?: OperationOptions): Promise<DownloadedBlob> {
        const blob = await super.read(name, options);
        // Someone (another Orthanc, a restore) writes the blob after it was read.
        this.put(name, blob.data, { ...blob.properties.metadata, written_by: "someone else" });
        return blob;
      }
    }
    const store = await stored(writer(kekA, false), randomBytes(1000), new RacingStore());
    const error = await storageFailure(
      upgradeBlobToV2(store, NAME, context, unwrapAB().keys, toIntegrityKey(Buffer.from(integrityBytes))),
    );
    expect(error.code).toBe("changed");
    const metadata = (await store.getProperties(NAME)).metadata;
    expect(metadata.written_by).toBe("someone else");
    expect(metadata.plugin_format).toBe("envelope-1");
  });
});

describe("rewrapBlob", () => {
  it.each([
    { version: 1, v2: false },
    { version: 2, v2: true },
  ])(
    "moves a version $version blob to another KEK without touching its body, and reads it with that KEK alone",
    async ({ version, v2 }) => {
      const plaintext = randomBytes(70_000);
      const store = await stored(writer(kekA, v2), plaintext);
      const body = store.peek(NAME);
      const before = await store.getProperties(NAME);
      const { keys, wrapperB, unwraps } = unwrapAB();

      expect(await rewrapBlob(store, NAME, context, keys, wrapperB, keyring())).toBe("done");
      expect(store.counts.read).toBe(0); // metadata only: the body is never downloaded
      expect(unwraps()).toBe(1);
      expect(store.peek(NAME)?.equals(body ?? Buffer.alloc(0))).toBe(true);
      const after = await store.getProperties(NAME);
      const kid = (metadata: Record<string, string>) =>
        (JSON.parse(metadata.encryptiondata ?? "{}") as { WrappedContentKey: { KeyId: string } })
          .WrappedContentKey.KeyId;
      expect(kid(before.metadata)).not.toBe(wrapperB.keyId);
      expect(kid(after.metadata)).toBe(wrapperB.keyId);
      const integrity = (metadata: Record<string, string>) => JSON.parse(metadata.oabsintegrity ?? "{}");
      expect(integrity(after.metadata).Version).toBe(version);
      // Segment tags survive a rewrap in both versions; only the header tag is recomputed.
      expect(integrity(after.metadata).SegmentTags).toBe(integrity(before.metadata).SegmentTags);
      expect(integrity(after.metadata).HeaderTag).not.toBe(integrity(before.metadata).HeaderTag);

      const readerB = v2 ? strictReader(kekB) : writer(kekB, false);
      expect((await readerB.decode(await store.read(NAME), context, NAME)).equals(plaintext)).toBe(true);
      expect(await rewrapBlob(store, NAME, context, keys, wrapperB, keyring())).toBe("unchanged");
    },
  );

  it("refuses a blob whose header does not verify, and writes nothing", async () => {
    const store = await stored(writer(kekA, true), randomBytes(500));
    const { metadata } = await store.getProperties(NAME);
    const integrity = JSON.parse(metadata.oabsintegrity ?? "{}") as { PlaintextLength: number };
    const body = store.peek(NAME) ?? Buffer.alloc(0);
    // Read under another uuid: the header tag binds the blob to its attachment.
    const error = await storageFailure(
      rewrapBlob(
        store,
        NAME,
        { ...context, uuid: "ffffffff-4e5f-6789-abcd-ef0123456789" },
        unwrapAB().keys,
        unwrapAB().wrapperB,
        keyring(),
      ),
    );
    expect(error.code).toBe("integrity");
    expect(integrity.PlaintextLength).toBe(500);
    expect(store.counts.setMetadata).toBe(0);
    expect(store.peek(NAME)?.equals(body)).toBe(true);
  });
});
