/**
 * Caching decorator over a KeyWrapper, after the AWS Encryption SDK's caching materials
 * manager, with required limits:
 *
 * - Writes: one current data key (CEK + its wrapped form), used for at most
 *   `maxUsesPerDataKey` blobs and for at most `maxDataKeyAgeMs`. At 80% of either limit the
 *   next data key is prepared in the background, so a wrap is only awaited when no usable key
 *   exists at all. Uses are counted synchronously at hand-out, so no key ever exceeds its limits.
 * - Reads: a pool of unwrapped CEKs (LRU, at most `poolSize`, each forgotten `poolTtlMs` after it
 *   was unwrapped), with single flight: concurrent reads of the same wrapped key cause one unwrap.
 *
 * Every CEK handed out is a private copy the caller zeroes. The provider zeroes its own copies
 * when a data key retires, when a pool entry is evicted or expires, and on dispose().
 */
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import { abortedError, combineAbortSignals, raceWithSignal } from "../async/abort.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { describeError, StorageError } from "../errors.ts";
import { createLogger, type Logger } from "../logging/logger.ts";
import { CEK_LENGTH, type DataKey, zeroize } from "./data-key.ts";
import type { KeyWrapper, WrappedKey } from "./key-wrapper.ts";

export interface KeyCacheLimits {
  /** KeyDecayCount: max blobs encrypted under one CEK (>= 1). */
  maxUsesPerDataKey: number;
  /** KeyMaxAgeSeconds in ms: max age of the CEK used for writes. */
  maxDataKeyAgeMs: number;
  /** KeyPoolSize: max unwrapped CEKs kept for reads (0 = no caching: every read unwraps). */
  poolSize: number;
  /** KeyPoolTtlSeconds in ms: an unwrapped CEK is forgotten after this. */
  poolTtlMs: number;
}

/** Why the provider zeroed one of its own CEK buffers. */
export type ZeroizeReason =
  /** A data key reached its use or age limit (or was replaced). */
  | "retired"
  /** A pool entry was pushed out by a newer one (LRU). */
  | "evicted"
  /** A pool entry outlived poolTtlMs. */
  | "expired"
  /** dispose() */
  | "disposed"
  /** A CEK that was never used: its wrap failed, or an unwrap nobody waits for any more. */
  | "discarded";

export interface CachingKeyProviderOptions {
  /** Milliseconds from a monotonic clock; performance.now() by default. */
  now?: () => number;
  /** CSPRNG for new CEKs; crypto.randomBytes by default. */
  randomBytes?: (n: number) => Buffer;
  logger?: Logger;
  /** Test hook: called right after the provider has zeroed one of its own CEK buffers. */
  onZeroize?: (buffer: Buffer, reason: ZeroizeReason) => void;
}

export interface KeyCacheStats {
  /** wrapKey calls (one per data key attempted). */
  wraps: number;
  /** wrapKey calls that failed. */
  wrapFailures: number;
  /** unwrapKey calls. */
  unwraps: number;
  poolHits: number;
  poolMisses: number;
  /** Pool entries pushed out because the pool was full (LRU). */
  evictions: number;
  /** Pool entries forgotten because they outlived poolTtlMs. */
  expirations: number;
  /** Data keys wrapped and put into service. */
  dataKeysCreated: number;
  /** acquireDataKey calls that found no usable data key and had to wait for a wrap. */
  acquireWaits: number;
}

/** Share of a data key's limits after which the next key is prepared in the background. */
const REFRESH_SHARE = 0.8;
/** After a failed background wrap, the next background attempt waits this long. */
const BACKGROUND_RETRY_DELAY_MS = 1000;

interface CurrentKey {
  readonly cek: Buffer;
  readonly wrapped: WrappedKey;
  /** When it was put into service (now()). */
  createdAt: number;
  uses: number;
}

interface PoolEntry {
  readonly cek: Buffer;
  readonly expiresAt: number;
}

interface UnwrapWaiter {
  resolve(cek: Buffer): void;
  reject(error: unknown): void;
}

interface UnwrapFlight {
  readonly waiters: Set<UnwrapWaiter>;
  /** Aborts the shared unwrap once nobody waits for it any more (or on dispose). */
  readonly controller: AbortController;
}

