/** Small helpers shared by the emulator's listeners. */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/** Largest request body any emulated endpoint accepts. */
const MAX_BODY_BYTES = 1024 * 1024;

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class BodyTooLargeError extends Error {}

/** Reads the whole request body (bounded). */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES)
      throw new BodyTooLargeError(`request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = Buffer.from(JSON.stringify(body));
  response.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(payload.length),
    "cache-control": "no-store",
    "x-ms-request-id": randomHex(16),
    ...headers,
  });
  response.end(payload);
}

/** Strict base64url decoding (padding tolerated); undefined when the text is not base64url. */
export function fromBase64Url(value: unknown): Buffer | undefined {
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]*={0,2}$/.test(value)) return undefined;
  if (value.replace(/=+$/, "").length % 4 === 1) return undefined;
  return Buffer.from(value, "base64url");
}

export function toBase64Url(value: Buffer): string {
  return value.toString("base64url");
}
