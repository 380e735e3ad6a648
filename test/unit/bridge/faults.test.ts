import { describe, expect, it } from "vitest";
import { FaultPlan, parseFault } from "../../../src/bridge/faults.ts";
import { StorageError } from "../../../src/errors.ts";

describe("parseFault", () => {
  it("reads each kind, with a count of 1 unless given", () => {
    expect(parseFault({ fault: "hang" })).toEqual({ kind: "hang", count: 1 });
    expect(parseFault({ fault: "hang", count: 2.7 })).toEqual({ kind: "hang", count: 2 });
    expect(parseFault({ fault: "fail", code: "timeout", count: 3 })).toEqual({
      kind: "fail",
      code: "timeout",
      count: 3,
    });
    expect(parseFault({ fault: "short-range", count: 0 })).toEqual({ kind: "short-range", count: 1 });
    expect(parseFault({ fault: "exit" })).toEqual({ kind: "exit", code: 3 });
  });

  it("rejects malformed faults with the expected/received shape", () => {
    expect(() => parseFault({ fault: "explode" })).toThrow(
      'Expected "exit", "throw", "hang", "busy", "oom", "fail" or "short-range" for fault but received "explode"',
    );
    expect(() => parseFault({ fault: "fail", code: "nope" })).toThrow(
      'Expected one of not-found, integrity, timeout, unavailable, internal for code but received "nope"',
    );
    expect(() => parseFault(null)).toThrow("Expected a JSON object for the fault");
  });
});

describe("FaultPlan", () => {
  it("hands out each armed fault as many times as armed, then nothing", () => {
    const plan = new FaultPlan();
    plan.arm(parseFault({ fault: "hang", count: 2 }));
    plan.arm(parseFault({ fault: "short-range" }));
    expect([plan.takeHang(), plan.takeHang(), plan.takeHang()]).toEqual([true, true, false]);
    expect([plan.takeShortRange(), plan.takeShortRange()]).toEqual([true, false]);
  });

  it("throws an armed failure with its code, count times", () => {
    const plan = new FaultPlan();
    plan.arm(parseFault({ fault: "fail", code: "unavailable", count: 2 }));
    for (let i = 0; i < 2; i++) {
      expect(() => plan.takeFailure()).toThrow(
        new StorageError("unavailable", "injected unavailable failure (testing endpoint)"),
      );
    }
    expect(() => plan.takeFailure()).not.toThrow();
  });
});
