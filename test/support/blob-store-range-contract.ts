/**
 * The contract of BlobStore.readRange, run against every adapter (MemoryBlobStore in the unit
 * tests, AzureBlobStore against Azurite in the integration tests): one place for what a range
 * read returns, so that the adapters cannot drift apart.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { BlobStore } from "../../src/storage/blob-store.ts";
import { storageFailure } from "./assertions.ts";

/** `ready()` returns a store whose container exists and holds no blob of these tests. */
export function describeReadRangeContract(ready: () => Promise<BlobStore>): void {
  describe("readRange (BlobStore contract)", () => {
    it("returns exactly the range and the blob's properties", async () => {
      const store = await ready();
      const data = randomBytes(100_000);
      const metadata = { orthanc_uuid: "u", orthanc_content_type: "1", plugin_format: "plain-1" };
      const before = Date.now();
      await store.create("p/one.dcm", data, { metadata });
      const after = Date.now();
      const properties = {
        contentLength: data.length,
        metadata,
        lastModified: expect.any(Date),
        etag: expect.any(String),
      };

      const cases: Array<[number, number]> = [
        [0, 10],
        [5000, 20_000],
        [data.length - 1, 1],
        [0, data.length],
      ];
      for (const [offset, length] of cases) {
        const range = await store.readRange("p/one.dcm", offset, length);
        expect(range.data.equals(data.subarray(offset, offset + length))).toBe(true);
        expect(range.properties).toEqual(properties);
        // Last-Modified, which the read policy compares with its cutoff: the time of the write,
        // to the second (the service's resolution), on every read of the properties.
        const modified = range.properties.lastModified?.getTime() ?? 0;
        expect(modified).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
        expect(modified).toBeLessThanOrEqual(after + 1000);
        expect((await store.getProperties("p/one.dcm")).lastModified?.getTime()).toBe(modified);
      }
    });

    it("clips a range at the end of the blob, and is empty from the end on, with the size", async () => {
      const store = await ready();
      await store.create("ten", Buffer.from("0123456789"));
      const partial = await store.readRange("ten", 8, 5);
      expect(partial.data.toString()).toBe("89");
      expect(partial.properties.contentLength).toBe(10);
      for (const offset of [10, 11, 1000]) {
        const outside = await store.readRange("ten", offset, 1);
        expect(outside.data.length).toBe(0);
        expect(outside.properties).toEqual({
          contentLength: 10,
          metadata: {},
          lastModified: expect.any(Date),
          etag: expect.any(String),
        });
      }
    });

    it("reads nothing but the size of an empty blob", async () => {
      const store = await ready();
      await store.create("empty", Buffer.alloc(0));
      const range = await store.readRange("empty", 0, 1);
      expect(range.data.length).toBe(0);
      expect(range.properties.contentLength).toBe(0);
    });

    it("refuses a negative offset and a length below 1 with the expected/received shape", async () => {
      const store = await ready();
      await store.create("ten", Buffer.from("0123456789"));
      for (const [offset, length] of [
        [0, 0],
        [-1, 2],
        [0.5, 2],
        [0, Number.NaN],
      ] as const) {
        const error = await storageFailure(store.readRange("ten", offset, length));
        expect(error.code).toBe("invalid-argument");
        expect(error.message).toBe(
          `readRange ten: offset must be a non-negative and length a positive safe integer but received offset=${offset}, length=${length}`,
        );
      }
    });

    it("reports a missing blob as not-found", async () => {
      const store = await ready();
      const error = await storageFailure(store.readRange("missing.dcm", 0, 10));
      expect(error.code).toBe("not-found");
      expect(error.message).toMatch(/^readRange missing\.dcm: blob not found/);
    });
  });
}
