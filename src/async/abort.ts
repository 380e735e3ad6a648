/**
 * Abort-signal helpers that work on Node 18 (the embedded runtime): AbortSignal.any()
 * only exists from Node 20.3, so signals are combined by hand here.
 */
import { StorageError } from "../errors.ts";

export interface CombinedSignal {
  /** Aborts when any input signal aborts or the timeout passes, whichever comes first. */
  readonly signal: AbortSignal;
  /** Removes listeners and clears the timer; call it when the operation settles. */
  dispose(): void;
}

/**
 * One AbortSignal for several sources. When the timeout fires, the signal's reason is a
 * StorageError("timeout") naming the deadline; otherwise it is the first aborted input's reason.
 */
export function combineAbortSignals(
  signals: ReadonlyArray<AbortSignal | undefined>,
  timeoutMs?: number,
): CombinedSignal {
  const controller = new AbortController();
  const cleanups: Array<() => void> = [];
  const dispose = (): void => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  const abort = (reason: unknown): void => {
    if (controller.signal.aborted) return;
    dispose();
    controller.abort(reason);
  };

  for (const signal of signals) {
    if (signal === undefined) continue;
    if (signal.aborted) {
      abort(signal.reason);
      return { signal: controller.signal, dispose };
    }
    const onAbort = (): void => abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    cleanups.push(() => signal.removeEventListener("abort", onAbort));
  }

  if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
    const ms = Math.max(0, timeoutMs);
    const timer = setTimeout(() => {
      abort(new StorageError("timeout", `deadline of ${ms} ms passed`));
    }, ms);
    cleanups.push(() => clearTimeout(timer));
  }

  return { signal: controller.signal, dispose };
}

/**
 * Runs `body` under one signal that combines the caller's `abortSignal` and `timeoutInMs` (see
 * combineAbortSignals) and is disposed when `body` settles. A failure is replaced by what
 * `failure(error, signal)` returns; the signal tells whether the caller or the deadline aborted.
 */
export async function runWithDeadline<T>(
  options: { readonly abortSignal?: AbortSignal; readonly timeoutInMs?: number },
  body: (signal: AbortSignal) => Promise<T>,
  failure: (error: unknown, signal: AbortSignal) => unknown,
): Promise<T> {
  const combined = combineAbortSignals([options.abortSignal], options.timeoutInMs);
  try {
    return await body(combined.signal);
  } catch (error) {
    throw failure(error, combined.signal);
  } finally {
    combined.dispose();
  }
}

/** The smallest of the given timeouts (undefined entries ignored), or undefined if none. */
export function minTimeout(...timeouts: ReadonlyArray<number | undefined>): number | undefined {
  let result: number | undefined;
  for (const timeout of timeouts) {
    if (timeout === undefined) continue;
    if (result === undefined || timeout < result) result = timeout;
  }
  return result;
}

/** A one-line description of why a signal aborted. */
export function describeAbortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof StorageError) return reason.message;
  if (reason instanceof Error && reason.name === "AbortError") return "aborted by the caller";
  if (reason instanceof Error && reason.name === "TimeoutError") return "deadline passed";
  if (reason instanceof Error) return reason.message;
  return "aborted by the caller";
}

/** A StorageError("timeout") for an aborted operation: "<operation> <subject>: <reason>". */
export function abortedError(operation: string, subject: string, signal: AbortSignal): StorageError {
  return new StorageError("timeout", `${operation} ${subject}: ${describeAbortReason(signal)}`);
}

/**
 * Settles like `promise`, unless `signal` aborts first, in which case it rejects with
 * `onAbort()`. The promise keeps running (nothing can stop it) but its result is ignored.
 */
export function raceWithSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  onAbort: () => unknown,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const listener = (): void => {
      promise.catch(() => {});
      reject(onAbort());
    };
    signal.addEventListener("abort", listener, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", listener);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", listener);
        reject(error);
      },
    );
  });
}

/** Waits `ms` milliseconds, rejecting with `onAbort()` if the signal aborts first. */
export function delay(ms: number, signal: AbortSignal | undefined, onAbort: () => unknown): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sleep = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return raceWithSignal(sleep, signal, () => {
    clearTimeout(timer);
    return onAbort();
  });
}
