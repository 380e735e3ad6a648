/**
 * The plugin inside Debian's Orthanc 1.10.1, against Azurite, all on 127.0.0.1. Every
 * check here runs the bundled code in the embedded Node 18 runtime, through Orthanc.
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/bridge/status-report.ts";
import { startAzurite } from "../support/azurite.ts";
import { generateCt, generateMr, generateMultiFrame } from "../support/dicom.ts";
import {
  deleteResource,
  getBuffer,
  getJson,
  type OrthancInstance,
  postJson,
  startOrthanc,
  storescu,
  uploadInstance,
} from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection, putBuffer, waitFor } from "../support/plugin.ts";
import { scratchDirs } from "../support/scratch.ts";

const scratchDir = scratchDirs();
// OrthancPluginErrorCode values, as Orthanc reports them in REST error bodies.
const ORTHANC_INEXISTENT_FILE = 13;
const ORTHANC_TIMEOUT = 16;
const ORTHANC_CORRUPTED_FILE = 20;
const ORTHANC_STORAGE_AREA_PLUGIN = 32;

const CONTAINER = "itest";

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let orthanc: OrthancInstance;
let container: ContainerClient;

async function status(): Promise<StatusReport> {
  return (await getJson(`${orthanc.url}/azure-blob-storage/status`)) as StatusReport;
}

async function blobNames(): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat()) names.push(blob.name);
  return names.sort();
}

async function attachmentUuid(instanceId: string, attachment: string): Promise<string> {
  const info = (await getJson(`${orthanc.url}/instances/${instanceId}/attachments/${attachment}/info`)) as {
    Uuid: string;
  };
  return info.Uuid;
}

/** POST that is expected to fail; returns Orthanc's HTTP status and error body. */
async function failingUpload(bytes: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${orthanc.url}/instances`, { method: "POST", body: bytes });
  return {
    status: response.status,
    body: (await response.json().catch(() => ({}))) as Record<string, unknown>,
  };
}

async function errorOf(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return {
    status: response.status,
    body: (await response.json().catch(() => ({}))) as Record<string, unknown>,
  };
}

async function instanceCount(): Promise<number> {
  return ((await getJson(`${orthanc.url}/instances`)) as string[]).length;
}

beforeAll(async () => {
  azurite = await startAzurite();
  container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(CONTAINER);
  orthanc = await startOrthanc({
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection(azurite.connectionString, {
      ContainerName: CONTAINER,
      EnableTestingEndpoints: true,
      OperationTimeoutSeconds: 4,
      RequestTimeoutSeconds: 2,
      MaxRetries: 1,
      RetryDelayMs: 50,
      MaxRetryDelayMs: 200,
      WatchdogTimeoutSeconds: 4,
      // Small, so that the heap-limit test fills it quickly (attachments live off-heap).
      JavaScriptHeapLimitMB: 384,
    }),
  });
});

afterAll(async () => {
  await orthanc?.stop();
  await azurite?.dispose();
});

describe("storing through Orthanc", () => {
  it("stores a REST upload as one blob named after the attachment uuid, and reads it back byte-identical", async () => {
    const before = await status();
    const ct = generateCt({ seed: 1 });
    const uploaded = await uploadInstance(orthanc.url, ct.bytes);
    expect(uploaded.Status).toBe("Success");

    const uuid = await attachmentUuid(uploaded.ID, "dicom");
    const blob = container.getBlobClient(`${uuid}.dcm`);
    const properties = await blob.getProperties();
    expect(properties.contentLength).toBe(ct.bytes.length);
    expect(properties.metadata).toMatchObject({ orthanc_uuid: uuid, orthanc_content_type: "1" });
    expect(Buffer.compare(await blob.downloadToBuffer(), ct.bytes)).toBe(0);

    // readRange is offered, so Orthanc writes no second "until pixel data" attachment.
    expect((await blobNames()).filter((n) => n.startsWith(uuid))).toEqual([`${uuid}.dcm`]);
    const after = await status();
    expect(after.operations.create.calls - before.operations.create.calls).toBe(1);

    const file = await getBuffer(`${orthanc.url}/instances/${uploaded.ID}/file`);
    expect(Buffer.compare(file, ct.bytes)).toBe(0);
  });

  it("serves /tags through readRange, not a whole read", async () => {
    const mr = generateMr({ seed: 2 });
    const uploaded = await uploadInstance(orthanc.url, mr.bytes);
    const before = await status();
    const tags = (await getJson(`${orthanc.url}/instances/${uploaded.ID}/tags?simplify`)) as Record<
      string,
      string
    >;
    expect(tags.PatientID).toBe(mr.patientId);
    expect(tags.SOPInstanceUID).toBe(mr.sopInstanceUid);
    const after = await status();
    expect(after.operations.readRange.calls - before.operations.readRange.calls).toBe(1);
    expect(after.operations.readWhole.calls - before.operations.readWhole.calls).toBe(0);
  });

  it("stores a DICOM C-STORE from storescu", async () => {
    const dir = scratchDir("oabs-storescu-");
    const mr = generateMr({ seed: 3 });
    const file = join(dir, "mr.dcm");
    writeFileSync(file, mr.bytes);
    const result = await storescu({ port: orthanc.dicomPort, aet: orthanc.aet, files: [file] });
    expect(result.code, result.stderr).toBe(0);
    // /tools/lookup takes the raw identifier as its body, not JSON.
    const lookup = await fetch(`${orthanc.url}/tools/lookup`, { method: "POST", body: mr.sopInstanceUid });
    const found = (await lookup.json()) as Array<{ ID: string }>;
    expect(found).toHaveLength(1);
    const id = found[0]?.ID ?? "";
    const uuid = await attachmentUuid(id, "dicom");
    const stored = await container.getBlobClient(`${uuid}.dcm`).downloadToBuffer();
    const served = await getBuffer(`${orthanc.url}/instances/${id}/file`);
    expect(Buffer.compare(served, stored)).toBe(0);
    // The network transfer rewrites the file meta header; the pixel data arrives intact.
    const pixels = mr.bytes.subarray(mr.pixelDataOffset);
    expect(Buffer.compare(served.subarray(served.length - pixels.length), pixels)).toBe(0);
  });

  it("treats a duplicate upload as already stored, keeping one blob and the original bytes", async () => {
    const ct = generateCt({ seed: 4 });
    const first = await uploadInstance(orthanc.url, ct.bytes);
    const blobsBefore = await blobNames();
    const second = await uploadInstance(orthanc.url, ct.bytes);
    expect(second.Status).toBe("AlreadyStored");
    expect(second.ID).toBe(first.ID);
    // Orthanc writes the duplicate, then removes it: the container ends as it was.
    expect(await blobNames()).toEqual(blobsBefore);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${first.ID}/file`), ct.bytes)).toBe(0);
  });

  it("stores and reads a custom attachment (1025)", async () => {
    const mr = generateMr({ seed: 5 });
    const uploaded = await uploadInstance(orthanc.url, mr.bytes);
    const payload = Buffer.from(JSON.stringify({ note: "custom attachment", bytes: [1, 2, 3] }));
    await putBuffer(`${orthanc.url}/instances/${uploaded.ID}/attachments/1025`, payload);
    const uuid = await attachmentUuid(uploaded.ID, "1025");
    // User-defined attachments reach the plugin as content type Unknown.
    expect(await container.getBlobClient(`${uuid}.unk`).exists()).toBe(true);
    const data = await getBuffer(`${orthanc.url}/instances/${uploaded.ID}/attachments/1025/data`);
    expect(data.toString()).toBe(payload.toString());
  });

  it("removes the blobs when the instance is deleted", async () => {
    const mr = generateMr({ seed: 6 });
    const uploaded = await uploadInstance(orthanc.url, mr.bytes);
    await putBuffer(`${orthanc.url}/instances/${uploaded.ID}/attachments/1026`, Buffer.from("extra"));
    const dicomUuid = await attachmentUuid(uploaded.ID, "dicom");
    const extraUuid = await attachmentUuid(uploaded.ID, "1026");
    await deleteResource(`${orthanc.url}/instances/${uploaded.ID}`);
    const names = await blobNames();
    expect(names).not.toContain(`${dicomUuid}.dcm`);
    expect(names).not.toContain(`${extraUuid}.unk`);
  });

  it("uploads a large multi-frame object in parallel blocks, reads it back, and serves /tags from a small range", async () => {
    const big = generateMultiFrame({ seed: 70, frames: 300, rows: 512, columns: 512 });
    expect(big.bytes.length).toBeGreaterThan(150 * 1024 * 1024);
    const { ID } = await uploadInstance(orthanc.url, big.bytes);
    const uuid = await attachmentUuid(ID, "dicom");
    const blob = container.getBlockBlobClient(`${uuid}.dcm`);
    // Above SingleUploadThresholdMB (32), the upload is staged in 8 MiB blocks, then committed.
    const blocks = await blob.getBlockList("committed");
    expect(blocks.committedBlocks?.length).toBe(Math.ceil(big.bytes.length / (8 * 1024 * 1024)));
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), big.bytes)).toBe(0);

    const before = await status();
    const tags = (await getJson(`${orthanc.url}/instances/${ID}/tags?simplify`)) as Record<string, string>;
    expect(tags.NumberOfFrames).toBe("300");
    const after = await status();
    const rangeBytes = after.operations.readRange.bytes - before.operations.readRange.bytes;
    expect(rangeBytes).toBeGreaterThan(0);
    expect(rangeBytes).toBeLessThan(big.bytes.length / 100);
  });

  it("takes 16 parallel uploaders, and every instance reads back byte-identical", async () => {
    const instances = Array.from({ length: 48 }, (_, i) => generateMr({ seed: 1000 + i }));
    let next = 0;
    const ids = new Map<number, string>();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < instances.length; i = next++) {
          const bytes = instances[i]?.bytes ?? Buffer.alloc(0);
          ids.set(i, (await uploadInstance(orthanc.url, bytes)).ID);
        }
      }),
    );
    expect(ids.size).toBe(instances.length);
    await Promise.all(
      instances.map(async (instance, i) => {
        const file = await getBuffer(`${orthanc.url}/instances/${ids.get(i)}/file`);
        expect(Buffer.compare(file, instance.bytes)).toBe(0);
      }),
    );
  });
});

