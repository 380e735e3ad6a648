/**
 * Reading the body of a Blob Storage download (a Node readable stream) into one Buffer, and
 * dropping a body that is not wanted.
 */
import { field, oneLine } from "../azure/sdk-errors.ts";
import { describeError, StorageError } from "../errors.ts";

/**
 * Reads a response body into one Buffer. With a known length the buffer is allocated once and
 * filled in place (no chunk list); a different byte count is a "short read" (unavailable).
 * A failure of the stream after `signal` aborted is rethrown as it is, for the caller to map.
 */
export async function readBody(
  body: NodeJS.ReadableStream | undefined,
  expectedLength: number | undefined,
  operation: string,
  blobName: string,
  signal: AbortSignal,
): Promise<Buffer> {
  if (body === undefined) {
    throw new StorageError("internal", `${operation} ${blobName}: the response has no body stream`);
  }
  const target = expectedLength === undefined ? undefined : Buffer.allocUnsafe(expectedLength);
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const piece of body) {
      const chunk = typeof piece === "string" ? Buffer.from(piece) : piece;
      if (target === undefined) {
        chunks.push(chunk);
      } else {
        if (received + chunk.length > target.length) {
          throw new StorageError(
            "unavailable",
            `${operation} ${blobName}: received more than the announced ${target.length} bytes`,
          );
        }
        chunk.copy(target, received);
      }
      received += chunk.length;
    }
  } catch (error) {
    if (error instanceof StorageError || signal.aborted) throw error;
    throw new StorageError(
      "unavailable",
      `${operation} ${blobName}: short read: the transfer failed after ${received}${expectedLength === undefined ? "" : ` of ${expectedLength}`} bytes (${oneLine(describeError(error))})`,
    );
  }
  if (target === undefined) return Buffer.concat(chunks, received);
  if (received !== target.length) {
    throw new StorageError(
      "unavailable",
      `${operation} ${blobName}: short read: received ${received} of ${target.length} bytes`,
    );
  }
  return target;
}

/** Stops a response body we do not want (closing its connection). */
export function discardBody(body: NodeJS.ReadableStream | undefined): void {
  const destroy = field(body, "destroy");
  if (typeof destroy === "function") Reflect.apply(destroy, body, []);
  else body?.resume();
}
