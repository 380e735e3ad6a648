/**
 * The only place that knows Azure Blob Storage's error shapes: mapAzureError() turns every
 * SDK/HTTP/network failure into a StorageError whose message is one line,
 * "<operation> <blob name>: <reason> (HTTP <status>, <errorCode>)", and never contains the
 * connection string, SAS token or Authorization header.
 */
import {
  classifyTransportCode,
  field,
  isCredentialError,
  oneLine,
  stringField,
  type TransportClassification,
} from "../azure/sdk-errors.ts";
import { StorageError } from "../errors.ts";

/**
 * The code of the error perTryTimeoutPolicy throws in the Blob pipeline: @azure/storage-blob's
 * retry policy retries it, and mapAzureError reports it as a timeout.
 */
export const TRY_TIMEOUT_CODE = "TIMEOUT";
/** Socket timeouts and the per-try timeout are timeouts; connection and TLS failures are unreachable. */
const TRANSPORT: TransportClassification = { socketTimeout: "timeout", timeoutCodes: [TRY_TIMEOUT_CODE] };

/** A header of the HTTP response attached to an SDK error, if any. */
function responseHeader(error: unknown, name: string): string | undefined {
  const headers = field(field(error, "response"), "headers");
  const get = field(headers, "get");
  if (typeof get !== "function") return undefined;
  const value: unknown = Reflect.apply(get, headers, [name]);
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

interface ErrorFacts {
  name: string;
  message: string;
  status: number | undefined;
  /** Storage error code (x-ms-error-code / body Code) or a network/system code. */
  code: string | undefined;
}

function errorFacts(error: unknown): ErrorFacts {
  const name = stringField(error, "name") ?? "";
  const message = error instanceof Error ? error.message : (stringField(error, "message") ?? String(error));
  const statusField = field(error, "statusCode");
  const response = field(error, "response");
  const responseStatus = field(response, "status");
  const status =
    typeof statusField === "number"
      ? statusField
      : typeof responseStatus === "number"
        ? responseStatus
        : undefined;

  const code =
    stringField(field(error, "details"), "errorCode") ??
    responseHeader(error, "x-ms-error-code") ??
    stringField(error, "code");
  return { name, message, status, code };
}

function suffix(status: number | undefined, code: string | undefined): string {
  const parts: string[] = [];
  if (status !== undefined) parts.push(`HTTP ${status}`);
  if (code !== undefined) parts.push(code);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** True for the SDK error of a blob that does not exist (a 404 other than ContainerNotFound). */
export function isBlobNotFound(error: unknown): boolean {
  const { status, code } = errorFacts(error);
  return status === 404 && code !== "ContainerNotFound";
}

/** True for the SDK error of a range that starts at or past the end of the blob (HTTP 416). */
export function isRangeNotSatisfiable(error: unknown): boolean {
  return errorFacts(error).status === 416;
}

/**
 * Maps any error thrown by the Azure SDK (or the network below it) to a StorageError.
 * `operation` and `blobName` start the message; `containerName` is named when the container is missing.
 */
export function mapAzureError(
  error: unknown,
  operation: string,
  blobName: string,
  containerName?: string,
): StorageError {
  if (error instanceof StorageError) return error;
  const facts = errorFacts(error);
  const { status, code } = facts;
  const fail = (storageCode: StorageError["code"], reason: string): StorageError =>
    new StorageError(storageCode, `${operation} ${blobName}: ${reason}${suffix(status, code)}`);

  if (facts.name === "AbortError") {
    return fail("timeout", "the request was aborted (deadline passed or operation cancelled)");
  }
  if (isCredentialError(error)) {
    return fail("unavailable", `could not get an access token: ${oneLine(facts.message)}`);
  }

  if (status !== undefined) {
    if (status === 404) {
      if (code === "ContainerNotFound") {
        const which = containerName === undefined ? "the container" : `container "${containerName}"`;
        return fail("unavailable", `${which} does not exist (it was deleted or never created)`);
      }
      return fail("not-found", "blob not found");
    }
    if (status === 409 && code === "BlobAlreadyExists") {
      return fail("already-exists", "a blob already exists under this name");
    }
    if (status === 412 && operation === "create") {
      return fail("already-exists", "a blob already exists under this name");
    }
    if (status === 412) {
      return fail("changed", "the blob changed since it was read (its ETag is not the one expected)");
    }
    if (status === 401 || status === 403) {
      return fail(
        "unavailable",
        "access denied by the storage service (check the account key, the SAS token's permissions and expiry, or the identity's role assignment)",
      );
    }
    if (status === 408) return fail("timeout", "the storage service timed out the request");
    if (status >= 500) return fail("unavailable", "the storage service failed to handle the request");
    return fail("internal", `unexpected answer from the storage service: ${oneLine(facts.message)}`);
  }

  const transport = classifyTransportCode(code, TRANSPORT);
  if (transport === "timeout") return fail("timeout", "no answer from the storage service in time");
  if (transport === "unreachable") {
    return fail("unavailable", `cannot reach the storage service: ${oneLine(facts.message)}`);
  }
  return fail("internal", `unexpected error: ${oneLine(facts.message) || facts.name || "unknown"}`);
}
