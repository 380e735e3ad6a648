/**
 * The fault wrapper main.ts puts around the storage service when EnableTestingEndpoints is true,
 * seen through the request handler as the shim sees it (test/integration/plugin.test.ts drives
 * the same faults through Orthanc).
 */
import { describe, expect, it } from "vitest";
import { injectFaults } from "../../../src/bridge/fault-injecting-storage.ts";
import { FaultPlan, parseFault } from "../../../src/bridge/faults.ts";
import type { StorageOperations } from "../../../src/bridge/handlers.ts";
import { Operation } from "../../../src/bridge/native-binding.ts";
import { createRestRoutes } from "../../../src/bridge/rest-routes.ts";
import { BridgeStatus } from "../../../src/bridge/status-codes.ts";
import type { StatusReport } from "../../../src/bridge/status-report.ts";
import { requestHandlerHarness, storageStub } from "../../support/request-handler-harness.ts";

const UUID = "0b6ab2a5-51c2-4d0f-a5a0-8a3c0c8a4c21";

function armed(...faults: unknown[]): FaultPlan {
  const plan = new FaultPlan();
  for (const fault of faults) plan.arm(parseFault(fault));
  return plan;
}

function harness(storage: Partial<StorageOperations>, faults: FaultPlan) {
  const rest = createRestRoutes({ status: () => ({ ok: true }) as unknown as StatusReport, faults });
  return requestHandlerHarness(injectFaults(storageStub(storage), faults), { rest, testingEndpoints: true });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("injectFaults", () => {
  it("passes every operation through unchanged when nothing is armed", async () => {
    const seen: unknown[] = [];
    const storage = injectFaults(
      storageStub({
        create: async (uuid, type, data, options) => {
          seen.push([uuid, type, data.toString(), options]);
        },
        readWhole: async () => Buffer.from("whole"),
        readRange: async () => Buffer.from("range"),
        remove: async (uuid, type) => {
          seen.push([uuid, type]);
        },
      }),
      new FaultPlan(),
    );
    await storage.create(UUID, 1, Buffer.from("in"), { consumeInput: true });
    expect((await storage.readWhole(UUID, 1)).toString()).toBe("whole");
    expect((await storage.readRange(UUID, 1, 0, 5)).toString()).toBe("range");
    await storage.remove(UUID, 3);
    expect(seen).toEqual([
      [UUID, 1, "in", { consumeInput: true }],
      [UUID, 3],
    ]);
  });

  it("a hang fault leaves the next storage call uncompleted, without calling the store", async () => {
    let removes = 0;
    const h = harness(
      {
        remove: async () => {
          removes++;
        },
      },
      armed({ fault: "hang", count: 1 }),
    );
    h.handler(1, Operation.Remove, UUID, 1, 0, 0, undefined);
    h.handler(2, Operation.Remove, UUID, 1, 0, 0, undefined);
    await h.next(1);
    await settle();
    expect(h.completions.map((c) => c.id)).toEqual([2]);
    expect(removes).toBe(1);
    // A call that never completes is not counted either.
    expect(h.stats.snapshot().remove).toEqual({ calls: 1, failures: 0, bytes: 0 });
  });

  it("a hang comes before an armed failure", async () => {
    const h = harness(
      { readWhole: async () => Buffer.from("ok") },
      armed({ fault: "hang" }, { fault: "fail", code: "timeout" }),
    );
    h.handler(1, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    h.handler(2, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    h.handler(3, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    await h.next(2);
    await settle();
    expect(h.completions.map((c) => [c.id, c.status])).toEqual([
      [2, BridgeStatus.Timeout],
      [3, BridgeStatus.Ok],
    ]);
  });

  it("a fail fault maps through the status table, then clears", async () => {
    const h = harness(
      { readWhole: async () => Buffer.from("ok") },
      armed({ fault: "fail", code: "integrity" }),
    );
    h.handler(1, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    await h.next(1);
    h.handler(2, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    await h.next(2);
    expect(h.completions.map((c) => c.status)).toEqual([BridgeStatus.Integrity, BridgeStatus.Ok]);
    expect(h.completions[0]?.message).toBe("injected integrity failure (testing endpoint)");
    expect(h.stats.snapshot().readWhole).toMatchObject({ calls: 2, failures: 1 });
  });

  it("a fail fault with a count fails that many calls of any storage operation, before the store", async () => {
    let creates = 0;
    const h = harness(
      {
        create: async () => {
          creates++;
        },
        remove: async () => undefined,
      },
      armed({ fault: "fail", code: "unavailable", count: 2 }),
    );
    h.handler(1, Operation.Create, UUID, 1, 0, 0, Buffer.from("x"));
    await h.next(1);
    h.handler(2, Operation.Remove, UUID, 1, 0, 0, undefined);
    await h.next(2);
    h.handler(3, Operation.Create, UUID, 1, 0, 0, Buffer.from("x"));
    await h.next(3);
    expect(h.completions.map((c) => c.status)).toEqual([
      BridgeStatus.Failure,
      BridgeStatus.Failure,
      BridgeStatus.Ok,
    ]);
    expect(creates).toBe(1);
  });

  it("a short-range fault drops one byte, for the shim's length check", async () => {
    const h = harness({ readRange: async () => Buffer.from("abcd") }, armed({ fault: "short-range" }));
    h.handler(1, Operation.ReadRange, UUID, 1, 0, 4, undefined);
    await h.next(1);
    h.handler(2, Operation.ReadRange, UUID, 1, 0, 4, undefined);
    await h.next(2);
    expect(h.completions.map((c) => c.data?.toString())).toEqual(["abc", "abcd"]);
  });

  it("a short-range fault is used up by an empty range, which stays empty", async () => {
    const storage = injectFaults(
      storageStub({ readRange: async (_u, _t, _o, length) => Buffer.alloc(length, 0x61) }),
      armed({ fault: "short-range" }),
    );
    expect((await storage.readRange(UUID, 1, 0, 0)).length).toBe(0);
    expect((await storage.readRange(UUID, 1, 0, 4)).length).toBe(4);
  });

  it("leaves REST requests alone: armed faults wait for the next storage call", async () => {
    const faults = armed({ fault: "hang" }, { fault: "fail", code: "internal" });
    const h = harness({}, faults);
    h.handler(1, Operation.Rest, "", 0, 0, 0, Buffer.alloc(0), { method: 1, path: "status" });
    await h.next(1);
    expect(h.completions[0]?.status).toBe(BridgeStatus.Ok);
    expect(faults.takeHang()).toBe(true);
    expect(() => faults.takeFailure()).toThrow("injected internal failure");
  });

  it("arms faults through the testing route of the same handler", async () => {
    const faults = new FaultPlan();
    const h = harness({ readWhole: async () => Buffer.from("ok") }, faults);
    h.handler(1, Operation.Rest, "", 0, 0, 0, Buffer.from('{"fault":"fail","code":"not-found"}'), {
      method: 2,
      path: "testing/faults",
    });
    await h.next(1);
    h.handler(2, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    await h.next(2);
    expect(JSON.parse(h.completions[0]?.data?.toString() ?? "")).toEqual({
      armed: { kind: "fail", code: "not-found", count: 1 },
    });
    expect(h.completions[1]?.status).toBe(BridgeStatus.NotFound);
  });
});
