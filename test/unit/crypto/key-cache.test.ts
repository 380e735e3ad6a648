import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { OperationOptions } from "../../../src/async/operation-options.ts";
import { type DataKey, zeroize } from "../../../src/crypto/data-key.ts";
import {
  CachingKeyProvider,
  type KeyCacheLimits,
  type ZeroizeReason,
} from "../../../src/crypto/key-cache.ts";
import type { KeyWrapper, WrappedKey } from "../../../src/crypto/key-wrapper.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import { StorageError } from "../../../src/errors.ts";
import type { Logger } from "../../../src/logging/logger.ts";
import { storageFailure } from "../../support/assertions.ts";
import { deferred } from "../../support/deferred.ts";

/** Waits `n` macrotask turns (every pending microtask runs in between). */
async function ticks(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function isZero(buffer: Buffer): boolean {
  return buffer.every((byte) => byte === 0);
}

/** A real AES key wrapper with counters, gates and injectable failures. */
class TestWrapper implements KeyWrapper {
  readonly description = "test wrapper";
  readonly inner = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });
  wrapCalls = 0;
  unwrapCalls = 0;
  wrapError: unknown;
  wrapGate: (() => Promise<void>) | undefined;
  unwrapGate: (() => Promise<void>) | undefined;
  readonly unwrapOptions: OperationOptions[] = [];
  /** Every buffer unwrapKey handed to the cache (which then owns it). */
  readonly unwrapped: Buffer[] = [];

  async wrapKey(cek: Buffer): Promise<WrappedKey> {
    this.wrapCalls++;
    await this.wrapGate?.();
    if (this.wrapError !== undefined) throw this.wrapError;
    return this.inner.wrapKey(cek);
  }

  async unwrapKey(wrapped: WrappedKey, options: OperationOptions = {}): Promise<Buffer> {
    this.unwrapCalls++;
    this.unwrapOptions.push(options);
    await this.unwrapGate?.();
    const cek = await this.inner.unwrapKey(wrapped);
    this.unwrapped.push(cek);
    return cek;
  }

  trusts(keyId: string): boolean {
    return this.inner.trusts(keyId);
  }
}

interface ZeroizeEvent {
  buffer: Buffer;
  reason: ZeroizeReason;
  allZero: boolean;
}

const DEFAULT_LIMITS: KeyCacheLimits = {
  maxUsesPerDataKey: 10,
  maxDataKeyAgeMs: 3_600_000,
  poolSize: 8,
  poolTtlMs: 3_600_000,
};

function setup(limits: Partial<KeyCacheLimits> = {}, wrapper = new TestWrapper()) {
  let time = 0;
  const generated: Buffer[] = [];
  const generatedAt = new Map<string, number>();
  const zeroed: ZeroizeEvent[] = [];
  const warnings: string[] = [];
  const logger: Logger = {
    error: (message) => warnings.push(message),
    warning: (message) => warnings.push(message),
    info: () => {},
  };
  const provider = new CachingKeyProvider(
    wrapper,
    { ...DEFAULT_LIMITS, ...limits },
    {
      now: () => time,
      randomBytes: (n) => {
        const bytes = randomBytes(n);
        generated.push(bytes);
        generatedAt.set(bytes.toString("hex"), time);
        return bytes;
      },
      logger,
      onZeroize: (buffer, reason) => zeroed.push({ buffer, reason, allZero: isZero(buffer) }),
    },
  );
  return {
    provider,
    wrapper,
    generated,
    generatedAt,
    zeroed,
    warnings,
    setTime: (t: number): void => {
      time = t;
    },
  };
}

/** Wrapped keys made outside the cache, with their CEKs. */
async function wrappedKeys(
  wrapper: TestWrapper,
  count: number,
): Promise<Array<{ cek: Buffer; wrapped: WrappedKey }>> {
  const keys: Array<{ cek: Buffer; wrapped: WrappedKey }> = [];
  for (let i = 0; i < count; i++) {
    const cek = randomBytes(32);
    keys.push({ cek, wrapped: await wrapper.inner.wrapKey(cek) });
  }
  return keys;
}

