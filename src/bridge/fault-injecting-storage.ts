/**
 * The storage operations with the faults armed through the testing routes applied to them.
 * main.ts wraps the storage service with this only when AzureBlobStorage.EnableTestingEndpoints
 * is true, so the production dispatcher (handlers.ts) has no fault code.
 */
import type { FaultPlan } from "./faults.ts";
import type { StorageOperations } from "./handlers.ts";

/**
 * Before each operation: an armed hang makes it never settle (the shim's timeout must end the
 * call), else an armed failure rejects it. After a successful readRange, an armed short-range
 * drops the last byte of a non-empty answer (the shim's length check must refuse it).
 */
export function injectFaults(storage: StorageOperations, faults: FaultPlan): StorageOperations {
  const run = async <T>(operation: () => Promise<T>): Promise<T> => {
    if (faults.takeHang()) return new Promise<T>(() => {});
    faults.takeFailure();
    return operation();
  };
  return {
    create: (uuid, contentType, data, options) => run(() => storage.create(uuid, contentType, data, options)),
    readWhole: (uuid, contentType) => run(() => storage.readWhole(uuid, contentType)),
    readRange: (uuid, contentType, offset, length) =>
      run(async () => {
        const range = await storage.readRange(uuid, contentType, offset, length);
        const short = faults.takeShortRange() && range.length > 0;
        return short ? range.subarray(0, range.length - 1) : range;
      }),
    remove: (uuid, contentType) => run(() => storage.remove(uuid, contentType)),
  };
}
