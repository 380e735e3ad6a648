/**
 * Attachments larger than the embedded runtime's largest Buffer (node::Buffer::kMaxLength, 4 GiB
 * on Node 18). Asking Node for a bigger Buffer is a fatal V8 check that aborts Orthanc whatever
 * catches it, so the shim refuses such an attachment before it copies it (native/buffer_limit.h)
 * and Orthanc answers an error instead of crashing.
 *
 * Through Orthanc, as a user would: a user-defined attachment (no DICOM parsing), its body
 * streamed from a generator (this process never holds it), and the in-memory store (no Azurite).
 * Orthanc 1.10.1 itself takes such a body (without the plugin it stores it on disk), so the size
 * does reach the create callback. Orthanc holds the body once while it calls the plugin: about
 * 4 GiB of memory and 10 s here, which the test prints.
 */
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/bridge/status-report.ts";
import { generateCt } from "../support/dicom.ts";
import {
  getBuffer,
  getJson,
  type OrthancInstance,
  startOrthanc,
  uploadInstance,
} from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection, putBuffer } from "../support/plugin.ts";

/** OrthancPluginErrorCode_StorageAreaPlugin (native/error_map.h maps TooLarge to it). */
const ORTHANC_STORAGE_AREA_PLUGIN = 32;
/** Spare bytes after a create input (kInputRoom in native/bridge_types.h). */
const INPUT_ROOM = 16;
/** A user-defined content type, named in Orthanc's UserContentType. */
const CONTENT_TYPE = 1025;
const NAME = "oversized";
/** The same chunk, sent again and again: the test process never holds the body. */
const CHUNK = Buffer.alloc(16 * 1024 * 1024, 0x5a);

let orthanc: OrthancInstance;
let instanceId: string;

function* bodyOf(size: number): Generator<Buffer> {
  for (let left = size; left > 0; left -= CHUNK.length) {
    yield left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
  }
}

/** PUT with a Content-Length and a streamed body; Orthanc reads the whole body before it answers. */
function putStreamed(url: string, size: number): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((done, reject) => {
    const put = request(url, {
      method: "PUT",
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) },
    });
    put.once("response", (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (piece: string) => {
        text += piece;
      });
      response.once("end", () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = { text };
        }
        done({ status: response.statusCode ?? 0, body });
      });
      response.once("error", reject);
    });
    put.once("error", reject);
    pipeline(Readable.from(bodyOf(size)), put).catch(reject);
  });
}

/** VmHWM of /proc/<pid>/status: the most memory the process has held, in KiB. */
function maxResidentKiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match?.[1] === undefined) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

/** Why a PUT got no answer: whether Orthanc died (and how), with what it printed last. */
async function explain(error: unknown): Promise<Error> {
  const exit = await Promise.race([
    orthanc.exited,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000)),
  ]);
  const how = exit === undefined ? "is still running" : `exited (signal ${exit.signal}, code ${exit.code})`;
  // A V8 abort prints "FATAL ERROR: ..." and a stack on stderr, after the log file's lines.
  const lines = orthanc.log().split("\n");
  const stderr = lines.indexOf("--- Orthanc stdout/stderr ---");
  const shown = stderr >= 0 ? lines.slice(stderr, stderr + 4) : lines.slice(-8);
  return new Error(`the PUT got no answer (${String(error)}); Orthanc ${how}:\n${shown.join("\n")}`);
}

async function status(): Promise<StatusReport> {
  return getJson<StatusReport>(`${orthanc.url}/azure-blob-storage/status`);
}

async function attachmentNames(): Promise<string[]> {
  return getJson<string[]>(`${orthanc.url}/instances/${instanceId}/attachments`);
}

beforeAll(async () => {
  orthanc = await startOrthanc({
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection("UseDevelopmentStorage=true", { InMemoryStoreForTesting: true }),
    extraConfig: {
      UserContentType: { [NAME]: CONTENT_TYPE },
      // Orthanc would hash the whole body first: seconds of CPU that prove nothing here.
      StoreMD5ForAttachments: false,
    },
  });
  instanceId = (await uploadInstance(orthanc.url, generateCt({ seed: 71 }).bytes)).ID;
});

afterAll(async () => {
  await orthanc?.stop();
});

describe("an attachment larger than the runtime's largest Buffer", () => {
  it("is refused by the shim before any copy: Orthanc answers an error, logs the limit, stores nothing, and keeps serving", async () => {
    const before = await status();
    const limit = before.runtime.maxAttachmentBytes;
    expect(
      limit,
      "Node 18's Buffers hold at most 2^32 bytes; a runtime that raises that needs another way to reach the limit",
    ).toBe(2 ** 32 - INPUT_ROOM);
    // One byte over the Buffer limit itself: the size that made V8 abort Orthanc before the check.
    const size = limit + INPUT_ROOM + 1;
    const residentBefore = maxResidentKiB(orthanc.pid);

    const started = Date.now();
    const answer = await putStreamed(
      `${orthanc.url}/instances/${instanceId}/attachments/${NAME}`,
      size,
    ).catch(async (error: unknown) => {
      throw await explain(error);
    });
    const seconds = (Date.now() - started) / 1000;
    const residentGiB = maxResidentKiB(orthanc.pid) / 2 ** 20;

    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ OrthancStatus: ORTHANC_STORAGE_AREA_PLUGIN });
    await orthanc.waitForLog(/create failed for attachment .*: the attachment is/);
    const line = orthanc
      .log()
      .split("\n")
      .find((text) => text.includes("create failed for attachment"));
    console.log(
      `${line}\nPUT of ${size} bytes refused in ${seconds.toFixed(1)} s; Orthanc's VmHWM ` +
        `${residentGiB.toFixed(2)} GiB (${(residentBefore / 2 ** 20).toFixed(2)} GiB before)`,
    );
    expect(line).toMatch(
      new RegExp(
        `AzureBlobStorage: create failed for attachment [0-9a-f-]{36} \\(content type \\d+\\): the attachment is ${size} bytes, more than the ${limit} bytes the embedded runtime can hold$`,
      ),
    );
    // Orthanc holds the body once; the shim's copy for JS would be a second.
    expect(residentGiB).toBeLessThan((1.5 * size) / 2 ** 30);

    // Nothing stored or indexed: JS never saw the call, and the instance has no such attachment.
    const after = await status();
    expect(after.operations.create.calls).toBe(before.operations.create.calls);
    expect(after.runtime.restarts).toBe(before.runtime.restarts);
    expect(await attachmentNames()).not.toContain(NAME);

    // Orthanc is still up, and a normal upload of the same kind still works.
    expect((await getJson<{ Version: string }>(`${orthanc.url}/system`)).Version).toBe("1.10.1");
    const small = Buffer.from("a small attachment of the same user-defined type");
    await putBuffer(`${orthanc.url}/instances/${instanceId}/attachments/${NAME}`, small);
    expect(await attachmentNames()).toContain(NAME);
    expect(await getBuffer(`${orthanc.url}/instances/${instanceId}/attachments/${NAME}/data`)).toEqual(small);
  }, 300_000);
});
