import { beforeEach, describe, expect, it } from "vitest";
import { StorageService, type StorageServiceOptions } from "../../../src/attachments/storage-service.ts";
import { StorageError } from "../../../src/errors.ts";
import type { BlobStore } from "../../../src/storage/blob-store.ts";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { storageFailure } from "../../support/assertions.ts";
import { type RecordingLogger, recordingLogger } from "../../support/recording-logger.ts";

const UUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const OTHER = "11111111-2222-3333-4444-555555555555";

const failure = storageFailure;

/** A store whose every call hangs forever and ignores abort signals. */
function hangingStore(): BlobStore {
  const never = <T>(): Promise<T> => new Promise<T>(() => {});
  return {
    description: "hangs",
    initialize: never,
    create: never,
    read: never,
    readRange: never,
    getProperties: never,
    setMetadata: never,
    delete: never,
    close: async () => {},
  };
}

describe("StorageService over MemoryBlobStore", () => {
  let store: MemoryBlobStore;
  let logger: RecordingLogger;
  let service: StorageService;

  const make = (target: BlobStore, overrides: Partial<StorageServiceOptions> = {}): StorageService =>
    new StorageService(target, {
      blobNamePrefix: "orthanc/",
      operationTimeoutMs: 5_000,
      maxConcurrentRequests: 4,
      logger,
      ...overrides,
    });

  beforeEach(() => {
    store = new MemoryBlobStore();
    logger = recordingLogger();
    service = make(store);
  });

  it("creates, reads whole, reads a range and removes", async () => {
    const data = Buffer.from("0123456789abcdef");
    await service.create(UUID, 1, data);
    expect(store.names()).toEqual([`orthanc/${UUID}.dcm`]);

    const whole = await service.readWhole(UUID, 1);
    expect(whole.equals(data)).toBe(true);
    expect((await service.readRange(UUID, 1, 4, 6)).toString()).toBe("456789");
    expect((await service.readRange(UUID, 1, 16, 0)).length).toBe(0);

    await service.remove(UUID, 1);
    expect(store.has(`orthanc/${UUID}.dcm`)).toBe(false);
    expect(logger.lines).toEqual([]);
  });

  it("stores the attachment metadata", async () => {
    await service.create(UUID, 2, Buffer.from("{}"));
    const properties = await store.getProperties(`orthanc/${UUID}.json`);
    expect(properties.metadata).toEqual({
      orthanc_uuid: UUID,
      orthanc_content_type: "2",
      plugin_format: "plain-1",
    });
  });

  it("keeps the attachments of one uuid apart by content type", async () => {
    await service.create(UUID, 1, Buffer.from("dicom"));
    await service.create(UUID, 3, Buffer.from("head"));
    expect((await service.readWhole(UUID, 1)).toString()).toBe("dicom");
    expect((await service.readWhole(UUID, 3)).toString()).toBe("head");
  });

  it("returns a copy: changing the returned or the given buffer does not change the stored blob", async () => {
    const data = Buffer.from("original");
    await service.create(UUID, 1, data);
    data.fill(0);
    const first = await service.readWhole(UUID, 1);
    first.fill(0);
    expect((await service.readWhole(UUID, 1)).toString()).toBe("original");
  });

  it("treats a create of identical bytes over an existing blob as success (retry after a lost response)", async () => {
    const data = Buffer.from("same bytes");
    await service.create(UUID, 1, data);
    await service.create(UUID, 1, Buffer.from("same bytes"));
    expect(store.counts.create).toBe(2);
    expect(store.counts.read).toBe(1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatch(/^info: create orthanc\/.*\.dcm: an identical blob is already stored/);
  });

  it("refuses to overwrite an existing blob with different bytes", async () => {
    await service.create(UUID, 1, Buffer.from("first"));
    const error = await failure(service.create(UUID, 1, Buffer.from("second")));
    expect(error.code).toBe("already-exists");
    expect(error.message).toBe(
      `refusing to overwrite blob orthanc/${UUID}.dcm: a different blob is already stored under attachment ${UUID}`,
    );
    expect(store.peek(`orthanc/${UUID}.dcm`)?.toString()).toBe("first");
  });

  it("refuses to overwrite when only the length differs (prefix of the stored bytes)", async () => {
    await service.create(UUID, 1, Buffer.from("abcdef"));
    expect((await failure(service.create(UUID, 1, Buffer.from("abc")))).code).toBe("already-exists");
  });

  it("treats removing a missing blob as success with a warning", async () => {
    await service.remove(OTHER, 1);
    expect(logger.lines).toEqual([`warning: remove orthanc/${OTHER}.dcm: blob was already missing`]);
  });

  it("reports a missing blob as not-found", async () => {
    expect((await failure(service.readWhole(OTHER, 1))).code).toBe("not-found");
    expect((await failure(service.readRange(OTHER, 1, 0, 1))).code).toBe("not-found");
  });

  it.each([
    [-1, 1],
    [0, -1],
    [0.5, 1],
    [0, 1.5],
    [Number.NaN, 1],
    [0, Number.POSITIVE_INFINITY],
    [2 ** 53, 1],
  ])("rejects readRange offset=%s length=%s without calling the store", async (offset, length) => {
    await service.create(UUID, 1, Buffer.from("0123456789"));
    const error = await failure(service.readRange(UUID, 1, offset, length));
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toContain(`offset=${offset}`);
    expect(store.counts.readRange).toBe(0);
  });

  it("reports a range beyond the end as invalid-argument", async () => {
    await service.create(UUID, 1, Buffer.from("0123456789"));
    const error = await failure(service.readRange(UUID, 1, 8, 3));
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toMatch(/offset=8 length=3 .*size 10/);
  });

  it("rejects invalid uuids and content types before touching the store", async () => {
    expect((await failure(service.create("NOT-A-UUID", 1, Buffer.from("x")))).code).toBe("invalid-argument");
    expect((await failure(service.readWhole(UUID, -1))).code).toBe("invalid-argument");
    expect(store.counts.create + store.counts.read).toBe(0);
  });

  it("turns a store that never answers into a timeout at the operation deadline", async () => {
    const slow = make(hangingStore(), { operationTimeoutMs: 50 });
    const started = Date.now();
    const error = await failure(slow.readWhole(UUID, 1));
    expect(error.code).toBe("timeout");
    expect(error.message).toBe(`read orthanc/${UUID}.dcm: deadline of 50 ms passed`);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("uses the caller's shorter timeoutInMs and honours the caller's abortSignal", async () => {
    const slow = make(hangingStore(), { operationTimeoutMs: 60_000 });
    const timedOut = await failure(slow.remove(UUID, 1, { timeoutInMs: 20 }));
    expect(timedOut.code).toBe("timeout");
    expect(timedOut.message).toContain("deadline of 20 ms passed");

    const controller = new AbortController();
    const pending = slow.create(UUID, 1, Buffer.from("x"), { abortSignal: controller.signal });
    controller.abort();
    const aborted = await failure(pending);
    expect(aborted.code).toBe("timeout");
    expect(aborted.message).toContain("aborted by the caller");
  });

  it("passes the deadline to the store, which aborts its own work", async () => {
    store.latencyMs = 10_000;
    const slow = make(store, { operationTimeoutMs: 30 });
    expect((await failure(slow.create(UUID, 1, Buffer.from("x")))).code).toBe("timeout");
    // The memory store honours the signal, so it finished and freed its slot.
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(store.inFlight).toBe(0);
    expect(store.has(`orthanc/${UUID}.dcm`)).toBe(false);
  });

  it("never has more than maxConcurrentRequests store calls in flight", async () => {
    store.latencyMs = 20;
    const limited = make(store, { maxConcurrentRequests: 3 });
    const uuids = Array.from(
      { length: 12 },
      (_, i) => `0a1b2c3d-4e5f-6789-abcd-${String(i).padStart(12, "0")}`,
    );
    await Promise.all(uuids.map((uuid) => limited.create(uuid, 1, Buffer.from(uuid))));
    expect(store.counts.create).toBe(12);
    expect(store.maxInFlight).toBe(3);
    expect(limited.queue).toEqual({ active: 0, pending: 0 });
  });

  it("counts queueing time against the deadline", async () => {
    store.latencyMs = 200;
    const limited = make(store, { maxConcurrentRequests: 1, operationTimeoutMs: 5_000 });
    const first = limited.create(UUID, 1, Buffer.from("a"));
    const second = limited.create(OTHER, 1, Buffer.from("b"), { timeoutInMs: 50 });
    const secondError = await failure(second);
    expect(secondError.code).toBe("timeout");
    expect(store.counts.create).toBe(1); // the second never reached the store
    await first;
    expect(store.counts.create).toBe(1);
    expect(store.has(`orthanc/${OTHER}.dcm`)).toBe(false);
  });

  it("wraps a non-StorageError from the store as internal", async () => {
    store.failNext("read", new TypeError("cannot read properties of undefined"));
    const error = await failure(service.readWhole(UUID, 1));
    expect(error.code).toBe("internal");
    expect(error.message).toBe(
      `read orthanc/${UUID}.dcm: unexpected error: cannot read properties of undefined`,
    );
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it("passes StorageErrors from the store through unchanged", async () => {
    const injected = new StorageError("unavailable", "delete x: cannot reach the storage service");
    store.failNext("delete", injected);
    expect(await failure(service.remove(UUID, 1))).toBe(injected);
  });

  it("propagates a failure of the comparison read during an idempotent create", async () => {
    await service.create(UUID, 1, Buffer.from("abc"));
    store.failNext("read", new StorageError("unavailable", "read: service down"));
    expect((await failure(service.create(UUID, 1, Buffer.from("abc")))).code).toBe("unavailable");
  });
});