function countUses(dataKeys: readonly DataKey[]): Map<string, number> {
  const uses = new Map<string, number>();
  for (const { cek } of dataKeys) uses.set(cek.toString("hex"), (uses.get(cek.toString("hex")) ?? 0) + 1);
  return uses;
}

describe("CachingKeyProvider limits", () => {
  it("rejects invalid limits with the expected messages", () => {
    const wrapper = new TestWrapper();
    const cases: Array<[Partial<KeyCacheLimits>, string]> = [
      [
        { maxUsesPerDataKey: 0 },
        "Expected an integer >= 1 for maxUsesPerDataKey (KeyDecayCount) but received 0",
      ],
      [
        { maxUsesPerDataKey: 1.5 },
        "Expected an integer >= 1 for maxUsesPerDataKey (KeyDecayCount) but received 1.5",
      ],
      [
        { maxUsesPerDataKey: Number.NaN },
        "Expected an integer >= 1 for maxUsesPerDataKey (KeyDecayCount) but received NaN",
      ],
      [{ maxDataKeyAgeMs: 0 }, "Expected a number > 0 for maxDataKeyAgeMs (KeyMaxAgeSeconds) but received 0"],
      [
        { maxDataKeyAgeMs: Number.POSITIVE_INFINITY },
        "Expected a number > 0 for maxDataKeyAgeMs (KeyMaxAgeSeconds) but received Infinity",
      ],
      [{ poolSize: -1 }, "Expected an integer >= 0 for poolSize (KeyPoolSize) but received -1"],
      [{ poolSize: 2.5 }, "Expected an integer >= 0 for poolSize (KeyPoolSize) but received 2.5"],
      [{ poolTtlMs: -5 }, "Expected a number > 0 for poolTtlMs (KeyPoolTtlSeconds) but received -5"],
    ];
    for (const [limits, message] of cases) {
      const create = (): CachingKeyProvider =>
        new CachingKeyProvider(wrapper, { ...DEFAULT_LIMITS, ...limits });
      expect(create).toThrow(StorageError);
      expect(create).toThrow(message);
    }
    expect(
      () => new CachingKeyProvider(wrapper, { ...DEFAULT_LIMITS, maxUsesPerDataKey: 0, poolTtlMs: 0 }),
    ).toThrow(
      "Expected an integer >= 1 for maxUsesPerDataKey (KeyDecayCount) but received 0; " +
        "Expected a number > 0 for poolTtlMs (KeyPoolTtlSeconds) but received 0",
    );
    expect(() => new CachingKeyProvider(wrapper, { ...DEFAULT_LIMITS, poolSize: 0 })).not.toThrow();
  });
});

