import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AttachmentCodec } from "../../../src/attachments/attachment-codec.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { storageFailure } from "../../support/assertions.ts";
import { localKeyProvider } from "../../support/local-keys.ts";

const UUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const context = { uuid: UUID, contentType: 1 };

describe("AttachmentCodec without a key", () => {
  it("names both ways to configure a key when it meets an encrypted blob", async () => {
    const writer = new AttachmentCodec({
      encryptWrites: true,
      allowUnencryptedReads: false,
      keys: localKeyProvider(),
    });
    const encoded = await writer.encode(randomBytes(1000), context);
    const store = new MemoryBlobStore();
    await store.create("blob", encoded.body, { metadata: encoded.metadata });
    const reader = new AttachmentCodec({ encryptWrites: false, allowUnencryptedReads: true });

    const whole = await storageFailure(
      reader.decode(
        {
          data: encoded.body,
          properties: { contentLength: encoded.body.length, metadata: encoded.metadata },
        },
        context,
        "blob",
      ),
    );
    const range = await storageFailure(reader.readRange(store, "blob", context, 10, 100));

    for (const error of [whole, range]) {
      expect(error.code).toBe("unavailable");
      expect(error.message).toMatch(
        /the blob is encrypted \(key local:aes:[0-9a-f]{32}\), but no key is configured \(AzureBlobStorage\.AzureKeyVault or AzureBlobStorage\.LocalKeyFile\)/,
      );
    }
  });
});
