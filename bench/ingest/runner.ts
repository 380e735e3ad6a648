/**
 * The workloads of the ingest benchmark and their measurement: one configuration, one round, in
 * a fresh Orthanc (and Azurite). Each ingest workload has its own corpus (distinct UIDs), so
 * every upload is a real store.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { StatusReport } from "../../src/bridge/status-report.ts";
import type { AzuriteInstance } from "../../test/support/azurite.ts";
import { type GeneratedDicom, generateCt } from "../../test/support/dicom.ts";
import { getJson, type OrthancInstance, storescu } from "../../test/support/orthanc.ts";
import type { KeyVaultEmulator } from "../../tools/keyvault-emulator/emulator.ts";
import {
  type ConfigRun,
  type Measurement,
  OPERATIONS,
  type Operation,
  type OperationCounts,
  type Workload,
  type WorkloadId,
} from "../schema.ts";
import { latencyPercentiles, round3 } from "../stats.ts";
import {
  type ConfigSpec,
  type RunningConfiguration,
  type SharedEnvironment,
  startConfiguration,
} from "./configurations.ts";
import { cpuMs, processMemoryMiB } from "./procfs.ts";
import { CLIENT, INSTANCES, log, MB, STORESCU_FILES, WARMUP_INSTANCES } from "./settings.ts";

export const WORKLOADS: readonly Workload[] = [
  { id: "ingest-1", description: "REST ingest (POST /instances), 1 client", clients: 1, kind: "ingest" },
  { id: "ingest-4", description: "REST ingest (POST /instances), 4 clients", clients: 4, kind: "ingest" },
  { id: "ingest-16", description: "REST ingest (POST /instances), 16 clients", clients: 16, kind: "ingest" },
  { id: "file-4", description: "GET /instances/{id}/file, 4 clients", clients: 4, kind: "file" },
  { id: "tags-4", description: "GET /instances/{id}/tags, 4 clients", clients: 4, kind: "tags" },
  {
    id: "mixed-4",
    description: "mixed read/write: 4 clients, each alternating POST /instances and GET /instances/{id}/file",
    clients: 4,
    kind: "mixed",
  },
  { id: "delete-4", description: "DELETE /instances/{id}, 4 clients", clients: 4, kind: "delete" },
  {
    id: "storescu-1",
    description: `C-STORE with storescu, ${STORESCU_FILES} files, 1 association`,
    clients: 1,
    kind: "storescu",
  },
];

function workload(id: WorkloadId): Workload {
  const found = WORKLOADS.find((w) => w.id === id);
  if (found === undefined) throw new Error(`unknown workload ${id}`);
  return found;
}

// ---------------------------------------------------------------------------------------
// Corpora
// ---------------------------------------------------------------------------------------

interface Corpus {
  label: string;
  items: GeneratedDicom[];
  bytes: number;
}

/** A CT series of `count` slices (one patient, study and series), deterministic from `seed`. */
function ctSeries(label: string, seed: number, count: number): Corpus {
  const items = Array.from({ length: count }, (_, i) => generateCt({ seed, instanceNumber: i + 1 }));
  return { label, items, bytes: items.reduce((sum, item) => sum + item.bytes.length, 0) };
}

export interface Corpora {
  warmup: Corpus;
  ingest: Record<"ingest-1" | "ingest-4" | "ingest-16", Corpus>;
  /** New instances that mixed-4 uploads (half of its requests). */
  mixed: Corpus;
  storescuFiles: string[];
  storescuBytes: number;
  /** The directory of the storescu files; the caller removes it. */
  dir: string;
}

export function buildCorpora(): Corpora {
  const dir = mkdtempSync(join(tmpdir(), "oabs-bench-"));
  const storescuSeries = ctSeries("storescu", 740_004, STORESCU_FILES);
  const storescuFiles = storescuSeries.items.map((item, i) => {
    const file = join(dir, `ct-${String(i).padStart(4, "0")}.dcm`);
    writeFileSync(file, item.bytes);
    return file;
  });
  return {
    warmup: ctSeries("warmup", 740_000, WARMUP_INSTANCES),
    ingest: {
      "ingest-1": ctSeries("ingest-1", 740_001, INSTANCES),
      "ingest-4": ctSeries("ingest-4", 740_002, INSTANCES),
      "ingest-16": ctSeries("ingest-16", 740_003, INSTANCES),
    },
    mixed: ctSeries("mixed-4", 740_005, Math.ceil(INSTANCES / 2)),
    storescuFiles,
    storescuBytes: storescuSeries.bytes,
    dir,
  };
}

