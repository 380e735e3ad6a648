import { describeError, StorageError } from "../errors.ts";
import { releaseAfterLargeAttachment } from "../memory-release.ts";
import {
  type NativeBinding,
  type NativeRequestHandler,
  type NativeRestRoute,
  Operation,
} from "./native-binding.ts";
import type { CountedOperation, OperationStats } from "./operation-stats.ts";
import { BridgeStatus, statusForError } from "./status-codes.ts";

/** What the bridge needs from the storage service. */
export interface StorageOperations {
  /** `consumeInput`: `data` is handed over (encryption may reuse its memory). */
  create(
    uuid: string,
    contentType: number,
    data: Buffer,
    options?: { consumeInput?: boolean },
  ): Promise<void>;
  readWhole(uuid: string, contentType: number): Promise<Buffer>;
  readRange(uuid: string, contentType: number, offset: number, length: number): Promise<Buffer>;
  remove(uuid: string, contentType: number): Promise<void>;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface RestRequest {
  method: HttpMethod;
  path: string;
  body: Buffer;
}

export type RestResponse = { found: false } | { found: true; body: unknown };
export type RestHandler = (request: RestRequest) => Promise<RestResponse>;

/** OrthancPluginHttpMethod values. */
const HTTP_METHODS: Readonly<Record<number, HttpMethod>> = { 1: "GET", 2: "POST", 3: "PUT", 4: "DELETE" };

export interface RequestHandlerOptions {
  storage: StorageOperations;
  rest: RestHandler;
  complete: NativeBinding["complete"];
  /** AzureBlobStorage.EnableTestingEndpoints: Echo is answered only then. */
  testingEndpoints: boolean;
  stats?: OperationStats | undefined;
  /** Answers Operation.Shutdown: releases keys, workers and store before the runtime stops. */
  dispose?: (() => Promise<void>) | undefined;
}

/** Why an Echo (the hop benchmark) is refused; the route answers 403 with it. */
export const TESTING_DISABLED_MESSAGE =
  "testing endpoints are disabled (AzureBlobStorage.EnableTestingEndpoints)";

const COUNTED: Readonly<Record<number, CountedOperation>> = {
  [Operation.Create]: "create",
  [Operation.ReadWhole]: "readWhole",
  [Operation.ReadRange]: "readRange",
  [Operation.Remove]: "remove",
};

/**
 * Turns each native request into exactly one complete() call. Errors cross the boundary
 * as {status, message}; nothing here throws back into the shim.
 */
export function createRequestHandler(options: RequestHandlerOptions): NativeRequestHandler {
  const { storage, rest, complete, testingEndpoints, stats, dispose } = options;

  const perform = async (
    operation: number,
    uuid: string,
    contentType: number,
    offset: number,
    length: number,
    data: Buffer | undefined,
    route: NativeRestRoute | undefined,
  ): Promise<{ status: BridgeStatus; data?: Buffer }> => {
    switch (operation) {
      case Operation.Create:
        // The input is the shim's private copy: encryption may take it over.
        await storage.create(uuid, contentType, data ?? Buffer.alloc(0), { consumeInput: true });
        return { status: BridgeStatus.Ok };
      case Operation.ReadWhole:
        return { status: BridgeStatus.Ok, data: await storage.readWhole(uuid, contentType) };
      case Operation.ReadRange:
        return { status: BridgeStatus.Ok, data: await storage.readRange(uuid, contentType, offset, length) };
      case Operation.Remove:
        await storage.remove(uuid, contentType);
        return { status: BridgeStatus.Ok };
      case Operation.Rest: {
        const method = route === undefined ? undefined : HTTP_METHODS[route.method];
        if (route === undefined || method === undefined) return { status: BridgeStatus.NotFound };
        const response = await rest({ method, path: route.path, body: data ?? Buffer.alloc(0) });
        if (!response.found) return { status: BridgeStatus.NotFound };
        return { status: BridgeStatus.Ok, data: Buffer.from(JSON.stringify(response.body, null, 2)) };
      }
      default:
        throw new StorageError(
          "internal",
          `Expected an operation code from 0 to ${Operation.Shutdown} but received ${operation}`,
        );
    }
  };

  return (id, operation, uuid, contentType, offset, length, data, route) => {
    if (operation === Operation.Echo) {
      // Answered synchronously, without storage or stats: the hop benchmark measures the bridge alone.
      if (!testingEndpoints) complete(id, BridgeStatus.Failure, TESTING_DISABLED_MESSAGE);
      else complete(id, BridgeStatus.Ok, "", data ?? Buffer.alloc(0));
      return;
    }
    if (operation === Operation.Shutdown) {
      // No counters: the plugin is stopping, and the shim waits only briefly.
      Promise.resolve()
        .then(() => dispose?.())
        .then(
          () => complete(id, BridgeStatus.Ok, ""),
          (error: unknown) => complete(id, statusForError(error), describeError(error)),
        );
      return;
    }
    const counted = COUNTED[operation];
    // Read now: a create's input may be moved to a crypto worker, which empties `data`.
    const inputLength = data?.length ?? 0;
    perform(operation, uuid, contentType, offset, length, data, route).then(
      (result) => {
        if (counted !== undefined) stats?.record(counted, true, result.data?.length ?? inputLength);
        complete(id, result.status, "", result.data);
        releaseAfterLargeAttachment(Math.max(result.data?.length ?? 0, inputLength));
      },
      (error: unknown) => {
        if (counted !== undefined) stats?.record(counted, false, 0);
        complete(id, statusForError(error), describeError(error));
        releaseAfterLargeAttachment(inputLength);
      },
    );
  };
}