export class CachingKeyProvider {
  readonly #wrapper: KeyWrapper;
  readonly #limits: Readonly<KeyCacheLimits>;
  readonly #refreshAtUses: number;
  readonly #refreshAtAgeMs: number;
  readonly #now: () => number;
  readonly #randomBytes: (n: number) => Buffer;
  readonly #logger: Logger;
  readonly #onZeroize: ((buffer: Buffer, reason: ZeroizeReason) => void) | undefined;

  #current: CurrentKey | undefined;
  /** A data key prepared in the background, waiting for the current one to retire. */
  #next: CurrentKey | undefined;
  /** The wrap in progress (single flight), foreground or background. */
  #refresh: Promise<void> | undefined;
  #backgroundRetryAt = Number.NEGATIVE_INFINITY;

  /** Pool entries, least recently used first. */
  readonly #lru = new Map<string, PoolEntry>();
  /** The same entries, oldest first (TTL does not slide, so this is also expiry order). */
  readonly #byAge = new Map<string, PoolEntry>();
  readonly #flights = new Map<string, UnwrapFlight>();

  readonly #disposeController = new AbortController();
  #disposed = false;
  readonly #stats: KeyCacheStats = {
    wraps: 0,
    wrapFailures: 0,
    unwraps: 0,
    poolHits: 0,
    poolMisses: 0,
    evictions: 0,
    expirations: 0,
    dataKeysCreated: 0,
    acquireWaits: 0,
  };

  constructor(wrapper: KeyWrapper, limits: KeyCacheLimits, options: CachingKeyProviderOptions = {}) {
    this.#limits = checkLimits(limits);
    this.#wrapper = wrapper;
    this.#refreshAtUses = Math.max(1, Math.floor(REFRESH_SHARE * this.#limits.maxUsesPerDataKey));
    this.#refreshAtAgeMs = REFRESH_SHARE * this.#limits.maxDataKeyAgeMs;
    this.#now = options.now ?? (() => performance.now());
    this.#randomBytes = options.randomBytes ?? cryptoRandomBytes;
    this.#logger = options.logger ?? createLogger("crypto");
    this.#onZeroize = options.onZeroize;
  }

  /** A snapshot of the counters. */
  get stats(): Readonly<KeyCacheStats> {
    return Object.freeze({ ...this.#stats });
  }

  /**
   * The CEK to encrypt one blob with. Counts one use. The caller gets a DataKey whose `cek` is
   * a private copy it must zero after use (zeroize from data-key.ts).
   */
  acquireDataKey(options: OperationOptions = {}): Promise<DataKey> {
    if (this.#disposed) return Promise.reject(disposedError());
    if (options.abortSignal?.aborted) {
      return Promise.reject(abortedError("acquire", "a content key", options.abortSignal));
    }
    this.#sweepPool();
    const dataKey = this.#handOut(options);
    if (dataKey !== undefined) return Promise.resolve(dataKey);
    this.#stats.acquireWaits++;
    return this.#waitForDataKey(options);
  }

  /**
   * The CEK for a wrapped key read from a blob, as a private copy the caller zeroes. Uses the
   * pool; concurrent calls for the same wrapped key share one unwrapKey.
   */
  unwrap(wrapped: WrappedKey, options: OperationOptions = {}): Promise<Buffer> {
    if (this.#disposed) return Promise.reject(disposedError());
    if (options.abortSignal?.aborted) {
      return Promise.reject(abortedError("unwrap", `content key ${wrapped.keyId}`, options.abortSignal));
    }
    if (!Buffer.isBuffer(wrapped.encryptedKey)) {
      return Promise.reject(
        new StorageError(
          "invalid-argument",
          "Expected a Buffer for the wrapped content key but received something else",
        ),
      );
    }
    if (this.#limits.poolSize === 0) {
      this.#stats.poolMisses++;
      this.#stats.unwraps++;
      return this.#unwrapChecked(wrapped, options);
    }

    this.#sweepPool();
    const id = poolId(wrapped);
    const entry = this.#lru.get(id);
    if (entry !== undefined) {
      this.#lru.delete(id);
      this.#lru.set(id, entry);
      this.#stats.poolHits++;
      return Promise.resolve(copyOf(entry.cek));
    }
    this.#stats.poolMisses++;
    return this.#joinFlight(id, wrapped, options);
  }

  /** Zeroes and drops everything; later calls fail. Called on shutdown. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#disposeController.abort(disposedError());
    if (this.#current !== undefined) this.#zeroize(this.#current.cek, "disposed");
    if (this.#next !== undefined) this.#zeroize(this.#next.cek, "disposed");
    this.#current = undefined;
    this.#next = undefined;
    for (const entry of this.#lru.values()) this.#zeroize(entry.cek, "disposed");
    this.#lru.clear();
    this.#byAge.clear();
    const flights = [...this.#flights.values()];
    this.#flights.clear();
    for (const flight of flights) {
      const waiters = [...flight.waiters];
      flight.waiters.clear();
      flight.controller.abort(disposedError());
      for (const waiter of waiters) waiter.reject(disposedError());
    }
  }

  // ---- encryption side ----------------------------------------------------------------------

  async #waitForDataKey(options: OperationOptions): Promise<DataKey> {
    const combined = combineAbortSignals([options.abortSignal], options.timeoutInMs);
    try {
      for (;;) {
        const refresh = this.#startRefresh(options, false);
        await raceWithSignal(refresh, combined.signal, () =>
          abortedError("wait for", "a new content key", combined.signal),
        );
        if (this.#disposed) throw disposedError();
        const dataKey = this.#handOut(options);
        if (dataKey !== undefined) return dataKey;
      }
    } finally {
      combined.dispose();
    }
  }

  /** Synchronously takes one use of a usable data key, or returns undefined when there is none. */
  #handOut(options: OperationOptions): DataKey | undefined {
    const key = this.#usableKey();
    if (key === undefined) return undefined;
    key.uses++;
    const dataKey: DataKey = { cek: copyOf(key.cek), wrapped: key.wrapped };
    if (key.uses >= this.#limits.maxUsesPerDataKey) this.#retireCurrent();
    this.#maybeRefreshInBackground(options);
    return dataKey;
  }

  /** The current data key if it is within its limits, retiring used-up keys on the way. */
  #usableKey(): CurrentKey | undefined {
    for (;;) {
      const key = this.#current;
      if (key === undefined) {
        if (this.#next === undefined) return undefined;
        this.#current = this.#next;
        this.#next = undefined;
        continue;
      }
      if (key.uses < this.#limits.maxUsesPerDataKey && this.#ageOf(key) < this.#limits.maxDataKeyAgeMs) {
        return key;
      }
      this.#retireCurrent();
    }
  }

  #retireCurrent(): void {
    const key = this.#current;
    if (key !== undefined) this.#zeroize(key.cek, "retired");
    this.#current = this.#next;
    this.#next = undefined;
  }

  #ageOf(key: CurrentKey): number {
    return this.#now() - key.createdAt;
  }

  #maybeRefreshInBackground(options: OperationOptions): void {
    if (this.#refresh !== undefined || this.#next !== undefined || this.#disposed) return;
    const key = this.#current;
    if (key !== undefined && key.uses < this.#refreshAtUses && this.#ageOf(key) < this.#refreshAtAgeMs)
      return;
    if (this.#now() < this.#backgroundRetryAt) return;
    // Failures are logged by #startRefresh; nobody awaits a background refresh.
    this.#startRefresh(options, true).catch(() => {});
  }

  /** The wrap in progress, or a new one (single flight). Rejects with the wrapper's error. */
  #startRefresh(options: OperationOptions, background: boolean): Promise<void> {
    const inFlight = this.#refresh;
    if (inFlight !== undefined) return inFlight;
    const refresh = this.#createDataKey(options).then((key) => this.#install(key));
    this.#refresh = refresh;
    // Registered before any waiter's handler, so waiters see #refresh cleared when they resume.
    refresh.then(
      () => {
        if (this.#refresh === refresh) this.#refresh = undefined;
      },
      (error: unknown) => {
        if (this.#refresh === refresh) this.#refresh = undefined;
        if (background && !this.#disposed) this.#backgroundWrapFailed(error);
      },
    );
    return refresh;
  }

  async #createDataKey(options: OperationOptions): Promise<CurrentKey> {
    const cek = this.#randomBytes(CEK_LENGTH);
    if (!Buffer.isBuffer(cek) || cek.length !== CEK_LENGTH) {
      throw new StorageError("internal", `the random generator did not return ${CEK_LENGTH} bytes`);
    }
    const wrapOptions: OperationOptions = { abortSignal: this.#disposeController.signal };
    if (options.timeoutInMs !== undefined) wrapOptions.timeoutInMs = options.timeoutInMs;
    this.#stats.wraps++;
    try {
      const wrapped = await this.#wrapper.wrapKey(cek, wrapOptions);
      return { cek, wrapped, createdAt: 0, uses: 0 };
    } catch (error) {
      this.#stats.wrapFailures++;
      this.#zeroize(cek, "discarded");
      throw error;
    }
  }

  #install(key: CurrentKey): void {
    if (this.#disposed) {
      this.#zeroize(key.cek, "disposed");
      throw disposedError();
    }
    key.createdAt = this.#now();
    this.#stats.dataKeysCreated++;
    if (this.#limits.poolSize > 0) this.#poolInsert(poolId(key.wrapped), copyOf(key.cek));
    this.#usableKey();
    if (this.#current === undefined) {
      this.#current = key;
    } else {
      if (this.#next !== undefined) this.#zeroize(this.#next.cek, "retired");
      this.#next = key;
    }
  }

  #backgroundWrapFailed(error: unknown): void {
    this.#backgroundRetryAt = this.#now() + BACKGROUND_RETRY_DELAY_MS;
    const key = this.#current;
    const state =
      key === undefined
        ? "no data key is usable now, so new writes wait for the next attempt"
        : `the current data key stays in use within its limits (${key.uses} of ${this.#limits.maxUsesPerDataKey} uses)`;
    this.#logger.warning(
      `could not prepare the next data key with ${this.#wrapper.description}: ${describeError(error)}; ${state}`,
    );
  }

  // ---- decryption side ----------------------------------------------------------------------

  async #unwrapChecked(wrapped: WrappedKey, options: OperationOptions): Promise<Buffer> {
    const cek = await this.#wrapper.unwrapKey(wrapped, options);
    if (!Buffer.isBuffer(cek) || cek.length !== CEK_LENGTH) {
      if (Buffer.isBuffer(cek)) zeroize(cek);
      throw new StorageError(
        "integrity",
        `the wrapped content key does not unwrap to ${CEK_LENGTH} bytes with key ${wrapped.keyId}`,
      );
    }
    return cek;
  }

  #joinFlight(id: string, wrapped: WrappedKey, options: OperationOptions): Promise<Buffer> {
    const flight = this.#flights.get(id) ?? this.#startFlight(id, wrapped, options);
    const combined = combineAbortSignals([options.abortSignal], options.timeoutInMs);
    const signal = combined.signal;
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        if (!flight.waiters.delete(waiter)) return;
        combined.dispose();
        reject(abortedError("unwrap", `content key ${wrapped.keyId}`, signal));
        if (flight.waiters.size === 0) this.#abandonFlight(id, flight);
      };
      const settle = (): void => {
        signal.removeEventListener("abort", onAbort);
        combined.dispose();
      };
      const waiter: UnwrapWaiter = {
        resolve: (cek) => {
          settle();
          resolve(cek);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      flight.waiters.add(waiter);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #startFlight(id: string, wrapped: WrappedKey, options: OperationOptions): UnwrapFlight {
    const flight: UnwrapFlight = { waiters: new Set(), controller: new AbortController() };
    this.#flights.set(id, flight);
    this.#stats.unwraps++;
    const flightOptions: OperationOptions = { abortSignal: flight.controller.signal };
    if (options.timeoutInMs !== undefined) flightOptions.timeoutInMs = options.timeoutInMs;
    this.#unwrapChecked(wrapped, flightOptions).then(
      (cek) => this.#finishFlight(id, flight, cek),
      (error: unknown) => this.#failFlight(id, flight, error),
    );
    return flight;
  }

  #finishFlight(id: string, flight: UnwrapFlight, cek: Buffer): void {
    if (this.#flights.get(id) === flight) this.#flights.delete(id);
    if (this.#disposed || flight.waiters.size === 0) {
      this.#zeroize(cek, this.#disposed ? "disposed" : "discarded");
      return;
    }
    // Copies are made here, synchronously, so a later eviction cannot zero them under a waiter.
    const waiters = [...flight.waiters];
    flight.waiters.clear();
    for (const waiter of waiters) waiter.resolve(copyOf(cek));
    this.#poolInsert(id, cek);
  }

  #failFlight(id: string, flight: UnwrapFlight, error: unknown): void {
    if (this.#flights.get(id) === flight) this.#flights.delete(id);
    const waiters = [...flight.waiters];
    flight.waiters.clear();
    for (const waiter of waiters) waiter.reject(error);
  }

  #abandonFlight(id: string, flight: UnwrapFlight): void {
    if (this.#flights.get(id) === flight) this.#flights.delete(id);
    flight.controller.abort(new StorageError("timeout", "every caller waiting for this unwrap gave up"));
  }

  // ---- pool ---------------------------------------------------------------------------------

  /** Takes ownership of `cek`. */
  #poolInsert(id: string, cek: Buffer): void {
    const existing = this.#lru.get(id);
    if (existing !== undefined) {
      this.#zeroize(cek, "discarded");
      this.#lru.delete(id);
      this.#lru.set(id, existing);
      return;
    }
    const entry: PoolEntry = { cek, expiresAt: this.#now() + this.#limits.poolTtlMs };
    this.#lru.set(id, entry);
    this.#byAge.set(id, entry);
    for (const [oldestId, oldest] of this.#lru) {
      if (this.#lru.size <= this.#limits.poolSize) break;
      this.#lru.delete(oldestId);
      this.#byAge.delete(oldestId);
      this.#zeroize(oldest.cek, "evicted");
      this.#stats.evictions++;
    }
  }

  #sweepPool(): void {
    if (this.#byAge.size === 0) return;
    const now = this.#now();
    for (const [id, entry] of this.#byAge) {
      if (entry.expiresAt > now) break;
      this.#byAge.delete(id);
      this.#lru.delete(id);
      this.#zeroize(entry.cek, "expired");
      this.#stats.expirations++;
    }
  }

  #zeroize(buffer: Buffer, reason: ZeroizeReason): void {
    zeroize(buffer);
    this.#onZeroize?.(buffer, reason);
  }
}

/** Pool key: unambiguous because neither the algorithm nor base64 contains a NUL. */
function poolId(wrapped: WrappedKey): string {
  return `${wrapped.keyId}\u0000${wrapped.algorithm}\u0000${wrapped.encryptedKey.toString("base64")}`;
}

function copyOf(cek: Buffer): Buffer {
  const copy = Buffer.alloc(cek.length);
  cek.copy(copy);
  return copy;
}

function disposedError(): StorageError {
  return new StorageError("unavailable", "the content key cache has been shut down");
}

function checkLimits(limits: KeyCacheLimits): Readonly<KeyCacheLimits> {
  const issues: string[] = [];
  const check = (ok: boolean, expected: string, name: string, value: unknown): void => {
    if (!ok) issues.push(`Expected ${expected} for ${name} but received ${describeValue(value)}`);
  };
  const { maxUsesPerDataKey, maxDataKeyAgeMs, poolSize, poolTtlMs } = limits;
  check(
    Number.isSafeInteger(maxUsesPerDataKey) && maxUsesPerDataKey >= 1,
    "an integer >= 1",
    "maxUsesPerDataKey (KeyDecayCount)",
    maxUsesPerDataKey,
  );
  check(
    isPositiveFinite(maxDataKeyAgeMs),
    "a number > 0",
    "maxDataKeyAgeMs (KeyMaxAgeSeconds)",
    maxDataKeyAgeMs,
  );
  check(
    Number.isSafeInteger(poolSize) && poolSize >= 0,
    "an integer >= 0",
    "poolSize (KeyPoolSize)",
    poolSize,
  );
  check(isPositiveFinite(poolTtlMs), "a number > 0", "poolTtlMs (KeyPoolTtlSeconds)", poolTtlMs);
  if (issues.length > 0) throw new StorageError("invalid-argument", issues.join("; "));
  return Object.freeze({ maxUsesPerDataKey, maxDataKeyAgeMs, poolSize, poolTtlMs });
}

function isPositiveFinite(value: number): boolean {
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}

function describeValue(value: unknown): string {
  return typeof value === "number" || value === undefined ? String(value) : JSON.stringify(value);
}