// ---------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------

export async function pluginStatus(orthanc: OrthancInstance): Promise<StatusReport> {
  return getJson<StatusReport>(`${orthanc.url}/azure-blob-storage/status`);
}

/** The changed numeric fields of `after` against `before` (a missing one counts as 0). */
function numericDelta<T extends object>(after: T | undefined, before: T | undefined): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [key, value] of Object.entries(after ?? {})) {
    if (typeof value !== "number") continue;
    const previous = (before as Record<string, unknown> | undefined)?.[key];
    const change = value - (typeof previous === "number" ? previous : 0);
    if (change !== 0) delta[key] = change;
  }
  return delta;
}

function sum(values: number[]): number {
  return values.reduce((total, n) => total + n, 0);
}

function delta(after: number | null, before: number | null): number | null {
  return after === null || before === null ? null : after - before;
}

async function countInstances(orthanc: OrthancInstance): Promise<number> {
  return (await getJson<{ CountInstances: number }>(`${orthanc.url}/statistics`)).CountInstances;
}

/** Runs `items` with `clients` concurrent clients, each working through its own contiguous share. */
async function runClients<T>(
  items: readonly T[],
  clients: number,
  action: (item: T) => Promise<void>,
): Promise<{ wallMs: number; latencies: number[] }> {
  const latencies: number[] = [];
  const share = Math.ceil(items.length / clients);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (const item of items.slice(client * share, (client + 1) * share)) {
        const t0 = performance.now();
        await action(item);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { wallMs: performance.now() - started, latencies };
}

interface RunContext {
  spec: ConfigSpec;
  round: number;
  orthanc: OrthancInstance;
  vault: KeyVaultEmulator;
  azurite: AzuriteInstance | undefined;
}

/** Runs one workload and measures it: time, latency, CPU, store operations, Key Vault calls. */
async function measure(
  context: RunContext,
  workload: Workload,
  count: number,
  bytes: number,
  run: () => Promise<{ wallMs: number; latencies: number[] }>,
): Promise<Measurement> {
  const { spec, orthanc, vault } = context;
  const statusBefore = spec.plugin ? await pluginStatus(orthanc) : undefined;
  const vaultBefore = spec.keyVault ? vault.stats() : undefined;
  const orthancCpuBefore = cpuMs(orthanc.pid);
  const azuriteCpuBefore = cpuMs(context.azurite?.pid);
  const { wallMs, latencies } = await run();
  const orthancCpu = delta(cpuMs(orthanc.pid), orthancCpuBefore);
  const azuriteCpu = delta(cpuMs(context.azurite?.pid), azuriteCpuBefore);
  const vaultAfter = spec.keyVault ? vault.stats() : undefined;
  const statusAfter = spec.plugin ? await pluginStatus(orthanc) : undefined;

  let storeOperations: Measurement["storeOperations"] = null;
  let storeRequestsPerInstance: number | null = null;
  let keyCache: Record<string, number> | null = null;
  if (statusBefore !== undefined && statusAfter !== undefined) {
    const ops = {} as Record<Operation, OperationCounts>;
    let calls = 0;
    for (const op of OPERATIONS) {
      const a = statusAfter.operations[op];
      const b = statusBefore.operations[op];
      ops[op] = { calls: a.calls - b.calls, failures: a.failures - b.failures, bytes: a.bytes - b.bytes };
      calls += ops[op].calls;
    }
    storeOperations = ops;
    storeRequestsPerInstance = round3(calls / count);
    if (statusAfter.keys !== undefined) keyCache = numericDelta(statusAfter.keys, statusBefore.keys);
  }
  let keyVaultCalls: number | null = null;
  let keyVaultCallsByRoute: Record<string, number> | null = null;
  if (vaultBefore !== undefined && vaultAfter !== undefined) {
    keyVaultCallsByRoute = numericDelta(vaultAfter, vaultBefore);
    keyVaultCalls = sum(Object.values(keyVaultCallsByRoute));
  }
  const seconds = wallMs / 1000;
  const withBytes =
    workload.kind === "ingest" ||
    workload.kind === "file" ||
    workload.kind === "mixed" ||
    workload.kind === "storescu";
  const { p50, p99 } = latencyPercentiles(latencies);
  return {
    round: context.round,
    config: spec.name,
    workload: workload.id,
    count,
    bytes,
    wallMs: round3(wallMs),
    instancesPerSecond: round3(count / seconds),
    mbPerSecond: withBytes ? round3(bytes / MB / seconds) : null,
    p50Ms: p50,
    p99Ms: p99,
    orthancCpuMsPerInstance: orthancCpu === null ? null : round3(orthancCpu / count),
    azuriteCpuMsPerInstance: azuriteCpu === null ? null : round3(azuriteCpu / count),
    storeRequestsPerInstance,
    storeOperations,
    keyCache,
    keyVaultCalls,
    keyVaultCallsByRoute,
  };
}

// ---------------------------------------------------------------------------------------
// One configuration, one round
// ---------------------------------------------------------------------------------------

/** One request of mixed-4: an upload of a new instance, or a /file read of a stored one. */
type MixedOp = { kind: "post"; item: GeneratedDicom } | { kind: "get"; id: string };

/** Uploads a corpus with `clients` clients; the Orthanc IDs in the corpus's order. */
async function uploadAll(orthanc: OrthancInstance, corpus: Corpus, clients: number) {
  const ids = new Map<GeneratedDicom, string>();
  const timing = await runClients(corpus.items, clients, async (item) => {
    const result = await CLIENT.upload(orthanc.url, item.bytes);
    if (result.Status !== "Success") throw new Error(`upload answered ${result.Status}, not Success`);
    ids.set(item, result.ID);
  });
  return { ...timing, ids: corpus.items.map((item) => ids.get(item) ?? "") };
}

/** Every workload of one configuration in one round; the measurements go to `measurements`. */
export async function runConfiguration(
  spec: ConfigSpec,
  round: number,
  position: number,
  shared: SharedEnvironment,
  corpora: Corpora,
  measurements: Measurement[],
): Promise<ConfigRun> {
  const started = performance.now();
  let running: RunningConfiguration | undefined;
  const vaultAtStart = shared.vault.stats();
  const result: ConfigRun = {
    round,
    config: spec.name,
    position,
    peakRssMiB: null,
    durationSeconds: 0,
    keyVaultCallsStartup: null,
  };
  try {
    running = await startConfiguration(spec, shared);
    const { orthanc } = running;
    const context: RunContext = { spec, round, orthanc, vault: shared.vault, azurite: running.azurite };

    // Warm-up (not measured): first connections, first data key, JIT.
    const warm = await uploadAll(orthanc, corpora.warmup, 1);
    for (const id of warm.ids) {
      await CLIENT.getBuffer(`${orthanc.url}/instances/${id}/file`);
      await CLIENT.getJson(`${orthanc.url}/instances/${id}/tags`);
    }
    if (spec.keyVault) {
      result.keyVaultCallsStartup = sum(Object.values(numericDelta(shared.vault.stats(), vaultAtStart)));
    }

    const push = (m: Measurement): void => {
      measurements.push(m);
      const extra =
        m.storeRequestsPerInstance === null ? "" : `, ${m.storeRequestsPerInstance} store ops/inst`;
      const kv = m.keyVaultCalls === null ? "" : `, ${m.keyVaultCalls} KV calls`;
      log(
        `  ${spec.name} ${m.workload}: ${m.instancesPerSecond.toFixed(1)} inst/s, p50 ${m.p50Ms?.toFixed(1) ?? "-"} ms${extra}${kv}`,
      );
    };

    let readIds: string[] = [];
    let mixedReadIds: string[] = [];
    for (const id of ["ingest-1", "ingest-4", "ingest-16"] as const) {
      const w = workload(id);
      const corpus = corpora.ingest[id];
      let ids: string[] = [];
      push(
        await measure(context, w, corpus.items.length, corpus.bytes, async () => {
          const uploaded = await uploadAll(orthanc, corpus, w.clients);
          ids = uploaded.ids;
          return uploaded;
        }),
      );
      if (id === "ingest-4") readIds = ids;
      if (id === "ingest-16") mixedReadIds = ids;
    }
    const readCorpus = corpora.ingest["ingest-4"];
    const sizeById = new Map(readIds.map((id, i) => [id, readCorpus.items[i]?.bytes.length ?? 0]));
    const url = orthanc.url;

    push(
      await measure(context, workload("file-4"), readIds.length, readCorpus.bytes, () =>
        runClients(readIds, 4, async (id) => {
          const body = await CLIENT.getBuffer(`${url}/instances/${id}/file`);
          if (body.length !== sizeById.get(id)) throw new Error(`/file of ${id}: ${body.length} bytes`);
        }),
      ),
    );
    push(
      await measure(context, workload("tags-4"), readIds.length, readCorpus.bytes, () =>
        runClients(readIds, 4, async (id) => {
          const tags = await CLIENT.getJson<Record<string, unknown>>(`${url}/instances/${id}/tags`);
          if (tags["0008,0018"] === undefined) throw new Error(`/tags of ${id} has no SOPInstanceUID`);
        }),
      ),
    );
    // Reads of the ingest-16 series (still stored) interleaved with uploads of a new series:
    // the JS thread serves both directions at once.
    const mixedSizes = new Map(
      mixedReadIds.map((id, i) => [id, corpora.ingest["ingest-16"].items[i]?.bytes.length ?? 0]),
    );
    const mixedOps: MixedOp[] = corpora.mixed.items.flatMap((item, i): MixedOp[] => {
      const id = mixedReadIds[i % mixedReadIds.length] ?? "";
      return [
        { kind: "post", item },
        { kind: "get", id },
      ];
    });
    const mixedBytes = mixedOps.reduce(
      (total, op) => total + (op.kind === "post" ? op.item.bytes.length : (mixedSizes.get(op.id) ?? 0)),
      0,
    );
    push(
      await measure(context, workload("mixed-4"), mixedOps.length, mixedBytes, () =>
        runClients(mixedOps, 4, async (op) => {
          if (op.kind === "post") {
            const uploaded = await CLIENT.upload(url, op.item.bytes);
            if (uploaded.Status !== "Success") throw new Error(`mixed upload answered ${uploaded.Status}`);
          } else {
            const body = await CLIENT.getBuffer(`${url}/instances/${op.id}/file`);
            if (body.length !== mixedSizes.get(op.id))
              throw new Error(`/file of ${op.id}: ${body.length} bytes`);
          }
        }),
      ),
    );
    push(
      await measure(context, workload("delete-4"), readIds.length, readCorpus.bytes, () =>
        runClients(readIds, 4, (id) => CLIENT.delete(`${url}/instances/${id}`)),
      ),
    );

    const before = await countInstances(orthanc);
    const port = orthanc.dicomPort;
    push(
      await measure(context, workload("storescu-1"), STORESCU_FILES, corpora.storescuBytes, async () => {
        const t0 = performance.now();
        const outcome = await storescu({ port, files: corpora.storescuFiles, timeoutMs: 300_000 });
        const wallMs = performance.now() - t0;
        if (outcome.code !== 0) throw new Error(`storescu exited with ${outcome.code}: ${outcome.stderr}`);
        return { wallMs, latencies: [] };
      }),
    );
    const stored = (await countInstances(orthanc)) - before;
    if (stored !== STORESCU_FILES)
      throw new Error(`storescu stored ${stored} of ${STORESCU_FILES} instances`);

    result.peakRssMiB = processMemoryMiB(orthanc.pid, "VmHWM");
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  ${spec.name} round ${round + 1} FAILED: ${result.error.split("\n")[0]}`);
  } finally {
    await running?.stop();
  }
  result.durationSeconds = round3((performance.now() - started) / 1000);
  return result;
}