describe("CachingKeyProvider data keys for writes", () => {
  for (const [maxUses, total] of [
    [10, 25],
    [7, 100],
    [3, 10],
  ] as const) {
    it(`encrypts exactly ${maxUses} blobs per CEK (${total} blobs: ${Math.ceil(total / maxUses)} wraps)`, async () => {
      const { provider, wrapper } = setup({ maxUsesPerDataKey: maxUses });
      const dataKeys: DataKey[] = [];
      for (let i = 0; i < total; i++) dataKeys.push(await provider.acquireDataKey());
      const uses = [...countUses(dataKeys).values()];
      const expectedKeys = Math.ceil(total / maxUses);
      expect(uses).toHaveLength(expectedKeys);
      expect(uses.slice(0, -1).every((n) => n === maxUses)).toBe(true);
      expect(uses.at(-1)).toBe(total - maxUses * (expectedKeys - 1));
      expect(wrapper.wrapCalls).toBe(expectedKeys);
      expect(provider.stats.wraps).toBe(expectedKeys);
      expect(provider.stats.dataKeysCreated).toBe(expectedKeys);
      // Each CEK travels with its own wrapped form.
      for (const dataKey of dataKeys) {
        expect((await wrapper.inner.unwrapKey(dataKey.wrapped)).equals(dataKey.cek)).toBe(true);
      }
    });
  }

  it("uses each CEK once when maxUsesPerDataKey is 1", async () => {
    const { provider } = setup({ maxUsesPerDataKey: 1 });
    const dataKeys: DataKey[] = [];
    for (let i = 0; i < 5; i++) dataKeys.push(await provider.acquireDataKey());
    expect([...countUses(dataKeys).values()]).toEqual([1, 1, 1, 1, 1]);
    expect(provider.stats.wraps).toBeLessThanOrEqual(6);
  });

  it("never exceeds the use limit under concurrency, and waiters share wraps", async () => {
    const { provider, wrapper } = setup({ maxUsesPerDataKey: 10 });
    const dataKeys = await Promise.all(Array.from({ length: 25 }, () => provider.acquireDataKey()));
    expect([...countUses(dataKeys).values()]).toEqual([10, 10, 5]);
    expect(wrapper.wrapCalls).toBe(3);
  });

  it("starts the next wrap at 80% of the uses, before the current key runs out", async () => {
    const { provider, wrapper } = setup({ maxUsesPerDataKey: 10 });
    for (let i = 0; i < 7; i++) await provider.acquireDataKey();
    expect(wrapper.wrapCalls).toBe(1);
    await provider.acquireDataKey();
    expect(wrapper.wrapCalls).toBe(2);
    await ticks();
    // The prepared key waits: the current one still serves its last two uses.
    const ninth = await provider.acquireDataKey();
    const tenth = await provider.acquireDataKey();
    const eleventh = await provider.acquireDataKey();
    expect(ninth.cek.equals(tenth.cek)).toBe(true);
    expect(eleventh.cek.equals(tenth.cek)).toBe(false);
    expect(wrapper.wrapCalls).toBe(2);
    expect(provider.stats.acquireWaits).toBe(1);
  });

  it("retires a CEK by age, preparing the next one at 80% of the age", async () => {
    const maxAge = 1000;
    const { provider, wrapper, generated, generatedAt, zeroed, setTime } = setup({
      maxUsesPerDataKey: 1_000_000,
      maxDataKeyAgeMs: maxAge,
    });
    const handOuts: Array<{ at: number; cek: string }> = [];
    for (let t = 0; t <= 5000; t += 50) {
      setTime(t);
      const dataKey = await provider.acquireDataKey();
      handOuts.push({ at: t, cek: dataKey.cek.toString("hex") });
      await ticks();
    }
    for (const { at, cek } of handOuts) {
      const created = generatedAt.get(cek);
      expect(created).toBeDefined();
      expect(at - (created ?? 0)).toBeLessThan(maxAge);
    }
    const distinct = new Set(handOuts.map((h) => h.cek));
    expect(distinct.size).toBeGreaterThanOrEqual(5);
    expect(wrapper.wrapCalls).toBeLessThanOrEqual(8);
    // Only the very first acquire had to wait for a wrap.
    expect(provider.stats.acquireWaits).toBe(1);
    // The first CEK was retired (zeroed) when it expired.
    const first = generated[0];
    expect(first && isZero(first)).toBe(true);
    expect(
      zeroed.some((event) => event.buffer === first && event.reason === "retired" && event.allZero),
    ).toBe(true);
  });

  it("retires a key exactly at its maximum age", async () => {
    const { provider, setTime } = setup({ maxUsesPerDataKey: 1000, maxDataKeyAgeMs: 1000 });
    const first = await provider.acquireDataKey();
    setTime(999);
    expect((await provider.acquireDataKey()).cek.equals(first.cek)).toBe(true);
    await ticks();
    setTime(1000);
    expect((await provider.acquireDataKey()).cek.equals(first.cek)).toBe(false);
  });

  it("prepares the next key in the background so that, after warm-up, no acquire waits for a wrap", async () => {
    const wrapper = new TestWrapper();
    wrapper.wrapGate = () => ticks(3);
    const { provider } = setup({ maxUsesPerDataKey: 10 }, wrapper);
    let waited = 0;
    const dataKeys: DataKey[] = [];
    for (let i = 0; i < 100; i++) {
      const pending = provider.acquireDataKey();
      const settled = await Promise.race([pending.then(() => true), ticks(1).then(() => false)]);
      if (!settled) waited++;
      dataKeys.push(await pending);
      await ticks(2); // the upload
    }
    expect(waited).toBe(1);
    expect(provider.stats.acquireWaits).toBe(1);
    expect([...countUses(dataKeys).values()]).toEqual(Array.from({ length: 10 }, () => 10));
  });

  it("shares one wrap between concurrent acquires that find no usable key", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.wrapGate = () => gate.promise;
    const { provider } = setup({ maxUsesPerDataKey: 100 }, wrapper);
    const pending = Array.from({ length: 20 }, () => provider.acquireDataKey());
    await ticks();
    expect(wrapper.wrapCalls).toBe(1);
    gate.resolve();
    const dataKeys = await Promise.all(pending);
    expect(countUses(dataKeys).size).toBe(1);
    expect(wrapper.wrapCalls).toBe(1);
    expect(provider.stats.acquireWaits).toBe(20);
  });

  it("hands out independent copies: zeroing one leaves the others and the cache intact", async () => {
    const { provider, generated } = setup({ maxUsesPerDataKey: 3 });
    const a = await provider.acquireDataKey();
    const b = await provider.acquireDataKey();
    const original = Buffer.from(a.cek);
    expect(a.cek).not.toBe(b.cek);
    expect(a.cek.buffer).not.toBe(b.cek.buffer);
    zeroize(a.cek);
    expect(b.cek.equals(original)).toBe(true);
    const c = await provider.acquireDataKey();
    expect(c.cek.equals(original)).toBe(true);
    // The third use retired the key: the cache's own buffer is zeroed, the copies are not.
    expect(generated[0] && isZero(generated[0])).toBe(true);
    expect(b.cek.equals(original)).toBe(true);
    expect(c.cek.equals(original)).toBe(true);
  });

  it("zeroes a retired CEK", async () => {
    const { provider, generated, zeroed } = setup({ maxUsesPerDataKey: 2 });
    await provider.acquireDataKey();
    const first = generated[0];
    expect(first && !isZero(first)).toBe(true);
    await provider.acquireDataKey();
    expect(first && isZero(first)).toBe(true);
    expect(zeroed.filter((event) => event.buffer === first).map((event) => event.reason)).toEqual([
      "retired",
    ]);
  });

  it("keeps using the current key when a background wrap fails, and logs a warning without key bytes", async () => {
    const { provider, wrapper, warnings } = setup({ maxUsesPerDataKey: 10 });
    const first = await provider.acquireDataKey();
    const failure = new StorageError("unavailable", "key vault unreachable");
    wrapper.wrapError = failure;
    const keys: DataKey[] = [first];
    for (let i = 1; i < 10; i++) {
      keys.push(await provider.acquireDataKey());
      await ticks();
    }
    expect(countUses(keys).size).toBe(1);
    expect(provider.stats.wrapFailures).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("test wrapper");
    expect(warnings[0]).toContain("key vault unreachable");
    expect(warnings[0]).not.toContain(first.cek.toString("hex"));
    expect(warnings[0]).not.toContain(first.cek.toString("base64"));

    // Used up and no replacement: the store fails cleanly with the wrapper's error.
    await expect(provider.acquireDataKey()).rejects.toBe(failure);

    wrapper.wrapError = undefined;
    const recovered = await provider.acquireDataKey();
    expect(recovered.cek.equals(first.cek)).toBe(false);
  });

  it("rejects every waiting acquire with the wrapper's error when no key is usable, and zeroes the unused CEK", async () => {
    const { provider, wrapper, generated, zeroed } = setup();
    const failure = new Error("wrap refused");
    wrapper.wrapError = failure;
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => provider.acquireDataKey()));
    for (const result of results) expect(result).toEqual({ status: "rejected", reason: failure });
    expect(wrapper.wrapCalls).toBe(1);
    expect(generated).toHaveLength(1);
    expect(generated[0] && isZero(generated[0])).toBe(true);
    expect(zeroed.map((event) => event.reason)).toEqual(["discarded"]);
  });

  it("lets a waiting acquire give up on its abort signal", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.wrapGate = () => gate.promise;
    const { provider } = setup({}, wrapper);
    const controller = new AbortController();
    const abandoned = provider.acquireDataKey({ abortSignal: controller.signal });
    const patient = provider.acquireDataKey();
    controller.abort();
    expect((await storageFailure(abandoned)).code).toBe("timeout");
    gate.resolve();
    expect((await patient).cek).toHaveLength(32);
  });
});

