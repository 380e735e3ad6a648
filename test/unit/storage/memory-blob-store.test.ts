import { describe, expect, it } from "vitest";
import { MemoryBlobStore } from "../../../src/storage/memory-blob-store.ts";
import { storageFailure } from "../../support/assertions.ts";
import { describeReadRangeContract } from "../../support/blob-store-range-contract.ts";

const failure = storageFailure;

describeReadRangeContract(async () => new MemoryBlobStore());

describe("MemoryBlobStore (the test double itself)", () => {
  it("never overwrites and copies bytes in and out", async () => {
    const store = new MemoryBlobStore();
    const data = Buffer.from("abc");
    await store.create("n", data);
    data.write("xyz");
    const error = await failure(store.create("n", Buffer.from("other")));
    expect(error.code).toBe("already-exists");
    const read = await store.read("n");
    read.data.write("zzz");
    expect(store.peek("n")?.toString()).toBe("abc");
    expect(store.counts.create).toBe(2);
    expect(store.counts.read).toBe(1);
  });

  it("counts a range read as readRange, failed calls included", async () => {
    const store = new MemoryBlobStore();
    store.put("n", Buffer.from("0123456789"));
    expect((await store.readRange("n", 7, 4)).data.toString()).toBe("789");
    expect((await failure(store.readRange("missing", 0, 1))).code).toBe("not-found");
    expect(store.counts.readRange).toBe(2);
  });

  it("injects failures once per failNext call", async () => {
    const store = new MemoryBlobStore();
    const injected = new Error("injected");
    store.failNext("delete", injected);
    await expect(store.delete("n")).rejects.toBe(injected);
    await expect(store.delete("n")).resolves.toEqual({ existed: false });
    expect(store.counts.delete).toBe(2);
  });

  it("honours abortSignal and timeoutInMs", async () => {
    const store = new MemoryBlobStore({ latencyMs: 5_000 });
    const timedOut = await failure(store.read("n", { timeoutInMs: 10 }));
    expect(timedOut.code).toBe("timeout");
    expect(timedOut.message).toBe("read n: deadline of 10 ms passed");
    const controller = new AbortController();
    const pending = store.create("n", Buffer.from("x"), { abortSignal: controller.signal });
    controller.abort();
    expect((await failure(pending)).code).toBe("timeout");
    expect(store.has("n")).toBe(false);
  });

  it("fails initialize for a missing container unless creation is allowed", async () => {
    const store = new MemoryBlobStore({ containerExists: false, containerName: "c" });
    const error = await failure(store.initialize());
    expect(error.message).toBe(
      'Container "c" does not exist and AzureBlobStorage.CreateContainerIfNotExists is false',
    );
    expect((await failure(store.read("n"))).code).toBe("unavailable");
    await store.initialize({ createContainerIfMissing: true });
    expect((await failure(store.read("n"))).code).toBe("not-found");
  });
});
