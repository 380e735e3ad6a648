/**
 * BlobStore over @azure/storage-blob: client construction, the pipeline's per-try policies and
 * the operations. Every failure leaves through mapAzureError (azure-errors.ts), the only place
 * that knows Azure's error shapes; response bodies are read by read-body.ts.
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
import { field, oneLine, safeUrl } from "../azure/sdk-errors.ts";
import type { RequestSettings, StorageAuth } from "../config/types.ts";
import { describeError, StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { PLUGIN_VERSION } from "../version.ts";
import { isBlobNotFound, isRangeNotSatisfiable, mapAzureError, TRY_TIMEOUT_CODE } from "./azure-errors.ts";
import {
  type BlobProperties,
  type BlobStore,
  type CreateBlobOptions,
  checkRangeArguments,
  type DeleteResult,
  type DownloadedBlob,
  type SetMetadataOptions,
} from "./blob-store.ts";
import { discardBody, readBody } from "./read-body.ts";

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
  /** Extra per-try pipeline policies (tests and benchmarks: test/support/request-counter-policy.ts). */
  additionalPolicies?: readonly PipelinePolicy[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// Pipeline policies

function isCorePipeline(value: unknown): value is CorePipeline {
  return typeof field(value, "addPolicy") === "function" && typeof field(value, "sendRequest") === "function";
}

/**
 * The core pipeline shared by a service client and every container/blob client derived from it,
 * held by the client's protocol-layer context (built once per Pipeline object).
 *
 * Why a private field: @azure/storage-blob 12.34 has no public way to add a policy per try.
 * StoragePipelineOptions has no `additionalPolicies` (unlike the Key Vault clients' options), and
 * the public `new Pipeline(factories)` takes legacy RequestPolicyFactory objects, which the SDK
 * wraps into one policy placed before its retry policy (Pipeline.ts, processDownlevelPipeline):
 * they would run once per operation, so a per-try timeout could never end one silent try and let
 * the retry policy try again (the SDK places a factory after Retry only when its class is named
 * "InjectorPolicyFactory": name sniffing, not an API). If a new SDK version moves the field,
 * every store fails at construction with the message below, never silently without its timeout.
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
// Range responses

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
          ...writeStampOf(response),
        },
      };
    });
  }

  async readRange(
    name: string,
    offset: number,
    length: number,
    options: OperationOptions = {},
  ): Promise<DownloadedBlob> {
    checkRangeArguments(name, offset, length);
    return this.#run("readRange", name, options, async (abortSignal) => {
      const blob = this.#container.getBlobClient(name);
      let response: Awaited<ReturnType<typeof blob.download>>;
      try {
        response = await blob.download(offset, length, { abortSignal });
      } catch (error) {
        if (!isRangeNotSatisfiable(error)) throw error;
        // The range starts at or beyond the end: nothing to return but the properties.
        const properties = await blob.getProperties({ abortSignal });
        return {
          data: Buffer.alloc(0),
          properties: {
            contentLength: properties.contentLength ?? 0,
            metadata: { ...properties.metadata },
            ...writeStampOf(properties),
          },
        };
      }
      const wholeBlob = response.contentRange === undefined && response._response.status === 200;
      const size = wholeBlob ? response.contentLength : sizeFromContentRange(response.contentRange);
      if (size === undefined) {
        discardBody(response.readableStreamBody);
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
      return {
        data,
        properties: { contentLength: size, metadata: { ...response.metadata }, ...writeStampOf(response) },
      };
    });
  }

  async getProperties(name: string, options: OperationOptions = {}): Promise<BlobProperties> {
    return this.#run("getProperties", name, options, async (abortSignal) => {
      const properties = await this.#container.getBlobClient(name).getProperties({ abortSignal });
      if (properties.contentLength === undefined) {
        throw new StorageError("internal", `getProperties ${name}: the response has no Content-Length`);
      }
      return {
        contentLength: properties.contentLength,
        metadata: { ...properties.metadata },
        ...writeStampOf(properties),
      };
    });
  }

  async setMetadata(
    name: string,
    metadata: Readonly<Record<string, string>>,
    options: SetMetadataOptions,
  ): Promise<void> {
    await this.#run("setMetadata", name, options, async (abortSignal) => {
      await this.#container
        .getBlobClient(name)
        .setMetadata({ ...metadata }, { abortSignal, conditions: { ifMatch: options.ifMatch } });
    });
  }

  async delete(name: string, options: OperationOptions = {}): Promise<DeleteResult> {
    return this.#run("delete", name, options, async (abortSignal) => {
      try {
        await this.#container.getBlobClient(name).delete({ abortSignal, deleteSnapshots: "include" });
        return { existed: true };
      } catch (error) {
        if (isBlobNotFound(error)) return { existed: false };
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

/**
 * Last-Modified (the read policy's cutoff compares it) and ETag (conditional writes name it),
 * both set by the service on every write.
 */
function writeStampOf(response: { lastModified?: Date | undefined; etag?: string | undefined }): {
  lastModified?: Date;
  etag?: string;
} {
  return {
    ...(response.lastModified === undefined ? {} : { lastModified: response.lastModified }),
    ...(response.etag === undefined ? {} : { etag: response.etag }),
  };
}
