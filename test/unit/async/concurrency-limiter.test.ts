import { describe, expect, it } from "vitest";
import { ConcurrencyLimiter } from "../../../src/async/concurrency-limiter.ts";
import { StorageError } from "../../../src/errors.ts";
import { deferred } from "../../support/deferred.ts";

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("ConcurrencyLimiter", () => {
  it("rejects a max that is not a positive integer", () => {
    for (const max of [0, -1, 1.5, Number.NaN]) {
      expect(() => new ConcurrencyLimiter(max)).toThrow(StorageError);
    }
  });

  it("runs at most max tasks at once and starts waiting ones in FIFO order", async () => {
    const limiter = new ConcurrencyLimiter(2);
    const gates = Array.from({ length: 5 }, () => deferred<number>());
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    const results = gates.map((gate, index) =>
      limiter.run(async () => {
        started.push(index);
        running++;
        peak = Math.max(peak, running);
        try {
          return await gate.promise;
        } finally {
          running--;
        }
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect(limiter.active).toBe(2);
    expect(limiter.pending).toBe(3);

    gates[1]?.resolve(1);
    await tick();
    expect(started).toEqual([0, 1, 2]);

    gates[0]?.resolve(0);
    gates[2]?.resolve(2);
    await tick();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(limiter.pending).toBe(0);

    gates[3]?.resolve(3);
    gates[4]?.resolve(4);
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
  });

  it("frees the slot when a task fails, and passes the failure through", async () => {
    const limiter = new ConcurrencyLimiter(1);
    const failure = new Error("boom");
    const first = limiter.run(async () => {
      throw failure;
    });
    const second = limiter.run(async () => "ok");
    await expect(first).rejects.toBe(failure);
    await expect(second).resolves.toBe("ok");
    expect(limiter.active).toBe(0);
  });

  it("frees the slot when a task throws synchronously", async () => {
    const limiter = new ConcurrencyLimiter(1);
    const first = limiter.run((() => {
      throw new Error("sync");
    }) as () => Promise<never>);
    await expect(first).rejects.toThrow("sync");
    await expect(limiter.run(async () => 1)).resolves.toBe(1);
  });

  it("removes an aborted waiting task from the queue and rejects it with timeout", async () => {
    const limiter = new ConcurrencyLimiter(1);
    const gate = deferred<string>();
    const running = limiter.run(() => gate.promise);
    const controller = new AbortController();
    let ranAborted = false;
    const waiting = limiter.run(
      async () => {
        ranAborted = true;
      },
      { abortSignal: controller.signal },
    );
    const after = limiter.run(async () => "after");
    expect(limiter.pending).toBe(2);

    controller.abort();
    const error = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe("timeout");
    expect((error as StorageError).message).toMatch(/free request slot/);
    expect(limiter.pending).toBe(1);

    gate.resolve("first");
    await expect(running).resolves.toBe("first");
    await expect(after).resolves.toBe("after");
    expect(ranAborted).toBe(false);
  });

  it("rejects at once when the signal is already aborted, without running the task", async () => {
    const limiter = new ConcurrencyLimiter(3);
    let ran = false;
    const controller = new AbortController();
    controller.abort();
    await expect(
      limiter.run(
        async () => {
          ran = true;
        },
        { abortSignal: controller.signal },
      ),
    ).rejects.toMatchObject({ code: "timeout" });
    expect(ran).toBe(false);
    expect(limiter.active).toBe(0);
  });

  it("does not cancel a task that already started when its signal aborts", async () => {
    const limiter = new ConcurrencyLimiter(1);
    const controller = new AbortController();
    const gate = deferred<string>();
    const task = limiter.run(() => gate.promise, { abortSignal: controller.signal });
    controller.abort();
    gate.resolve("done");
    await expect(task).resolves.toBe("done");
  });
});