describe("failures are contained", () => {
  it("rejects uploads while Azurite is down, indexes nothing, and recovers when it is back", async () => {
    const pending = [generateCt({ seed: 20 }), generateMr({ seed: 21 })];
    const countBefore = await instanceCount();
    await azurite.stop();
    try {
      for (const instance of pending) {
        const result = await failingUpload(instance.bytes);
        expect(result.status).toBe(500);
        expect(result.body.OrthancStatus).toBe(ORTHANC_STORAGE_AREA_PLUGIN);
      }
      expect(await instanceCount()).toBe(countBefore);
      await orthanc.waitForLog(
        /create failed for attachment [0-9a-f-]{36} \(content type 1\): .*unavailable|create failed for attachment [0-9a-f-]{36} \(content type 1\)/,
      );
    } finally {
      await azurite.restart();
    }
    for (const instance of pending) {
      expect((await uploadInstance(orthanc.url, instance.bytes)).Status).toBe("Success");
    }
    expect(await instanceCount()).toBe(countBefore + pending.length);
  });

  it("maps JS error kinds to Orthanc's error codes through the one table", async () => {
    const mr = generateMr({ seed: 30 });
    const { ID } = await uploadInstance(orthanc.url, mr.bytes);
    const cases: Array<[string, number]> = [
      ["not-found", ORTHANC_INEXISTENT_FILE],
      ["integrity", ORTHANC_CORRUPTED_FILE],
      ["timeout", ORTHANC_TIMEOUT],
      ["unavailable", ORTHANC_STORAGE_AREA_PLUGIN],
    ];
    for (const [code, expected] of cases) {
      await postJson(`${orthanc.url}/azure-blob-storage/testing/faults`, { fault: "fail", code });
      const result = await errorOf(`${orthanc.url}/instances/${ID}/file`);
      expect(result.status, code).not.toBe(200);
      expect(result.body.OrthancStatus, code).toBe(expected);
    }
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), mr.bytes)).toBe(0);
  });

  it("refuses a readRange answer of the wrong length", async () => {
    const mr = generateMr({ seed: 31 });
    const { ID } = await uploadInstance(orthanc.url, mr.bytes);
    await postJson(`${orthanc.url}/azure-blob-storage/testing/faults`, { fault: "short-range" });
    const result = await errorOf(`${orthanc.url}/instances/${ID}/tags`);
    expect(result.status).not.toBe(200);
    await orthanc.waitForLog(
      /readRange failed for attachment [0-9a-f-]{36} .*readRange returned \d+ bytes instead of the \d+ requested/,
    );
    expect(
      ((await getJson(`${orthanc.url}/instances/${ID}/tags?simplify`)) as Record<string, string>).PatientID,
    ).toBe(mr.patientId);
  });

  it("turns a Promise that never settles into a timeout, and keeps serving", async () => {
    await postJson(`${orthanc.url}/azure-blob-storage/testing/faults`, { fault: "hang" });
    const started = Date.now();
    const result = await failingUpload(generateCt({ seed: 40 }).bytes);
    expect(result.body.OrthancStatus).toBe(ORTHANC_TIMEOUT);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await uploadInstance(orthanc.url, generateCt({ seed: 41 }).bytes)).Status).toBe("Success");
  });

  it.each([
    ["an uncaught exception", { fault: "throw" }, /uncaught exception, restarting the JavaScript runtime/],
    ["process.exit()", { fault: "exit", code: 9 }, /JavaScript exited with code 9/],
    ["a JS thread stuck in a loop", { fault: "busy" }, /has not answered for \d+ s; terminating it/],
    [
      "the V8 heap filling up",
      { fault: "oom" },
      /near its heap limit \(\d+ MB\); terminating it so that it restarts/,
    ],
  ])("survives %s: the JS runtime restarts and storage works again", async (_name, fault, logLine) => {
    const before = await status();
    await postJson(`${orthanc.url}/azure-blob-storage/testing/faults`, fault);
    await orthanc.waitForLog(logLine, 30_000);
    const after = await waitFor(async () => {
      const s = await status().catch(() => undefined);
      return s !== undefined && s.runtime.generation > before.runtime.generation ? s : undefined;
    }, 60_000);
    expect(after.runtime.restarts).toBeGreaterThan(before.runtime.restarts);
    const ct = generateCt({ seed: 50 + after.runtime.generation });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), ct.bytes)).toBe(0);
  });

  it("serves big reads (copied out by Orthanc's threads) byte-identical, also across a runtime restart", async () => {
    const cts = [60, 61, 62].map((seed) => generateCt({ seed }));
    const ids: string[] = [];
    for (const ct of cts) ids.push((await uploadInstance(orthanc.url, ct.bytes)).ID);
    // Uncompressed: with gzip, undici may still be inflating a complete body when Orthanc closes
    // the idle keep-alive connection (Keep-Alive: timeout=1), and fails it as "terminated".
    const readAll = () =>
      Promise.all(
        Array.from({ length: 30 }, async (_, index) => {
          const which = index % cts.length;
          const response = await fetch(`${orthanc.url}/instances/${ids[which]}/file`, {
            headers: { "accept-encoding": "identity" },
          });
          return { which, status: response.status, body: Buffer.from(await response.arrayBuffer()) };
        }),
      );
    const exact = (result: { which: number; body: Buffer }) =>
      Buffer.compare(result.body, cts[result.which]?.bytes ?? Buffer.alloc(0)) === 0;

    const concurrent = await readAll();
    expect(concurrent.map((result) => result.status === 200 && exact(result))).toEqual(
      concurrent.map(() => true),
    );

    const before = await status();
    const during = readAll();
    await postJson(`${orthanc.url}/azure-blob-storage/testing/faults`, { fault: "throw" });
    // A read caught by the restart fails cleanly; every read that succeeds is exact.
    for (const result of await during) if (result.status === 200) expect(exact(result)).toBe(true);
    await waitFor(async () => {
      const s = await status().catch(() => undefined);
      return s !== undefined && s.runtime.generation > before.runtime.generation ? s : undefined;
    }, 60_000);
    const after = await readAll();
    expect(after.map((result) => result.status === 200 && exact(result))).toEqual(after.map(() => true));
  });

  it("runs JS with gc exposed, so that big attachments are released at once", async () => {
    expect((await status()).runtime.gcExposed).toBe(true);
  });

  it("keeps JS away from signals, the working directory, forks and abort", async () => {
    const probe = (await getJson(`${orthanc.url}/azure-blob-storage/testing/sandbox`)) as Record<
      string,
      string
    >;
    for (const [action, outcome] of Object.entries(probe)) {
      expect(outcome, action).toMatch(/^refused: /);
    }
    expect(Object.keys(probe).sort()).toEqual([
      "abort",
      "chdir",
      "fork",
      "killSelf",
      "signalListener",
      "spawn",
    ]);
  });
});

