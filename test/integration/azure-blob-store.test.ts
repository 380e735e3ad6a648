import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RequestSettings, StorageAuth } from "../../src/config/types.ts";
import { StorageError } from "../../src/errors.ts";
import { AzureBlobStore, type AzureBlobStoreOptions } from "../../src/storage/azure-blob-store.ts";
import { storageFailure } from "../support/assertions.ts";
import { type AzuriteInstance, startAzurite } from "../support/azurite.ts";
import { describeReadRangeContract } from "../support/blob-store-range-contract.ts";
import { createRequestCounterPolicy } from "../support/request-counter-policy.ts";

const MiB = 1024 * 1024;

const REQUESTS: RequestSettings = {
  requestTimeoutMs: 30_000,
  maxRetries: 2,
  retryDelayMs: 50,
  maxRetryDelayMs: 500,
  operationTimeoutMs: 60_000,
  maxConcurrentRequests: 8,
  singleUploadThresholdBytes: 4 * MiB,
  uploadBlockSizeBytes: 2 * MiB,
  uploadConcurrency: 4,
};

const failure = storageFailure;

function containerName(): string {
  return `test-${randomUUID()}`;
}

describe("AzureBlobStore against Azurite", () => {
  let azurite: AzuriteInstance;
  let admin: BlobServiceClient;
  const stores: AzureBlobStore[] = [];

  const makeStore = (overrides: Partial<AzureBlobStoreOptions> = {}): AzureBlobStore => {
    const store = new AzureBlobStore({
      auth: { kind: "connection-string", connectionString: azurite.connectionString },
      containerName: containerName(),
      requests: REQUESTS,
      ...overrides,
    });
    stores.push(store);
    return store;
  };

  const readyStore = async (overrides: Partial<AzureBlobStoreOptions> = {}): Promise<AzureBlobStore> => {
    const store = makeStore(overrides);
    await store.initialize({ createContainerIfMissing: true });
    return store;
  };

  beforeAll(async () => {
    azurite = await startAzurite();
    admin = BlobServiceClient.fromConnectionString(azurite.connectionString);
  });

  afterAll(async () => {
    for (const store of stores) await store.close();
    await azurite?.dispose();
  });

  it("initialize creates the container when allowed, and is idempotent", async () => {
    const store = makeStore();
    expect(await admin.getContainerClient(store.containerName).exists()).toBe(false);
    await store.initialize({ createContainerIfMissing: true });
    expect(await admin.getContainerClient(store.containerName).exists()).toBe(true);
    await store.initialize({ createContainerIfMissing: true });
    await store.initialize({ createContainerIfMissing: false });
  });

  it("initialize without creation fails clearly when the container is missing", async () => {
    const store = makeStore();
    const error = await failure(store.initialize({ createContainerIfMissing: false }));
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `Container "${store.containerName}" does not exist and AzureBlobStorage.CreateContainerIfNotExists is false`,
    );
    expect(await admin.getContainerClient(store.containerName).exists()).toBe(false);
  });

  it("reports operations on a missing container as unavailable, naming the container", async () => {
    const store = makeStore();
    const error = await failure(store.create("a.dcm", Buffer.from("x")));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain(`container "${store.containerName}" does not exist`);
    expect(error.message).toMatch(/\(HTTP 404, ContainerNotFound\)$/);
    const deletion = await failure(store.delete("a.dcm"));
    expect(deletion.code).toBe("unavailable");
  });

  it("replaces metadata only while the ETag is the one read, and never the body", async () => {
    const store = await readyStore();
    const data = randomBytes(5000);
    await store.create("m/one.dcm", data, { metadata: { plugin_format: "envelope-1", keep: "me" } });
    const first = await store.getProperties("m/one.dcm");
    expect(first.etag).toMatch(/\S/);
    await store.setMetadata("m/one.dcm", { plugin_format: "envelope-2" }, { ifMatch: first.etag ?? "" });
    const second = await store.read("m/one.dcm");
    expect(second.data.equals(data)).toBe(true);
    expect(second.properties.metadata).toEqual({ plugin_format: "envelope-2" });
    expect(second.properties.etag).not.toBe(first.etag);
    // A write conditional on the old ETag is refused, and changes nothing.
    const error = await storageFailure(
      store.setMetadata("m/one.dcm", { plugin_format: "stale" }, { ifMatch: first.etag ?? "" }),
    );
    expect(error.code).toBe("changed");
    expect(error.message).toMatch(/^setMetadata m\/one\.dcm: the blob changed since it was read/);
    expect((await store.getProperties("m/one.dcm")).metadata).toEqual({ plugin_format: "envelope-2" });
    const missing = await storageFailure(store.setMetadata("m/none.dcm", {}, { ifMatch: "*" }));
    expect(missing.code).toBe("not-found");
  });

  it("creates, reads (body and metadata), reads ranges and deletes", async () => {
    const store = await readyStore();
    const data = randomBytes(100_000);
    const metadata = { orthanc_uuid: "u", orthanc_content_type: "1", plugin_format: "plain-1" };
    await store.create("p/one.dcm", data, { metadata });

    const whole = await store.read("p/one.dcm");
    expect(whole.data.equals(data)).toBe(true);
    // Last-Modified comes with every read of the properties (the read policy's cutoff uses it).
    const properties = {
      contentLength: data.length,
      metadata,
      lastModified: whole.properties.lastModified,
      etag: whole.properties.etag,
    };
    expect(whole.properties.etag).toMatch(/\S/);
    expect(whole.properties.lastModified).toBeInstanceOf(Date);
    expect(whole.properties).toEqual(properties);
    expect(await store.getProperties("p/one.dcm")).toEqual(properties);

    const range = await store.readRange("p/one.dcm", 5000, 20_000);
    expect(range.data.equals(data.subarray(5000, 25_000))).toBe(true);
    expect(range.properties).toEqual(properties);

    expect(await store.delete("p/one.dcm")).toEqual({ existed: true });
    expect((await failure(store.read("p/one.dcm"))).code).toBe("not-found");
    expect(await store.delete("p/one.dcm")).toEqual({ existed: false });
  });

  it("stores and reads an empty blob", async () => {
    const store = await readyStore();
    await store.create("empty", Buffer.alloc(0));
    const blob = await store.read("empty");
    expect(blob.data.length).toBe(0);
    expect(blob.properties.contentLength).toBe(0);
    expect((await store.readRange("empty", 0, 1)).data.length).toBe(0);
  });

  it("never overwrites: a second create fails with already-exists and keeps the first bytes", async () => {
    const store = await readyStore();
    await store.create("same", Buffer.from("first"));
    const error = await failure(store.create("same", Buffer.from("second")));
    expect(error.code).toBe("already-exists");
    expect(error.message).toMatch(
      /^create same: a blob already exists under this name \(HTTP 409, BlobAlreadyExists\)$/,
    );
    expect((await store.read("same")).data.toString()).toBe("first");
  });

  it("maps missing blobs to not-found for every read operation", async () => {
    const store = await readyStore();
    const read = await failure(store.read("missing.dcm"));
    expect(read.code).toBe("not-found");
    expect(read.message).toBe("read missing.dcm: blob not found (HTTP 404, BlobNotFound)");
    expect((await failure(store.readRange("missing.dcm", 0, 10))).code).toBe("not-found");
    expect((await failure(store.getProperties("missing.dcm"))).code).toBe("not-found");
  });

  // Ranges beyond the end: the codec checks them against the size readRange returns
  // (test/unit/attachments/attachment-codec.test.ts); the store clips them.
  describeReadRangeContract(readyStore);

  it("reads a whole blob with exactly one GET and a range with one ranged GET", async () => {
    const counter = createRequestCounterPolicy();
    const store = await readyStore({ additionalPolicies: [counter.policy] });
    await store.create("one-get", randomBytes(3 * MiB));
    counter.reset();
    expect((await store.read("one-get")).data.length).toBe(3 * MiB);
    expect(counter.counts).toEqual({ GET: 1 });
    counter.reset();
    expect((await store.readRange("one-get", MiB, MiB)).data.length).toBe(MiB);
    expect(counter.counts).toEqual({ GET: 1 });
  });

  it("uploads a small blob with a single Put Blob", async () => {
    const counter = createRequestCounterPolicy();
    const store = await readyStore({ additionalPolicies: [counter.policy] });
    counter.reset();
    await store.create("small", randomBytes(4 * MiB));
    expect(counter.operations).toEqual({ PUT: 1 });
  });

  it("uploads a 40 MiB blob in blocks with one block-list commit, and reads it back byte-identical", async () => {
    const counter = createRequestCounterPolicy();
    const store = await readyStore({ additionalPolicies: [counter.policy] });
    const data = randomBytes(40 * MiB);
    counter.reset();
    await store.create("big.dcm", data, { metadata: { plugin_format: "plain-1" } });
    expect(counter.operations).toEqual({ "PUT block": 20, "PUT blocklist": 1 });

    counter.reset();
    const back = await store.read("big.dcm");
    expect(counter.counts).toEqual({ GET: 1 });
    expect(back.data.length).toBe(data.length);
    expect(back.data.equals(data)).toBe(true);
    expect(back.properties.metadata).toEqual({ plugin_format: "plain-1" });

    // The commit is conditional too: a second large create must not replace the blob.
    const error = await failure(store.create("big.dcm", randomBytes(40 * MiB)));
    expect(error.code).toBe("already-exists");
    expect(
      (await store.readRange("big.dcm", 20 * MiB, 64)).data.equals(data.subarray(20 * MiB, 20 * MiB + 64)),
    ).toBe(true);
  });

  it("honours abortSignal and timeoutInMs with a timeout error", async () => {
    const store = await readyStore();
    await store.create("t", Buffer.from("x"));
    const controller = new AbortController();
    controller.abort();
    const aborted = await failure(store.read("t", { abortSignal: controller.signal }));
    expect(aborted.code).toBe("timeout");
    expect(aborted.message).toBe("read t: aborted by the caller");
    const timedOut = await failure(store.create("big", randomBytes(40 * MiB), { timeoutInMs: 1 }));
    expect(timedOut.code).toBe("timeout");
    expect(timedOut.message).toBe("create big: deadline of 1 ms passed");
  });

  it("authenticates with an account URL and SAS token", async () => {
    const credential = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse("rwdlac"),
        resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
        services: AccountSASServices.parse("b").toString(),
        protocol: SASProtocol.HttpsAndHttp,
      },
      credential,
    ).toString();
    const auth: StorageAuth = { kind: "sas", accountUrl: azurite.accountUrl, sasToken: sas };
    const store = await readyStore({ auth });
    expect(store.description).not.toContain("sig=");
    await store.create("sas.dcm", Buffer.from("via sas"));
    expect((await store.read("sas.dcm")).data.toString()).toBe("via sas");
    expect(await store.delete("sas.dcm")).toEqual({ existed: true });

    const denied = new AzureBlobStore({
      auth: { kind: "sas", accountUrl: azurite.accountUrl, sasToken: sas.replace(/sig=[^&]+/, "sig=AAAA") },
      containerName: store.containerName,
      requests: REQUESTS,
    });
    const error = await failure(denied.read("sas.dcm"));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("access denied");
    expect(error.message).not.toContain("AAAA");
  });

  it("accepts the UseDevelopmentStorage=true shortcut", () => {
    const store = new AzureBlobStore({
      auth: { kind: "connection-string", connectionString: "UseDevelopmentStorage=true" },
      containerName: "dev",
      requests: REQUESTS,
    });
    expect(store.description).toBe(
      'Azure Blob Storage container "dev" at http://127.0.0.1:10000/devstoreaccount1',
    );
  });

  it("rejects a malformed connection string without echoing it", () => {
    let caught: unknown;
    try {
      new AzureBlobStore({
        auth: { kind: "connection-string", connectionString: "AccountKey=TOPSECRET;nonsense" },
        containerName: "c",
        requests: REQUESTS,
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StorageError);
    expect((caught as StorageError).code).toBe("invalid-argument");
    expect((caught as StorageError).message).not.toContain("TOPSECRET");
  });

  it("gives up with a per-try timeout, retrying, when the service accepts connections but never answers", async () => {
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    try {
      const counter = createRequestCounterPolicy();
      const store = makeStore({
        auth: {
          kind: "connection-string",
          connectionString: `DefaultEndpointsProtocol=http;AccountName=${azurite.accountName};AccountKey=${azurite.accountKey};BlobEndpoint=http://127.0.0.1:${address.port}/${azurite.accountName};`,
        },
        requests: { ...REQUESTS, requestTimeoutMs: 200, maxRetries: 1, retryDelayMs: 10 },
        additionalPolicies: [counter.policy],
      });
      const started = Date.now();
      const error = await failure(store.read("x"));
      expect(error.code).toBe("timeout");
      expect(error.message).toBe("read x: no answer from the storage service in time (TIMEOUT)");
      expect(counter.counts).toEqual({ GET: 2 });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("reports a stopped service as unavailable quickly, and works again after a restart", async () => {
    const store = await readyStore({
      requests: {
        ...REQUESTS,
        requestTimeoutMs: 2_000,
        maxRetries: 2,
        retryDelayMs: 20,
        maxRetryDelayMs: 100,
      },
    });
    await store.create("survivor", Buffer.from("still here"));
    await azurite.stop();
    try {
      const started = Date.now();
      const error = await failure(store.read("survivor"));
      expect(error.code).toBe("unavailable");
      expect(error.message).toMatch(/^read survivor: cannot reach the storage service: .*\(ECONNREFUSED\)$/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await azurite.restart();
    }
    expect((await store.read("survivor")).data.toString()).toBe("still here");
  });
});
