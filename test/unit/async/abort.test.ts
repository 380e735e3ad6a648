import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  abortedError,
  combineAbortSignals,
  delay,
  describeAbortReason,
  minTimeout,
  raceWithSignal,
  runWithDeadline,
} from "../../../src/async/abort.ts";
import { describeError, StorageError } from "../../../src/errors.ts";

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

function abortedSignal(reason?: unknown): AbortSignal {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
}

/** The settled state of a promise, without waiting for it to settle. */
async function stateOf(promise: Promise<unknown>): Promise<"pending" | "fulfilled" | "rejected"> {
  let state: "pending" | "fulfilled" | "rejected" = "pending";
  promise.then(
    () => {
      state = "fulfilled";
    },
    () => {
      state = "rejected";
    },
  );
  await Promise.resolve();
  await Promise.resolve();
  return state;
}

describe("combineAbortSignals", () => {
  it("never aborts without inputs or timeout, and skips undefined inputs", async () => {
    const combined = combineAbortSignals([undefined, undefined]);
    await vi.advanceTimersByTimeAsync(1_000_000);
    expect(combined.signal.aborted).toBe(false);
    combined.dispose();
  });

  it("is aborted at once with the reason of an input that already aborted", () => {
    const reason = new Error("first");
    const combined = combineAbortSignals(
      [undefined, abortedSignal(reason), abortedSignal(new Error("second"))],
      10,
    );
    expect(combined.signal.aborted).toBe(true);
    expect(combined.signal.reason).toBe(reason);
    // No timer was left running for the timeout.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stops looking at the inputs after one that already aborted", () => {
    const later = new AbortController();
    const listen = vi.spyOn(later.signal, "addEventListener");
    combineAbortSignals([abortedSignal("gone"), later.signal]);
    expect(listen).not.toHaveBeenCalled();
  });

  it("aborts with the reason of the first input that aborts later, and lets go of the others", () => {
    const a = new AbortController();
    const b = new AbortController();
    const releaseB = vi.spyOn(b.signal, "removeEventListener");
    const combined = combineAbortSignals([a.signal, b.signal], 1000);
    expect(combined.signal.aborted).toBe(false);

    a.abort("caller gave up");
    expect(combined.signal.aborted).toBe(true);
    expect(combined.signal.reason).toBe("caller gave up");
    expect(releaseB).toHaveBeenCalledWith("abort", expect.any(Function));
    expect(vi.getTimerCount()).toBe(0);

    b.abort("too late");
    expect(combined.signal.reason).toBe("caller gave up");
  });

  it("keeps the first reason when a second input fires anyway", () => {
    // Inputs that call their listeners even after removal: only the first abort counts.
    const listeners: Array<() => void> = [];
    const sticky = (reason: string) =>
      ({
        aborted: false,
        reason,
        addEventListener: (_type: string, listener: () => void) => listeners.push(listener),
        removeEventListener: () => {},
      }) as unknown as AbortSignal;
    const combined = combineAbortSignals([sticky("one"), sticky("two")]);
    for (const listener of listeners) listener();
    expect(combined.signal.reason).toBe("one");
  });

  it("aborts with a StorageError naming the deadline when the timeout passes", async () => {
    const input = new AbortController();
    const combined = combineAbortSignals([input.signal], 250);
    await vi.advanceTimersByTimeAsync(249);
    expect(combined.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(combined.signal.aborted).toBe(true);
    const reason: unknown = combined.signal.reason;
    expect(reason).toBeInstanceOf(StorageError);
    expect(reason).toMatchObject({ code: "timeout", message: "deadline of 250 ms passed" });
    // The input's listener went with the timeout.
    input.abort("late");
    expect(combined.signal.reason).toBe(reason);
  });

  it("treats a negative timeout as 0 ms and ignores a non-finite one", async () => {
    const negative = combineAbortSignals([], -5);
    const infinite = combineAbortSignals([], Number.POSITIVE_INFINITY);
    const nan = combineAbortSignals([], Number.NaN);
    await vi.advanceTimersByTimeAsync(0);
    expect(negative.signal.reason).toMatchObject({ message: "deadline of 0 ms passed" });
    await vi.advanceTimersByTimeAsync(1_000_000);
    expect(infinite.signal.aborted).toBe(false);
    expect(nan.signal.aborted).toBe(false);
  });

  it("dispose removes the listeners and clears the timer", async () => {
    const input = new AbortController();
    const combined = combineAbortSignals([input.signal], 100);
    combined.dispose();
    expect(vi.getTimerCount()).toBe(0);
    input.abort("after dispose");
    await vi.advanceTimersByTimeAsync(200);
    expect(combined.signal.aborted).toBe(false);
    combined.dispose(); // twice is harmless
  });
});

describe("runWithDeadline", () => {
  it("returns the body's value and disposes its signal", async () => {
    let seen: AbortSignal | undefined;
    const value = await runWithDeadline(
      { timeoutInMs: 100 },
      async (signal) => {
        seen = signal;
        return 42;
      },
      () => new Error("not called"),
    );
    expect(value).toBe(42);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(seen?.aborted).toBe(false);
  });

  it("throws what failure() makes of the body's error, with the signal", async () => {
    const cause = new Error("boom");
    const failure = vi.fn(
      (error: unknown, signal: AbortSignal) =>
        new StorageError("internal", `${String(error)} ${signal.aborted}`),
    );
    const error = await runWithDeadline({}, () => Promise.reject(cause), failure).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "internal", message: "Error: boom false" });
    expect(failure).toHaveBeenCalledWith(cause, expect.any(AbortSignal));
    expect(vi.getTimerCount()).toBe(0);
  });

  it("aborts the body's signal at the deadline and tells failure() so", async () => {
    const run = runWithDeadline(
      { timeoutInMs: 50 },
      (signal) =>
        new Promise<never>((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(new Error("stopped")));
        }),
      (error, signal) => abortedError("read", `blob (${describeError(error)})`, signal),
    );
    const settled = run.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(50);
    expect(await settled).toMatchObject({
      code: "timeout",
      message: "read blob (stopped): deadline of 50 ms passed",
    });
  });

  it("follows the caller's abortSignal", async () => {
    const caller = new AbortController();
    const run = runWithDeadline(
      { abortSignal: caller.signal },
      (signal) =>
        new Promise<never>((_resolve, reject) => {
          signal.addEventListener("abort", () => reject(signal.reason));
        }),
      (error) => error,
    );
    caller.abort("cancelled");
    await expect(run).rejects.toBe("cancelled");
  });
});