describe("Orthanc lifecycle", () => {
  // JS's answer to the shim's Shutdown, sent by OrthancPluginFinalize before the runtime stops.
  const DISPOSED = /AzureBlobStorage: \[js\] disposed: store closed/g;
  const disposals = (): number => orthanc.log().match(DISPOSED)?.length ?? 0;

  it("survives /tools/reset (Finalize then Initialize in the same process) and still reads old data", async () => {
    const ct = generateCt({ seed: 60 });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    const before = await status();
    expect(disposals()).toBe(0); // runtime restarts (exit, crash, hang, heap) do not dispose
    await fetch(`${orthanc.url}/tools/reset`, { method: "POST" }).catch(() => undefined);
    const after = await waitFor(async () => {
      const s = await status().catch(() => undefined);
      return s !== undefined && s.runtime.restarts === 0 && s.operations.create.calls === 0 ? s : undefined;
    }, 60_000);
    expect(after.runtime.generation).toBeGreaterThan(before.runtime.generation);
    expect(disposals()).toBe(1);
    expect(Buffer.compare(await getBuffer(`${orthanc.url}/instances/${ID}/file`), ct.bytes)).toBe(0);
    const mr = generateMr({ seed: 61 });
    expect((await uploadInstance(orthanc.url, mr.bytes)).Status).toBe("Success");
  });

  it("stops on SIGTERM exactly like Orthanc without the plugin, after JS has disposed", async () => {
    const before = disposals();
    const result = await orthanc.stop("SIGTERM");
    expect(result).toEqual({ code: 0, signal: null });
    const log = orthanc.log();
    expect(log).toMatch(/AzureBlobStorage: stopping/);
    expect(log).toMatch(/Orthanc has stopped/);
    expect(disposals()).toBe(before + 1);
    const stopping = log.lastIndexOf("AzureBlobStorage: stopping");
    const disposed = log.lastIndexOf("AzureBlobStorage: [js] disposed:");
    expect(stopping).toBeLessThan(disposed);
    expect(disposed).toBeLessThan(log.lastIndexOf("Orthanc has stopped"));
    expect(log).not.toMatch(/did not finish releasing/);
  });
});
