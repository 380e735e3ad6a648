/**
 * The HTTP client of the measured requests. Two implementations of one interface:
 *
 *  - "http" (default): node:http with one keep-alive agent. Cheap per request, so the numbers
 *    are Orthanc's and the storage's, not the client's.
 *  - "fetch" (BENCH_CLIENT=fetch): the test helpers of test/support/orthanc.ts, on Node's fetch
 *    (undici). On this machine, reading a 0.5 MB /file body through fetch took ~40 ms where
 *    node:http took ~1.5 ms on the same Orthanc, which would hide every storage difference.
 */
import { Agent, request } from "node:http";
import {
  deleteResource,
  getBuffer,
  getJson,
  HttpError,
  type UploadResult,
  uploadInstance,
} from "../test/support/orthanc.ts";

export type ClientKind = "http" | "fetch";

export interface BenchClient {
  readonly kind: ClientKind;
  /** POST /instances; `base` is the Orthanc URL. */
  upload(base: string, bytes: Uint8Array): Promise<UploadResult>;
  getBuffer(url: string): Promise<Buffer>;
  getJson<T>(url: string): Promise<T>;
  delete(url: string): Promise<void>;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function send(method: string, url: string, body?: Uint8Array, contentType?: string): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers["Content-Length"] = body.length;
      if (contentType !== undefined) headers["Content-Type"] = contentType;
    }
    const req = request(url, { method, agent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        const data = Buffer.concat(chunks);
        const status = response.statusCode ?? 0;
        if (status < 200 || status > 299) reject(new HttpError(method, url, status, data.toString("utf8")));
        else resolveBody(data);
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const nodeHttpClient: BenchClient = {
  kind: "http",
  async upload(base, bytes) {
    const body = await send("POST", `${base}/instances`, bytes, "application/dicom");
    return JSON.parse(body.toString("utf8")) as UploadResult;
  },
  getBuffer: (url) => send("GET", url),
  async getJson<T>(url: string): Promise<T> {
    return JSON.parse((await send("GET", url)).toString("utf8")) as T;
  },
  async delete(url) {
    await send("DELETE", url);
  },
};

const fetchClient: BenchClient = {
  kind: "fetch",
  upload: uploadInstance,
  getBuffer,
  getJson: <T>(url: string) => getJson<T>(url),
  delete: deleteResource,
};

export function benchClient(kind: string | undefined): BenchClient {
  if (kind === undefined || kind === "" || kind === "http") return nodeHttpClient;
  if (kind === "fetch") return fetchClient;
  throw new Error(`BENCH_CLIENT must be "http" or "fetch", not "${kind}"`);
}

/** Lets the process exit: closes the idle keep-alive sockets. */
export function closeBenchClients(): void {
  agent.destroy();
}
