import { isStorageError } from "../errors.ts";

/**
 * Status codes that cross the native boundary with every result. The C++ shim maps them to
 * OrthancPluginErrorCode in one table (native/error_map.h). Keep in step with native/bridge_types.h
 * (test/unit/bridge/native-enums.test.ts compares them).
 */
export const BridgeStatus = {
  Ok: 0,
  NotFound: 1,
  Integrity: 2,
  Timeout: 3,
  Failure: 4,
  /** Sent by the shim only: an input larger than the runtime's largest Buffer (native/buffer_limit.h). */
  TooLarge: 5,
} as const;
export type BridgeStatus = (typeof BridgeStatus)[keyof typeof BridgeStatus];

export function statusForError(error: unknown): BridgeStatus {
  if (!isStorageError(error)) return BridgeStatus.Failure;
  switch (error.code) {
    case "not-found":
      return BridgeStatus.NotFound;
    case "integrity":
      return BridgeStatus.Integrity;
    case "timeout":
      return BridgeStatus.Timeout;
    default:
      return BridgeStatus.Failure;
  }
}