describe("CachingKeyProvider pool for reads", () => {
  it("serves a just-written blob's key from the pool, without an unwrap", async () => {
    const { provider, wrapper } = setup();
    const dataKey = await provider.acquireDataKey();
    const cek = await provider.unwrap(dataKey.wrapped);
    expect(cek.equals(dataKey.cek)).toBe(true);
    expect(wrapper.unwrapCalls).toBe(0);
    expect(provider.stats).toMatchObject({ poolHits: 1, poolMisses: 0, unwraps: 0 });
  });

  it("counts hits and misses", async () => {
    const { provider, wrapper } = setup();
    const [a, b] = await wrappedKeys(wrapper, 2);
    if (!a || !b) throw new Error("missing keys");
    expect((await provider.unwrap(a.wrapped)).equals(a.cek)).toBe(true);
    expect((await provider.unwrap(a.wrapped)).equals(a.cek)).toBe(true);
    expect((await provider.unwrap(b.wrapped)).equals(b.cek)).toBe(true);
    expect((await provider.unwrap(a.wrapped)).equals(a.cek)).toBe(true);
    expect(provider.stats).toMatchObject({ poolHits: 2, poolMisses: 2, unwraps: 2 });
    expect(wrapper.unwrapCalls).toBe(2);
  });

  it("shares one unwrap between concurrent reads of the same wrapped key", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.unwrapGate = () => gate.promise;
    const { provider } = setup({}, wrapper);
    const [key] = await wrappedKeys(wrapper, 1);
    if (!key) throw new Error("missing key");
    const pending = Array.from({ length: 10 }, () => provider.unwrap(key.wrapped));
    await ticks();
    expect(wrapper.unwrapCalls).toBe(1);
    gate.resolve();
    const ceks = await Promise.all(pending);
    for (const cek of ceks) expect(cek.equals(key.cek)).toBe(true);
    expect(new Set(ceks).size).toBe(10);
    expect(wrapper.unwrapCalls).toBe(1);
    expect(provider.stats).toMatchObject({ unwraps: 1, poolMisses: 10 });
    // Zeroing one result affects neither the others nor the pool.
    zeroize(ceks[0]);
    expect(ceks[1]?.equals(key.cek)).toBe(true);
    expect((await provider.unwrap(key.wrapped)).equals(key.cek)).toBe(true);
    expect(wrapper.unwrapCalls).toBe(1);
  });

  it("distinguishes wrapped keys by key id, algorithm and bytes", async () => {
    const { provider, wrapper } = setup();
    const [key] = await wrappedKeys(wrapper, 1);
    if (!key) throw new Error("missing key");
    await provider.unwrap(key.wrapped);
    const otherId = await storageFailure(provider.unwrap({ ...key.wrapped, keyId: "local:aes:0" }));
    expect(otherId.code).toBe("unavailable");
    const otherAlgorithm = await storageFailure(provider.unwrap({ ...key.wrapped, algorithm: "RSA-OAEP" }));
    expect(otherAlgorithm.code).toBe("integrity");
    const tampered = Buffer.from(key.wrapped.encryptedKey);
    tampered[5] = (tampered[5] ?? 0) ^ 1;
    expect((await storageFailure(provider.unwrap({ ...key.wrapped, encryptedKey: tampered }))).code).toBe(
      "integrity",
    );
    expect(wrapper.unwrapCalls).toBe(4);
  });

  it("passes an unwrap failure to every waiter and does not cache it", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.unwrapGate = () => gate.promise;
    const { provider } = setup({}, wrapper);
    const [key] = await wrappedKeys(wrapper, 1);
    if (!key) throw new Error("missing key");
    const wrong = { ...key.wrapped, keyId: "local:aes:unknown" };
    const pending = Array.from({ length: 3 }, () => provider.unwrap(wrong));
    gate.resolve();
    for (const result of await Promise.allSettled(pending)) {
      expect(result.status).toBe("rejected");
      expect(result.status === "rejected" && (result.reason as StorageError).code).toBe("unavailable");
    }
    expect(wrapper.unwrapCalls).toBe(1);
    await storageFailure(provider.unwrap(wrong));
    expect(wrapper.unwrapCalls).toBe(2);
  });

  it("evicts the least recently used key when full, and zeroes it", async () => {
    const { provider, wrapper, zeroed } = setup({ poolSize: 2 });
    const [a, b, c] = await wrappedKeys(wrapper, 3);
    if (!a || !b || !c) throw new Error("missing keys");
    await provider.unwrap(a.wrapped);
    await provider.unwrap(b.wrapped);
    await provider.unwrap(a.wrapped); // a is now the most recently used
    const [poolA, poolB] = wrapper.unwrapped;
    await provider.unwrap(c.wrapped); // evicts b
    expect(provider.stats.evictions).toBe(1);
    expect(poolB && isZero(poolB)).toBe(true);
    expect(poolA && isZero(poolA)).toBe(false);
    expect(zeroed).toEqual([{ buffer: poolB, reason: "evicted", allZero: true }]);

    expect(wrapper.unwrapCalls).toBe(3);
    expect((await provider.unwrap(a.wrapped)).equals(a.cek)).toBe(true);
    expect((await provider.unwrap(c.wrapped)).equals(c.cek)).toBe(true);
    expect(wrapper.unwrapCalls).toBe(3);
    expect((await provider.unwrap(b.wrapped)).equals(b.cek)).toBe(true); // evicts a
    expect(wrapper.unwrapCalls).toBe(4);
    expect(poolA && isZero(poolA)).toBe(true);
  });

  it("forgets a key after poolTtlMs, zeroing it, even when it was used meanwhile", async () => {
    const { provider, wrapper, zeroed, setTime } = setup({ poolTtlMs: 1000 });
    const [a, b] = await wrappedKeys(wrapper, 2);
    if (!a || !b) throw new Error("missing keys");
    await provider.unwrap(a.wrapped);
    setTime(500);
    await provider.unwrap(b.wrapped);
    setTime(999);
    await provider.unwrap(a.wrapped);
    expect(wrapper.unwrapCalls).toBe(2);
    const [poolA, poolB] = wrapper.unwrapped;

    setTime(1000);
    // Any call sweeps: a expires although it was used at 999 (the TTL does not slide).
    await provider.acquireDataKey();
    expect(poolA && isZero(poolA)).toBe(true);
    expect(poolB && isZero(poolB)).toBe(false);
    expect(provider.stats.expirations).toBe(1);
    expect(zeroed.filter((event) => event.reason === "expired")).toEqual([
      { buffer: poolA, reason: "expired", allZero: true },
    ]);
    expect((await provider.unwrap(a.wrapped)).equals(a.cek)).toBe(true);
    expect(wrapper.unwrapCalls).toBe(3);

    setTime(1500);
    expect((await provider.unwrap(b.wrapped)).equals(b.cek)).toBe(true);
    expect(wrapper.unwrapCalls).toBe(4);
    expect(poolB && isZero(poolB)).toBe(true);
  });

  it("unwraps every time, without single flight, when poolSize is 0", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.unwrapGate = () => gate.promise;
    const { provider } = setup({ poolSize: 0 }, wrapper);
    const dataKey = await provider.acquireDataKey();
    const pending = Array.from({ length: 3 }, () => provider.unwrap(dataKey.wrapped));
    await ticks();
    expect(wrapper.unwrapCalls).toBe(3);
    gate.resolve();
    for (const cek of await Promise.all(pending)) expect(cek.equals(dataKey.cek)).toBe(true);
    await provider.unwrap(dataKey.wrapped);
    expect(wrapper.unwrapCalls).toBe(4);
    expect(provider.stats).toMatchObject({ poolHits: 0, poolMisses: 4, unwraps: 4 });
  });

  it("lets a waiting read give up, and aborts the shared unwrap once nobody waits", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.unwrapGate = () => gate.promise;
    const { provider } = setup({}, wrapper);
    const [key] = await wrappedKeys(wrapper, 1);
    if (!key) throw new Error("missing key");
    const first = new AbortController();
    const second = new AbortController();
    const a = provider.unwrap(key.wrapped, { abortSignal: first.signal });
    const b = provider.unwrap(key.wrapped, { abortSignal: second.signal });
    const sharedSignal = wrapper.unwrapOptions[0]?.abortSignal;
    first.abort();
    expect((await storageFailure(a)).code).toBe("timeout");
    expect(sharedSignal?.aborted).toBe(false);
    second.abort();
    expect((await storageFailure(b)).code).toBe("timeout");
    expect(sharedSignal?.aborted).toBe(true);
    gate.resolve();
    await ticks();
    // The late result is dropped and zeroed; a new read unwraps again.
    expect(wrapper.unwrapped[0] && isZero(wrapper.unwrapped[0])).toBe(true);
    expect((await provider.unwrap(key.wrapped)).equals(key.cek)).toBe(true);
    expect(wrapper.unwrapCalls).toBe(2);
  });

  it("honours a waiter's own timeout", async () => {
    const wrapper = new TestWrapper();
    wrapper.unwrapGate = () => new Promise(() => {});
    const { provider } = setup({}, wrapper);
    const [key] = await wrappedKeys(wrapper, 1);
    if (!key) throw new Error("missing key");
    const error = await storageFailure(provider.unwrap(key.wrapped, { timeoutInMs: 5 }));
    expect(error.code).toBe("timeout");
  });
});

