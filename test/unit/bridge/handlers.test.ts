import { describe, expect, it } from "vitest";
import { injectFaults } from "../../../src/bridge/fault-injecting-storage.ts";
import { FaultPlan, parseFault } from "../../../src/bridge/faults.ts";
import { TESTING_DISABLED_MESSAGE } from "../../../src/bridge/handlers.ts";
import { Operation } from "../../../src/bridge/native-binding.ts";
import { createRestRoutes } from "../../../src/bridge/rest-routes.ts";
import { BridgeStatus, statusForError } from "../../../src/bridge/status-codes.ts";
import type { StatusReport } from "../../../src/bridge/status-report.ts";
import { StorageError } from "../../../src/errors.ts";
import { requestHandlerHarness as harness, storageStub } from "../../support/request-handler-harness.ts";

const UUID = "0b6ab2a5-51c2-4d0f-a5a0-8a3c0c8a4c21";

describe("statusForError (the JS half of the error table)", () => {
  it.each([
    ["not-found", BridgeStatus.NotFound],
    ["integrity", BridgeStatus.Integrity],
    ["timeout", BridgeStatus.Timeout],
    ["unavailable", BridgeStatus.Failure],
    ["already-exists", BridgeStatus.Failure],
    ["invalid-argument", BridgeStatus.Failure],
    ["internal", BridgeStatus.Failure],
  ] as const)("maps %s to %i", (code, status) => {
    expect(statusForError(new StorageError(code, "x"))).toBe(status);
  });

  it("maps anything that is not a StorageError to Failure", () => {
    expect(statusForError(new TypeError("boom"))).toBe(BridgeStatus.Failure);
    expect(statusForError("a string")).toBe(BridgeStatus.Failure);
  });
});

