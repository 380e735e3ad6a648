/**
 * BlobStore over @azure/storage-blob. This file is the only place that knows Azure's error
 * shapes: mapAzureError() turns every SDK/HTTP/network failure into a StorageError whose
 * message is one line, "<operation> <blob name>: <reason> (HTTP <status>, <errorCode>)",
 * and never contains the connection string, SAS token or Authorization header.
 */
import type { Pipeline as CorePipeline, PipelinePolicy } from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/identity";
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  newPipeline,
  type StoragePipelineOptions,
} from "@azure/storage-blob";
import { abortedError, runWithDeadline } from "../async/abort.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { createChainCredential } from "../auth/credentials.ts";
import { perTryTimeoutPolicy } from "../azure/per-try-timeout-policy.ts";
import {
  classifyTransportCode,
  field,
  isCredentialError,
  oneLine,
  safeUrl,
  stringField,
  type TransportClassification,
} from "../azure/sdk-errors.ts";
import type { RequestSettings, StorageAuth } from "../config/types.ts";
import { describeError, StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { PLUGIN_VERSION } from "../version.ts";
import type {
  BlobProperties,
  BlobStore,
  CreateBlobOptions,
  DeleteResult,
  DownloadedBlob,
} from "./blob-store.ts";

export const USER_AGENT_PREFIX = `OrthancAzureBlobStorage/${PLUGIN_VERSION}`;

/** Put Blob limit the SDK accepts for a single-shot upload (BLOCK_BLOB_MAX_UPLOAD_BLOB_BYTES). */
const MAX_SINGLE_SHOT_BYTES = 256 * 1024 * 1024;

export interface AzureBlobStoreOptions {
  auth: StorageAuth;
  containerName: string;
  requests: RequestSettings;
  logger?: Logger | undefined;
  /** Used for auth kind "token-credential" instead of the default credential chain. */
  credential?: TokenCredential | undefined;
  /** Extra per-try pipeline policies (e.g. createRequestCounterPolicy() for tests/benchmarks). */
  additionalPolicies?: readonly PipelinePolicy[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Error mapping

/**
 * The code of the error perTryTimeoutPolicy throws here: @azure/storage-blob's retry policy
 * retries it, and mapAzureError reports it as a timeout.
 */
const TRY_TIMEOUT_CODE = "TIMEOUT";
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

// ---------------------------------------------------------------------------------------------
// Pipeline policies

export interface RequestCounter {
  policy: PipelinePolicy;
  /** Requests (every try) per HTTP method: { PUT: 21, GET: 1, ... }. */
  counts: Record<string, number>;
  /** Requests per "<METHOD> <comp or restype>", e.g. "PUT block", "PUT blocklist", "PUT", "GET". */
  operations: Record<string, number>;
  reset(): void;
}

/** A per-try policy that counts requests, for tests and benchmarks. */
export function createRequestCounterPolicy(): RequestCounter {
  const counts: Record<string, number> = {};
  const operations: Record<string, number> = {};
  const policy: PipelinePolicy = {
    name: "orthancRequestCounterPolicy",
    sendRequest(request, next) {
      const method = request.method.toUpperCase();
      counts[method] = (counts[method] ?? 0) + 1;
      let detail: string | null = null;
      try {
        const query = new URL(request.url).searchParams;
        detail = query.get("comp") ?? query.get("restype");
      } catch {
        detail = null;
      }
      const key = detail === null ? method : `${method} ${detail}`;
      operations[key] = (operations[key] ?? 0) + 1;
      return next(request);
    },
  };
  const reset = (): void => {
    for (const key of Object.keys(counts)) delete counts[key];
    for (const key of Object.keys(operations)) delete operations[key];
  };
  return { policy, counts, operations, reset };
}

function isCorePipeline(value: unknown): value is CorePipeline {
  return typeof field(value, "addPolicy") === "function" && typeof field(value, "sendRequest") === "function";
}

/**
 * The core pipeline shared by a service client and every container/blob client derived from it.
 * @azure/storage-blob has no public way to add a PipelinePolicy; the pipeline is built once per
 * Pipeline object and held by the client's protocol-layer context.
 */
function corePipelineOf(client: BlobServiceClient): CorePipeline {
  const pipeline = field(field(client, "storageClientContext"), "pipeline");
  if (!isCorePipeline(pipeline)) {
    throw new StorageError(
      "internal",
      "cannot add pipeline policies: @azure/storage-blob internals changed (storageClientContext.pipeline)",
    );
  }
  return pipeline;
}

// ---------------------------------------------------------------------------------------------
// Client construction

function joinSas(accountUrl: string, sasToken: string): string {
  const token = sasToken.startsWith("?") ? sasToken.slice(1) : sasToken;
  return `${accountUrl}${accountUrl.includes("?") ? "&" : "?"}${token}`;
}

function authLabel(auth: StorageAuth): string {
  switch (auth.kind) {
    case "connection-string":
      return "connection string";
    case "sas":
      return "account URL and SAS token";
    case "token-credential":
      return "account URL";
  }
}

function buildServiceClient(
  options: AzureBlobStoreOptions,
  pipelineOptions: StoragePipelineOptions,
): BlobServiceClient {
  const { auth } = options;
  try {
    switch (auth.kind) {
      case "connection-string":
        return BlobServiceClient.fromConnectionString(auth.connectionString, pipelineOptions);
      case "sas":
        return new BlobServiceClient(
          joinSas(auth.accountUrl, auth.sasToken),
          newPipeline(new AnonymousCredential(), pipelineOptions),
        );
      case "token-credential":
        return new BlobServiceClient(
          auth.accountUrl,
          options.credential ?? createChainCredential(auth.managedIdentityClientId, options.logger),
          pipelineOptions,
        );
    }
  } catch (error) {
    throw new StorageError(
      "invalid-argument",
      `cannot create the Blob Storage client from the configured ${authLabel(auth)}: ${oneLine(describeError(error))}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Reading bodies

/**
 * Reads a response body into one Buffer. With a known length the buffer is allocated once and
 * filled in place (no chunk list); a different byte count is a "short read" (unavailable).
 */
async function readBody(
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
function discard(body: NodeJS.ReadableStream | undefined): void {
  const destroy = field(body, "destroy");
  if (typeof destroy === "function") Reflect.apply(destroy, body, []);
  else body?.resume();
}

// Lenient about the range part: Azurite answers "bytes 0--1/0" for an empty blob.
const CONTENT_RANGE_PATTERN = /^bytes\s+\S*\/(\d+)$/i;

/** Total blob size from a Content-Range header ("bytes 0-99/1234", "bytes *\/1234"). */
function sizeFromContentRange(contentRange: string | undefined): number | undefined {
  const match = contentRange === undefined ? null : CONTENT_RANGE_PATTERN.exec(contentRange.trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

// ---------------------------------------------------------------------------------------------
// The store

export class AzureBlobStore implements BlobStore {
  readonly description: string;
  readonly containerName: string;
  readonly #requests: RequestSettings;
  readonly #logger: Logger | undefined;
  readonly #container: ContainerClient;
  #closed = false;

  constructor(options: AzureBlobStoreOptions) {
    const { requests } = options;
    this.containerName = options.containerName;
    this.#requests = requests;
    this.#logger = options.logger;

    // The storage retry policy turns tryTimeoutInMs into the server-side `timeout` parameter, in
    // whole seconds; below one second it would send timeout=0, which the service rejects. The
    // client-side per-try timeout is perTryTimeoutPolicy below (see ../azure/per-try-timeout-policy.ts).
    const retryOptions: NonNullable<StoragePipelineOptions["retryOptions"]> = {
      maxTries: requests.maxRetries + 1,
      retryDelayInMs: requests.retryDelayMs,
      maxRetryDelayInMs: requests.maxRetryDelayMs,
      ...(requests.requestTimeoutMs >= 1000 && { tryTimeoutInMs: requests.requestTimeoutMs }),
    };

    const serviceClient = buildServiceClient(options, {
      retryOptions,
      keepAliveOptions: { enable: true },
      userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX },
    });
    const pipeline = corePipelineOf(serviceClient);
    if (Number.isFinite(requests.requestTimeoutMs) && requests.requestTimeoutMs > 0) {
      pipeline.addPolicy(
        perTryTimeoutPolicy({
          name: "orthancPerTryTimeoutPolicy",
          timeoutMs: requests.requestTimeoutMs,
          errorCode: TRY_TIMEOUT_CODE,
        }),
        { afterPhase: "Retry" },
      );
    }
    for (const policy of options.additionalPolicies ?? []) pipeline.addPolicy(policy, { afterPhase: "Sign" });

    this.#container = serviceClient.getContainerClient(options.containerName);
    this.description = `Azure Blob Storage container "${options.containerName}" at ${safeUrl(serviceClient.url)}`;
  }

  async initialize(options: OperationOptions & { createContainerIfMissing?: boolean } = {}): Promise<void> {
    const subject = `container "${this.containerName}"`;
    await this.#run("initialize", subject, options, async (abortSignal) => {
      if (options.createContainerIfMissing === true) {
        const result = await this.#container.createIfNotExists({ abortSignal });
        this.#logger?.info(
          result.succeeded
            ? `Created ${subject} in ${this.description}`
            : `Using existing ${subject} (${this.description})`,
        );
        return;
      }
      if (!(await this.#container.exists({ abortSignal }))) {
        throw new StorageError(
          "unavailable",
          `Container "${this.containerName}" does not exist and AzureBlobStorage.CreateContainerIfNotExists is false`,
        );
      }
      this.#logger?.info(`Using existing ${subject} (${this.description})`);
    });
  }

  async create(name: string, data: Buffer, options: CreateBlobOptions = {}): Promise<void> {
    if (!Buffer.isBuffer(data)) {
      throw new StorageError("invalid-argument", `create ${name}: data must be a Buffer`);
    }
    await this.#run("create", name, options, async (abortSignal) => {
      const client = this.#container.getBlockBlobClient(name);
      const conditions = { ifNoneMatch: "*" };
      const metadata = options.metadata === undefined ? undefined : { ...options.metadata };
      const threshold = Math.min(this.#requests.singleUploadThresholdBytes, MAX_SINGLE_SHOT_BYTES);
      if (data.length <= threshold) {
        await client.upload(data, data.length, { conditions, abortSignal, ...(metadata && { metadata }) });
        return;
      }
      // uploadData slices the Buffer without copying (Buffer#slice shares memory), stages the
      // blocks with bounded concurrency and passes `conditions` to the final Put Block List only.
      await client.uploadData(data, {
        blockSize: this.#requests.uploadBlockSizeBytes,
        concurrency: this.#requests.uploadConcurrency,
        maxSingleShotSize: threshold,
        conditions,
        abortSignal,
        ...(metadata && { metadata }),
      });
    });
  }

  async read(name: string, options: OperationOptions = {}): Promise<DownloadedBlob> {
    return this.#run("read", name, options, async (abortSignal) => {
      const response = await this.#container.getBlobClient(name).download(0, undefined, { abortSignal });
      const data = await readBody(
        response.readableStreamBody,
        response.contentLength,
        "read",
        name,
        abortSignal,
      );
      return {
        data,
        properties: {
          contentLength: response.contentLength ?? data.length,
          metadata: { ...response.metadata },
        },
      };
    });
  }

  async readRange(
    name: string,
    offset: number,
    length: number,
    options: OperationOptions = {},
  ): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new StorageError(
        "invalid-argument",
        `readRange ${name}: offset and length must be non-negative safe integers but received offset=${String(offset)}, length=${String(length)}`,
      );
    }
    // A zero-length Range header cannot be expressed; check the offset against the size instead.
    const { data, properties } =
      length === 0
        ? { data: Buffer.alloc(0), properties: await this.getProperties(name, options) }
        : await this.readRangeWithProperties(name, offset, length, options);
    const size = properties.contentLength;
    if (offset + length > size) {
      throw new StorageError(
        "invalid-argument",
        `readRange ${name}: range offset=${offset} length=${length} goes beyond the end of the blob (size ${size})`,
      );
    }
    return data;
  }

  async readRangeWithProperties(
    name: string,
    offset: number,
    length: number,
    options: OperationOptions = {},
  ): Promise<DownloadedBlob> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 1) {
      throw new StorageError(
        "invalid-argument",
        `readRange ${name}: offset must be a non-negative and length a positive safe integer but received offset=${String(offset)}, length=${String(length)}`,
      );
    }
    return this.#run("readRange", name, options, async (abortSignal) => {
      const blob = this.#container.getBlobClient(name);
      let response: Awaited<ReturnType<typeof blob.download>>;
      try {
        response = await blob.download(offset, length, { abortSignal });
      } catch (error) {
        if (field(error, "statusCode") !== 416) throw error;
        // The range starts at or beyond the end: nothing to return but the properties.
        const properties = await blob.getProperties({ abortSignal });
        return {
          data: Buffer.alloc(0),
          properties: { contentLength: properties.contentLength ?? 0, metadata: { ...properties.metadata } },
        };
      }
      const wholeBlob = response.contentRange === undefined && response._response.status === 200;
      const size = wholeBlob ? response.contentLength : sizeFromContentRange(response.contentRange);
      if (size === undefined) {
        discard(response.readableStreamBody);
        throw new StorageError(
          "internal",
          `readRange ${name}: the response tells neither Content-Range nor the size`,
        );
      }
      const body = await readBody(
        response.readableStreamBody,
        response.contentLength,
        "readRange",
        name,
        abortSignal,
      );
      const end = Math.min(offset + length, size);
      const expected = Math.max(0, end - offset);
      const data = wholeBlob ? Buffer.from(body.subarray(offset, end)) : body;
      if (data.length !== expected) {
        throw new StorageError(
          "unavailable",
          `readRange ${name}: short read: received ${data.length} of ${expected} bytes at offset ${offset}`,
        );
      }
      return { data, properties: { contentLength: size, metadata: { ...response.metadata } } };
    });
  }

  async getProperties(name: string, options: OperationOptions = {}): Promise<BlobProperties> {
    return this.#run("getProperties", name, options, async (abortSignal) => {
      const properties = await this.#container.getBlobClient(name).getProperties({ abortSignal });
      if (properties.contentLength === undefined) {
        throw new StorageError("internal", `getProperties ${name}: the response has no Content-Length`);
      }
      return { contentLength: properties.contentLength, metadata: { ...properties.metadata } };
    });
  }

  async delete(name: string, options: OperationOptions = {}): Promise<DeleteResult> {
    return this.#run("delete", name, options, async (abortSignal) => {
      try {
        await this.#container.getBlobClient(name).delete({ abortSignal, deleteSnapshots: "include" });
        return { existed: true };
      } catch (error) {
        const facts = errorFacts(error);
        if (facts.status === 404 && facts.code !== "ContainerNotFound") return { existed: false };
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    // The SDK shares one HTTP agent per process (keep-alive sockets close when idle); nothing to free here.
    this.#closed = true;
  }

  /** Runs one operation under the caller's abortSignal/timeoutInMs and maps every failure. */
  async #run<T>(
    operation: string,
    subject: string,
    options: OperationOptions,
    body: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new StorageError("unavailable", `${operation} ${subject}: the store is closed`);
    return runWithDeadline(options, body, (error, signal) => {
      // A StorageError other than a timeout is the real outcome, even when the signal aborted since.
      const settled = error instanceof StorageError && error.code !== "timeout";
      if (signal.aborted && !settled) return abortedError(operation, subject, signal);
      return mapAzureError(error, operation, subject, this.containerName);
    });
  }
}
