/**
 * A small FIFO semaphore: at most `max` tasks run at once, the others wait in arrival order.
 * A waiting task whose abortSignal fires leaves the queue and rejects with StorageError("timeout").
 */
import { StorageError } from "../errors.ts";
import { describeAbortReason } from "./abort.ts";

export interface LimiterRunOptions {
  abortSignal?: AbortSignal;
}

interface Waiter {
  start(): void;
}

export class ConcurrencyLimiter {
  readonly max: number;
  #active = 0;
  readonly #queue: Waiter[] = [];

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new StorageError(
        "invalid-argument",
        `ConcurrencyLimiter needs a positive integer for max but received ${String(max)}`,
      );
    }
    this.max = max;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.#queue.length;
  }

  run<T>(fn: () => Promise<T>, options: LimiterRunOptions = {}): Promise<T> {
    const { abortSignal } = options;
    if (abortSignal?.aborted) return Promise.reject(this.#abortedError(abortSignal));

    if (this.#active < this.max && this.#queue.length === 0) return this.#execute(fn);

    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        if (abortSignal) reject(this.#abortedError(abortSignal));
      };
      const waiter: Waiter = {
        start: () => {
          abortSignal?.removeEventListener("abort", onAbort);
          this.#execute(fn).then(resolve, reject);
        },
      };
      this.#queue.push(waiter);
      abortSignal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async #execute<T>(fn: () => Promise<T>): Promise<T> {
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#next();
    }
  }

  #next(): void {
    while (this.#active < this.max) {
      const waiter = this.#queue.shift();
      if (waiter === undefined) return;
      waiter.start();
    }
  }

  #abortedError(signal: AbortSignal): StorageError {
    return new StorageError(
      "timeout",
      `gave up waiting for a free request slot (${this.#active} of ${this.max} in use, ${this.#queue.length} waiting): ${describeAbortReason(signal)}`,
    );
  }
}
