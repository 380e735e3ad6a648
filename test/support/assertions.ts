import { expect } from "vitest";
import { StorageError } from "../../src/errors.ts";

/** Awaits a promise that must reject with a StorageError, and returns that error. */
export async function storageFailure(promise: Promise<unknown>): Promise<StorageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}
