import type { BridgeStatus } from "./status-codes.ts";

/**
 * Operation codes sent by the shim. Keep in step with native/bridge_types.h
 * (test/unit/bridge/native-enums.test.ts compares them).
 */
export const Operation = {
  Create: 0,
  ReadWhole: 1,
  ReadRange: 2,
  Remove: 3,
  Rest: 4,
  /** The hop benchmark's no-op (GET /azure-blob-storage/testing/hop): echoes its data. */
  Echo: 5,
  /** Sent once when the plugin stops, before the runtime does: release keys, workers and store. */
  Shutdown: 6,
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

/** The REST call behind Operation.Rest: under /azure-blob-storage/. */
export interface NativeRestRoute {
  /** OrthancPluginHttpMethod (1 GET, 2 POST, 3 PUT, 4 DELETE). */
  method: number;
  /** The path after /azure-blob-storage/, e.g. "status". */
  path: string;
}

/**
 * Called on the JS thread for every call the shim sends. It must not throw and must end
 * with exactly one complete(id, ...) call (the shim times out calls that never complete).
 * `uuid`, `contentType`, `offset` and `length` describe a storage call's attachment; `route`
 * is set for Operation.Rest only.
 */
export type NativeRequestHandler = (
  id: number,
  operation: Operation,
  uuid: string,
  contentType: number,
  offset: number,
  length: number,
  data: Buffer | undefined,
  route?: NativeRestRoute,
) => void;

export interface RuntimeInfo {
  restarts: number;
  generation: number;
  pending: number;
  /**
   * The largest attachment the shim hands to JS: the runtime's largest Buffer less the 16 spare
   * bytes of a create input (native/buffer_limit.h). Larger ones are refused before any copy.
   */
  maxAttachmentBytes: number;
}

/** The Node-API binding that the shim links into the embedded runtime. */
export interface NativeBinding {
  log(level: 0 | 1 | 2, message: string): void;
  configuration(): string;
  ready(
    handler: NativeRequestHandler,
    settings: { operationTimeoutMs: number; watchdogTimeoutMs: number },
  ): void;
  startupFailed(message: string): void;
  complete(id: number, status: BridgeStatus, message: string, data?: Buffer): boolean;
  runtimeInfo(): RuntimeInfo;
}

/** Keep in step with kBindingName in native/bindings.h. */
export const NATIVE_BINDING_NAME = "orthanc_azure_blob_storage";

export function loadNativeBinding(): NativeBinding {
  const linked = (process as unknown as { _linkedBinding?: (name: string) => unknown })._linkedBinding;
  if (typeof linked !== "function") {
    throw new Error("Expected to run inside Orthanc's embedded runtime (process._linkedBinding is missing)");
  }
  return linked(NATIVE_BINDING_NAME) as NativeBinding;
}
