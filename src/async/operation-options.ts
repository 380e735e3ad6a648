/**
 * The options bag every asynchronous operation takes (Azure SDK guidelines): blob stores,
 * key wrappers, the key cache and the storage service alike.
 */
export interface OperationOptions {
  abortSignal?: AbortSignal;
  /** Deadline for the whole operation, retries included. */
  timeoutInMs?: number;
}
