/**
 * GET /azure-blob-storage/testing/hop: the shim's C++ -> JS -> C++ round trip, driven from
 * native threads inside Orthanc (the hop micro-benchmark of bench/hop.ts). Only the shape
 * and the accounting are checked here; how fast it is belongs to the benchmark.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/bridge/status-report.ts";
import { generateCt } from "../support/dicom.ts";
import type { HopAnswer } from "../support/hop.ts";
import { getJson, type OrthancInstance, startOrthanc, uploadInstance } from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../support/plugin.ts";

/** The in-memory store: the hop never touches storage, so no Azurite is needed. */
function section(enableTestingEndpoints: boolean): Record<string, unknown> {
  return pluginSection("UseDevelopmentStorage=true", {
    InMemoryStoreForTesting: true,
    EnableTestingEndpoints: enableTestingEndpoints,
  });
}

async function hop(orthanc: OrthancInstance, query: string, method = "GET") {
  const response = await fetch(`${orthanc.url}/azure-blob-storage/testing/hop${query}`, { method });
  return { status: response.status, text: await response.text() };
}

async function storageCalls(orthanc: OrthancInstance): Promise<number> {
  const status = await getJson<StatusReport>(`${orthanc.url}/azure-blob-storage/status`);
  return Object.values(status.operations).reduce((sum, op) => sum + op.calls, 0);
}

let disabled: OrthancInstance;
let enabled: OrthancInstance;

beforeAll(async () => {
  [disabled, enabled] = await Promise.all([
    startOrthanc({ plugins: [PLUGIN_PATH], azureBlobStorage: section(false) }),
    startOrthanc({ plugins: [PLUGIN_PATH], azureBlobStorage: section(true) }),
  ]);
});

afterAll(async () => {
  await Promise.all([disabled?.stop(), enabled?.stop()]);
});

describe("the hop route", () => {
  it("is refused, naming the configuration key, unless EnableTestingEndpoints is true", async () => {
    const answer = await hop(disabled, "?threads=4&calls=10");
    expect(answer.status).toBe(403);
    expect(answer.text).toContain("testing endpoints are disabled (AzureBlobStorage.EnableTestingEndpoints)");
    // Refusing left the runtime serving: the plugin's own routes still answer.
    expect(await storageCalls(disabled)).toBe(0);
  });

  it("runs threads × calls Echo round trips through JS and reports their latency", async () => {
    const ct = generateCt({ seed: 41 });
    expect((await uploadInstance(enabled.url, ct.bytes)).Status).toBe("Success");
    const callsBefore = await storageCalls(enabled);

    const answer = await hop(enabled, "?threads=4&calls=200");
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.text) as HopAnswer;
    expect(body).toMatchObject({ threads: 4, callsPerThread: 200, calls: 800, failures: 0 });
    expect(body.p50Us).toBeGreaterThan(0);
    expect(body.p99Us).toBeGreaterThanOrEqual(body.p50Us);
    expect(body.maxUs).toBeGreaterThanOrEqual(body.p99Us);
    expect(body.wallMs).toBeGreaterThan(0);
    expect(body.callsPerSecond).toBeGreaterThan(0);

    // The no-op never reaches storage, so the storage counters did not move.
    expect(await storageCalls(enabled)).toBe(callsBefore);
  });

  it("defaults to one thread and rejects out-of-range arguments with the expected/received shape", async () => {
    const single = JSON.parse((await hop(enabled, "?calls=5")).text) as HopAnswer;
    expect(single).toMatchObject({ threads: 1, calls: 5, failures: 0 });

    const tooMany = await hop(enabled, "?threads=65&calls=10");
    expect(tooMany.status).toBe(400);
    expect(tooMany.text).toContain('Expected an integer from 1 to 64 for threads but received "65"');
    const notANumber = await hop(enabled, "?calls=ten");
    expect(notANumber.status).toBe(400);
    expect(notANumber.text).toContain('Expected an integer from 1 to 100000 for calls but received "ten"');
  });

  it("answers only GET", async () => {
    expect((await hop(enabled, "?calls=1", "POST")).status).toBe(405);
  });
});