describe("createRequestHandler", () => {
  it("hands create data to the service and completes with Ok", async () => {
    const seen: Array<[string, number, string]> = [];
    const h = harness({
      create: async (uuid, type, data) => {
        seen.push([uuid, type, data.toString()]);
      },
    });
    h.handler(7, Operation.Create, UUID, 1, 0, 0, Buffer.from("dicom bytes"));
    await h.next(1);
    expect(seen).toEqual([[UUID, 1, "dicom bytes"]]);
    expect(h.completions).toEqual([{ id: 7, status: BridgeStatus.Ok, message: "", data: undefined }]);
    expect(h.stats.snapshot().create).toEqual({ calls: 1, failures: 0, bytes: 11 });
  });

  it("returns read data and range data", async () => {
    const h = harness({
      readWhole: async () => Buffer.from("whole"),
      readRange: async (_uuid, _type, offset, length) =>
        Buffer.from("0123456789").subarray(offset, offset + length),
    });
    h.handler(1, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    h.handler(2, Operation.ReadRange, UUID, 1, 2, 3, undefined);
    await h.next(2);
    const byId = new Map(h.completions.map((c) => [c.id, c]));
    expect(byId.get(1)?.data?.toString()).toBe("whole");
    expect(byId.get(2)?.data?.toString()).toBe("234");
    expect(h.stats.snapshot().readRange.calls).toBe(1);
  });

  it("turns a thrown StorageError into {status, message}, never a throw", async () => {
    const h = harness({
      readWhole: async () => {
        throw new StorageError("not-found", "read x.dcm: blob not found");
      },
      remove: async () => {
        throw new Error("unexpected");
      },
    });
    h.handler(3, Operation.ReadWhole, UUID, 1, 0, 0, undefined);
    h.handler(4, Operation.Remove, UUID, 1, 0, 0, undefined);
    await h.next(2);
    const byId = new Map(h.completions.map((c) => [c.id, c]));
    expect(byId.get(3)).toMatchObject({
      status: BridgeStatus.NotFound,
      message: "read x.dcm: blob not found",
    });
    expect(byId.get(4)).toMatchObject({ status: BridgeStatus.Failure, message: "unexpected" });
    expect(h.stats.snapshot().readWhole.failures).toBe(1);
  });

  it("answers an unknown operation code with Failure", async () => {
    const h = harness({});
    h.handler(5, 42 as never, UUID, 1, 0, 0, undefined);
    await h.next(1);
    expect(h.completions[0]).toMatchObject({ status: BridgeStatus.Failure });
    expect(h.completions[0]?.message).toContain("Expected an operation code from 0 to 6 but received 42");
  });

  it("serves REST routes as JSON and 404s unknown ones", async () => {
    // The route serialises whatever the status callback returns; its content is the caller's.
    const rest = createRestRoutes({ status: () => ({ ok: true }) as unknown as StatusReport });
    const h = harness({}, { rest });
    h.handler(1, Operation.Rest, "", 0, 0, 0, Buffer.alloc(0), { method: 1, path: "status" });
    h.handler(2, Operation.Rest, "", 0, 0, 0, Buffer.alloc(0), { method: 1, path: "nope" });
    h.handler(3, Operation.Rest, "", 0, 0, 0, Buffer.from('{"fault":"hang"}'), {
      method: 2,
      path: "testing/faults",
    });
    await h.next(3);
    const byId = new Map(h.completions.map((c) => [c.id, c]));
    expect(JSON.parse(byId.get(1)?.data?.toString() ?? "")).toEqual({ ok: true });
    expect(byId.get(2)?.status).toBe(BridgeStatus.NotFound);
    // Fault injection routes do not exist unless the configuration enables them.
    expect(byId.get(3)?.status).toBe(BridgeStatus.NotFound);
  });

  it("routes REST calls by their own route fields, never by uuid or content type", async () => {
    const seen: Array<[string, string]> = [];
    const h = harness(
      {},
      {
        rest: async (request) => {
          seen.push([request.method, request.path]);
          return { found: true, body: {} };
        },
      },
    );
    h.handler(1, Operation.Rest, "status", 1, 0, 0, Buffer.alloc(0), { method: 4, path: "testing/x" });
    h.handler(2, Operation.Rest, "status", 1, 0, 0, Buffer.alloc(0));
    h.handler(3, Operation.Rest, "", 0, 0, 0, Buffer.alloc(0), { method: 9, path: "status" });
    await h.next(3);
    expect(seen).toEqual([["DELETE", "testing/x"]]);
    const byId = new Map(h.completions.map((c) => [c.id, c]));
    expect(byId.get(1)?.status).toBe(BridgeStatus.Ok);
    expect(byId.get(2)?.status).toBe(BridgeStatus.NotFound);
    expect(byId.get(3)?.status).toBe(BridgeStatus.NotFound);
  });
});

describe("Echo (the hop benchmark's no-op)", () => {
  it("is refused with the configuration key's name when testing endpoints are off", () => {
    const h = harness({});
    h.handler(1, Operation.Echo, "hop", 0, 0, 0, Buffer.from("12345678"));
    // Synchronous: nothing between the shim's call and complete().
    expect(h.completions).toEqual([
      { id: 1, status: BridgeStatus.Failure, message: TESTING_DISABLED_MESSAGE, data: undefined },
    ]);
  });

  it("echoes its bytes at once, without storage, counters or armed faults, when they are on", () => {
    const faults = new FaultPlan();
    faults.arm(parseFault({ fault: "hang", count: 1 }));
    faults.arm(parseFault({ fault: "fail", code: "internal", count: 1 }));
    const h = harness(injectFaults(storageStub({}), faults), { testingEndpoints: true });
    h.handler(2, Operation.Echo, "hop", 0, 0, 0, Buffer.from("12345678"));
    expect(h.completions).toHaveLength(1);
    expect(h.completions[0]).toMatchObject({ id: 2, status: BridgeStatus.Ok, message: "" });
    expect(h.completions[0]?.data?.toString()).toBe("12345678");
    expect(Object.values(h.stats.snapshot()).every((op) => op.calls === 0)).toBe(true);
    // The faults are still armed for the next storage call.
    expect(faults.takeHang()).toBe(true);
  });
});

describe("Shutdown (sent by the shim when the plugin stops)", () => {
  it("disposes once, then completes Ok, without counters", async () => {
    let disposed = 0;
    const h = harness(
      {},
      {
        dispose: async () => {
          disposed++;
        },
      },
    );
    h.handler(1, Operation.Shutdown, "", 0, 0, 0, undefined);
    await h.next(1);
    expect(disposed).toBe(1);
    expect(h.completions).toEqual([{ id: 1, status: BridgeStatus.Ok, message: "", data: undefined }]);
    expect(Object.values(h.stats.snapshot()).every((op) => op.calls === 0)).toBe(true);
  });

  it("reports a failed dispose as {status, message}", async () => {
    const h = harness(
      {},
      {
        dispose: async () => {
          throw new StorageError("unavailable", "the pool would not close");
        },
      },
    );
    h.handler(2, Operation.Shutdown, "", 0, 0, 0, undefined);
    await h.next(1);
    expect(h.completions[0]).toMatchObject({
      id: 2,
      status: BridgeStatus.Failure,
      message: "the pool would not close",
    });
  });

  it("completes Ok when there is nothing to dispose", async () => {
    const h = harness({});
    h.handler(3, Operation.Shutdown, "", 0, 0, 0, undefined);
    await h.next(1);
    expect(h.completions[0]).toMatchObject({ id: 3, status: BridgeStatus.Ok });
  });
});