describe("CachingKeyProvider dispose", () => {
  it("zeroes the data keys and the pool, and refuses later calls", async () => {
    const { provider, wrapper, generated, zeroed } = setup({ maxUsesPerDataKey: 10 });
    const [a] = await wrappedKeys(wrapper, 1);
    if (!a) throw new Error("missing key");
    for (let i = 0; i < 9; i++) await provider.acquireDataKey(); // the next key is prepared at 8
    await ticks();
    await provider.unwrap(a.wrapped);
    expect(generated).toHaveLength(2);
    const ownBuffers = [...generated, ...wrapper.unwrapped];
    expect(ownBuffers.some(isZero)).toBe(false);

    provider.dispose();
    for (const buffer of ownBuffers) expect(isZero(buffer)).toBe(true);
    // current + next + 3 pool entries (two fresh data keys, one unwrapped key)
    expect(zeroed.filter((event) => event.reason === "disposed" && event.allZero)).toHaveLength(5);
    expect((await storageFailure(provider.acquireDataKey())).code).toBe("unavailable");
    expect((await storageFailure(provider.unwrap(a.wrapped))).code).toBe("unavailable");
    provider.dispose();
  });

  it("rejects reads in flight and zeroes their late result", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.unwrapGate = () => gate.promise;
    const { provider } = setup({}, wrapper);
    const [key] = await wrappedKeys(wrapper, 1);
    if (!key) throw new Error("missing key");
    const pending = provider.unwrap(key.wrapped);
    provider.dispose();
    expect((await storageFailure(pending)).message).toBe("the content key cache has been shut down");
    expect(wrapper.unwrapOptions[0]?.abortSignal?.aborted).toBe(true);
    gate.resolve();
    await ticks();
    expect(wrapper.unwrapped[0] && isZero(wrapper.unwrapped[0])).toBe(true);
  });

  it("zeroes a data key whose wrap completes after dispose", async () => {
    const wrapper = new TestWrapper();
    const gate = deferred();
    wrapper.wrapGate = () => gate.promise;
    const { provider, generated } = setup({}, wrapper);
    const pending = provider.acquireDataKey();
    provider.dispose();
    gate.resolve();
    expect((await storageFailure(pending)).code).toBe("unavailable");
    expect(generated[0] && isZero(generated[0])).toBe(true);
  });
});