describe("raceWithSignal", () => {
  it("returns the promise itself without a signal", () => {
    const promise = Promise.resolve(1);
    expect(raceWithSignal(promise, undefined, () => new Error("no"))).toBe(promise);
  });

  it("rejects with onAbort() at once when the signal already aborted, and swallows the promise's failure", async () => {
    const onAbort = vi.fn(() => new Error("aborted before"));
    const failing = Promise.reject(new Error("ignored"));
    await expect(raceWithSignal(failing, abortedSignal(), onAbort)).rejects.toThrow("aborted before");
    expect(onAbort).toHaveBeenCalledTimes(1);
    // An unhandled rejection of `failing` would fail the run.
    await vi.advanceTimersByTimeAsync(0);
  });

  it("settles like the promise when it settles first, and stops listening", async () => {
    const controller = new AbortController();
    const release = vi.spyOn(controller.signal, "removeEventListener");
    const onAbort = vi.fn(() => new Error("no"));
    await expect(raceWithSignal(Promise.resolve("value"), controller.signal, onAbort)).resolves.toBe("value");
    await expect(
      raceWithSignal(Promise.reject(new Error("own")), controller.signal, onAbort),
    ).rejects.toThrow("own");
    expect(release).toHaveBeenCalledTimes(2);
    controller.abort();
    expect(onAbort).not.toHaveBeenCalled();
  });

  it("rejects with onAbort() when the signal aborts first, and ignores the promise's later result", async () => {
    const controller = new AbortController();
    let fail: (error: Error) => void = () => {};
    const pending = new Promise<string>((_resolve, reject) => {
      fail = reject;
    });
    const race = raceWithSignal(pending, controller.signal, () => new StorageError("timeout", "gave up"));
    expect(await stateOf(race)).toBe("pending");
    controller.abort();
    await expect(race).rejects.toMatchObject({ code: "timeout", message: "gave up" });
    fail(new Error("late failure, handled"));
    await vi.advanceTimersByTimeAsync(0);
  });
});

describe("abortedError and describeAbortReason", () => {
  it.each([
    [
      "a StorageError: its message",
      new StorageError("timeout", "deadline of 5 ms passed"),
      "deadline of 5 ms passed",
    ],
    [
      "an AbortError: the caller",
      new DOMException("This operation was aborted", "AbortError"),
      "aborted by the caller",
    ],
    [
      "a TimeoutError: the deadline",
      new DOMException("The operation timed out", "TimeoutError"),
      "deadline passed",
    ],
    ["another Error: its message", new Error("socket closed"), "socket closed"],
    ["anything else: the caller", "just a string", "aborted by the caller"],
  ])("describes %s", (_name, reason, expected) => {
    const signal = abortedSignal(reason);
    expect(describeAbortReason(signal)).toBe(expected);
    const error = abortedError("create", "orthanc/x.dcm", signal);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.code).toBe("timeout");
    expect(error.message).toBe(`create orthanc/x.dcm: ${expected}`);
  });

  it("calls the default reason of AbortController.abort() the caller's", () => {
    expect(abortedError("read", "b", abortedSignal()).message).toBe("read b: aborted by the caller");
  });
});

describe("minTimeout", () => {
  it("is the smallest given timeout, undefined when none is given", () => {
    expect(minTimeout()).toBeUndefined();
    expect(minTimeout(undefined, undefined)).toBeUndefined();
    expect(minTimeout(undefined, 300, 100, undefined, 200)).toBe(100);
    expect(minTimeout(0, 5)).toBe(0);
  });
});

describe("delay", () => {
  it("resolves after the given time", async () => {
    const wait = delay(100, undefined, () => new Error("no"));
    await vi.advanceTimersByTimeAsync(99);
    expect(await stateOf(wait)).toBe("pending");
    await vi.advanceTimersByTimeAsync(1);
    await expect(wait).resolves.toBeUndefined();
  });

  it("rejects with onAbort() and clears its timer when the signal aborts", async () => {
    const controller = new AbortController();
    const wait = delay(10_000, controller.signal, () => new Error("woken"));
    controller.abort();
    await expect(wait).rejects.toThrow("woken");
    expect(vi.getTimerCount()).toBe(0);
  });
});
