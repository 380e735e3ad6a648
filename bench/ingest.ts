/**
 * Side-by-side throughput benchmark: Orthanc's own filesystem storage against the plugin
 * (in-memory store, Azurite plain, Azurite + local RSA key, Azurite + Key Vault emulator).
 * Writes build/bench/ingest.json, which bench/report.ts turns into BENCHMARKS.md.
 *
 *   node tools/build-bench.mjs && node build/bench/ingest.cjs && node build/bench/report.cjs
 *
 * Environment: BENCH_INSTANCES (CT instances per corpus, default 120), BENCH_ROUNDS (default 9),
 * BENCH_STORESCU_FILES (default 40), BENCH_MULTIFRAME_FRAMES (default 300; 0 skips T6 and T7),
 * BENCH_LARGE_ROUNDS (T7 repetitions, default min(3, BENCH_ROUNDS)).
 *
 * Every configuration runs once per round, in a rotating order, each time in a fresh Orthanc
 * (and a fresh Azurite where it uses one), so machine noise hits every configuration alike.
 * Within one Orthanc, each ingest workload has its own corpus (distinct UIDs): every upload is
 * a real store. Progress goes to stderr.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import type { StatusReport } from "../src/bridge/status-report.ts";
import { PLUGIN_VERSION } from "../src/version.ts";
import { type AzuriteInstance, startAzurite } from "../test/support/azurite.ts";
import { type GeneratedDicom, generateCt, generateMultiFrame } from "../test/support/dicom.ts";
import { getJson, type OrthancInstance, startOrthanc, storescu } from "../test/support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../test/support/plugin.ts";
import { type KeyVaultEmulator, startKeyVaultEmulator } from "../tools/keyvault-emulator/emulator.ts";
import { envInteger } from "./env.ts";
import { benchClient, closeBenchClients } from "./http-client.ts";

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

const INSTANCES = envInteger("BENCH_INSTANCES", 120, 16);
const ROUNDS = envInteger("BENCH_ROUNDS", 9, 1);
const STORESCU_FILES = envInteger("BENCH_STORESCU_FILES", 40, 1);
const MULTIFRAME_FRAMES = envInteger("BENCH_MULTIFRAME_FRAMES", 300, 0);
const LARGE_ROUNDS = envInteger("BENCH_LARGE_ROUNDS", Math.min(3, ROUNDS), 1);
const CLIENT = benchClient(process.env.BENCH_CLIENT);
const WARMUP_INSTANCES = 5;
const KEY_NAME = "orthanc-kek";
const ROOT = process.cwd();
const OUT_DIR = join(ROOT, "build", "bench");
const OUT_FILE = join(OUT_DIR, "ingest.json");
const MB = 1e6;

// ---------------------------------------------------------------------------------------
// Configurations and workloads
// ---------------------------------------------------------------------------------------

type ConfigName =
  | "filesystem"
  | "plugin-memory"
  | "azurite-plain"
  | "azurite-local-key"
  | "local-key-inline"
  | "memory-local-key"
  | "azurite-keyvault"
  | "kv-decay1-pool1";

interface ConfigSpec {
  name: ConfigName;
  description: string;
  plugin: boolean;
  azurite: boolean;
  keyVault: boolean;
  /** The "AzureBlobStorage" section; undefined for the filesystem baseline. */
  section?: (env: SharedEnvironment, azurite: AzuriteInstance | undefined) => Record<string, unknown>;
}

interface SharedEnvironment {
  vault: KeyVaultEmulator;
  localKeyFile: string;
}

function keyVaultSection(vault: KeyVaultEmulator): Record<string, unknown> {
  const client = vault.clients[0];
  if (client === undefined) throw new Error("the Key Vault emulator has no client principal");
  return {
    kid: `${vault.vaultUrl}/keys/${KEY_NAME}`,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    emulator: { caFile: vault.caFile, authorityHost: vault.authorityHost },
  };
}

/** The in-memory store still needs a valid connection string; it is never used. */
function memorySection(): Record<string, unknown> {
  return pluginSection("UseDevelopmentStorage=true", { InMemoryStoreForTesting: true });
}

function needAzurite(azurite: AzuriteInstance | undefined): AzuriteInstance {
  if (azurite === undefined) throw new Error("this configuration needs Azurite");
  return azurite;
}

const ALL_CONFIGS: ConfigSpec[] = [
  {
    name: "filesystem",
    description: "Orthanc's own filesystem storage, no plugin (the baseline)",
    plugin: false,
    azurite: false,
    keyVault: false,
  },
  {
    name: "plugin-memory",
    description: "plugin, InMemoryStoreForTesting (no network, no encryption)",
    plugin: true,
    azurite: false,
    keyVault: false,
    section: () => memorySection(),
  },
  {
    name: "memory-local-key",
    description:
      "plugin, InMemoryStoreForTesting, EncryptionEnabled + LocalKeyFile: the plugin's own cost of encryption, without Azurite",
    plugin: true,
    azurite: false,
    keyVault: false,
    section: (env) =>
      pluginSection("UseDevelopmentStorage=true", {
        InMemoryStoreForTesting: true,
        EncryptionEnabled: true,
        LocalKeyFile: env.localKeyFile,
      }),
  },
  {
    name: "azurite-plain",
    description: "plugin, Azurite, no encryption",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (_env, azurite) => pluginSection(needAzurite(azurite).connectionString),
  },
  {
    name: "azurite-local-key",
    description: "plugin, Azurite, EncryptionEnabled + LocalKeyFile (RSA 2048, defaults)",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (env, azurite) =>
      pluginSection(needAzurite(azurite).connectionString, {
        EncryptionEnabled: true,
        LocalKeyFile: env.localKeyFile,
      }),
  },
  {
    name: "local-key-inline",
    description: "as azurite-local-key, with CryptoThreads 0 (crypto on the JS thread, no worker threads)",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (env, azurite) =>
      pluginSection(needAzurite(azurite).connectionString, {
        EncryptionEnabled: true,
        LocalKeyFile: env.localKeyFile,
        CryptoThreads: 0,
      }),
  },
  {
    name: "azurite-keyvault",
    description: "plugin, Azurite, Key Vault emulator (KeyDecayCount/KeyPoolSize defaults: 1000/1000)",
    plugin: true,
    azurite: true,
    keyVault: true,
    section: (env, azurite) =>
      pluginSection(needAzurite(azurite).connectionString, {
        EncryptionEnabled: true,
        AzureKeyVault: keyVaultSection(env.vault),
      }),
  },
  {
    name: "kv-decay1-pool1",
    description: "as azurite-keyvault, with KeyDecayCount 1 and KeyPoolSize 1 (a key per blob)",
    plugin: true,
    azurite: true,
    keyVault: true,
    section: (env, azurite) =>
      pluginSection(needAzurite(azurite).connectionString, {
        EncryptionEnabled: true,
        AzureKeyVault: keyVaultSection(env.vault),
        KeyDecayCount: 1,
        KeyPoolSize: 1,
      }),
  },
];

/** BENCH_CONFIGS=a,b narrows a run to some configurations (experiments); the baseline always runs. */
const CONFIGS: ConfigSpec[] = ((): ConfigSpec[] => {
  const wanted = process.env.BENCH_CONFIGS?.split(",").map((name) => name.trim());
  if (wanted === undefined || wanted.length === 0) return ALL_CONFIGS;
  const unknown = wanted.filter((name) => !ALL_CONFIGS.some((spec) => spec.name === name));
  if (unknown.length > 0)
    throw new Error(`Expected configuration names in BENCH_CONFIGS but received ${unknown.join(", ")}`);
  return ALL_CONFIGS.filter((spec) => spec.name === "filesystem" || wanted.includes(spec.name));
})();

type WorkloadId =
  | "ingest-1"
  | "ingest-4"
  | "ingest-16"
  | "file-4"
  | "tags-4"
  | "mixed-4"
  | "delete-4"
  | "storescu-1";

interface WorkloadSpec {
  id: WorkloadId;
  description: string;
  clients: number;
  kind: "ingest" | "file" | "tags" | "mixed" | "delete" | "storescu";
}

const WORKLOADS: WorkloadSpec[] = [
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

// ---------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------

type Operation = "create" | "readWhole" | "readRange" | "remove";
const OPERATIONS: Operation[] = ["create", "readWhole", "readRange", "remove"];

/** One workload, one configuration, one round. */
interface Measurement {
  round: number;
  config: ConfigName;
  workload: WorkloadId;
  count: number;
  bytes: number;
  wallMs: number;
  instancesPerSecond: number;
  mbPerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** CPU time per instance of Orthanc (the plugin included) and of Azurite, during the workload. */
  orthancCpuMsPerInstance: number | null;
  azuriteCpuMsPerInstance: number | null;
  /** Storage-area operations per instance, from the plugin's status counters (null: no plugin). */
  storeRequestsPerInstance: number | null;
  storeOperations: Record<Operation, { calls: number; failures: number; bytes: number }> | null;
  /** Deltas of the plugin's key-cache counters (encrypted configurations). */
  keyCache: Record<string, number> | null;
  /** Requests the Key Vault + Entra emulator served during the workload (null: no Key Vault). */
  keyVaultCalls: number | null;
  keyVaultCallsByRoute: Record<string, number> | null;
}

interface ConfigRun {
  round: number;
  config: ConfigName;
  position: number;
  peakRssMiB: number | null;
  durationSeconds: number;
  /** Key Vault calls from the start of Orthanc to the end of the warm-up. */
  keyVaultCallsStartup: number | null;
  error?: string;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index] ?? null;
}

function delta(after: number | null, before: number | null): number | null {
  return after === null || before === null ? null : after - before;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function log(message: string): void {
  process.stderr.write(`[ingest ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
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

async function pluginStatus(orthanc: OrthancInstance): Promise<StatusReport> {
  return getJson<StatusReport>(`${orthanc.url}/azure-blob-storage/status`);
}

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

function peakRssMiB(pid: number): number | null {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? null : round3(Number(match[1]) / 1024);
  } catch {
    return null;
  }
}

async function countInstances(orthanc: OrthancInstance): Promise<number> {
  return (await getJson<{ CountInstances: number }>(`${orthanc.url}/statistics`)).CountInstances;
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

interface Corpora {
  warmup: Corpus;
  ingest: Record<"ingest-1" | "ingest-4" | "ingest-16", Corpus>;
  /** New instances that mixed-4 uploads (half of its requests). */
  mixed: Corpus;
  storescuFiles: string[];
  storescuBytes: number;
  dir: string;
}

function buildCorpora(): Corpora {
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
// One configuration, one round
// ---------------------------------------------------------------------------------------

interface RunContext {
  spec: ConfigSpec;
  round: number;
  orthanc: OrthancInstance;
  vault: KeyVaultEmulator;
  azurite: AzuriteInstance | undefined;
}

/** CPU time (user + system) a process has used so far, in ms; null when unreadable. */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

/** sysconf(_SC_CLK_TCK) on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

async function measure(
  context: RunContext,
  workload: WorkloadSpec,
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
    const ops = {} as Record<Operation, { calls: number; failures: number; bytes: number }>;
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
    keyVaultCalls = Object.values(keyVaultCallsByRoute).reduce((sum, n) => sum + n, 0);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const seconds = wallMs / 1000;
  const withBytes =
    workload.kind === "ingest" ||
    workload.kind === "file" ||
    workload.kind === "mixed" ||
    workload.kind === "storescu";
  const p50 = percentile(sorted, 0.5);
  const p99 = percentile(sorted, 0.99);
  return {
    round: context.round,
    config: spec.name,
    workload: workload.id,
    count,
    bytes,
    wallMs: round3(wallMs),
    instancesPerSecond: round3(count / seconds),
    mbPerSecond: withBytes ? round3(bytes / MB / seconds) : null,
    p50Ms: p50 === null ? null : round3(p50),
    p99Ms: p99 === null ? null : round3(p99),
    orthancCpuMsPerInstance: orthancCpu === null ? null : round3(orthancCpu / count),
    azuriteCpuMsPerInstance: azuriteCpu === null ? null : round3(azuriteCpu / count),
    storeRequestsPerInstance,
    storeOperations,
    keyCache,
    keyVaultCalls,
    keyVaultCallsByRoute,
  };
}

function workload(id: WorkloadId): WorkloadSpec {
  const found = WORKLOADS.find((w) => w.id === id);
  if (found === undefined) throw new Error(`unknown workload ${id}`);
  return found;
}

/** One request of mixed-4: an upload of a new instance, or a /file read of a stored one. */
type MixedOp = { kind: "post"; item: GeneratedDicom } | { kind: "get"; id: string };

async function uploadAll(orthanc: OrthancInstance, corpus: Corpus, clients: number) {
  const ids = new Map<GeneratedDicom, string>();
  const timing = await runClients(corpus.items, clients, async (item) => {
    const result = await CLIENT.upload(orthanc.url, item.bytes);
    if (result.Status !== "Success") throw new Error(`upload answered ${result.Status}, not Success`);
    ids.set(item, result.ID);
  });
  return { ...timing, ids: corpus.items.map((item) => ids.get(item) ?? "") };
}

async function runConfiguration(
  spec: ConfigSpec,
  round: number,
  position: number,
  shared: SharedEnvironment,
  corpora: Corpora,
  measurements: Measurement[],
): Promise<ConfigRun> {
  const started = performance.now();
  let azurite: AzuriteInstance | undefined;
  let orthanc: OrthancInstance | undefined;
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
    if (spec.azurite) azurite = await startAzurite();
    orthanc = await startOrthanc({
      ...(spec.plugin ? { plugins: [PLUGIN_PATH] } : {}),
      azureBlobStorage: spec.section?.(shared, azurite),
    });
    const context: RunContext = { spec, round, orthanc, vault: shared.vault, azurite };

    // Warm-up (not measured): first connections, first data key, JIT.
    const warm = await uploadAll(orthanc, corpora.warmup, 1);
    for (const id of warm.ids) {
      await CLIENT.getBuffer(`${orthanc.url}/instances/${id}/file`);
      await CLIENT.getJson(`${orthanc.url}/instances/${id}/tags`);
    }
    if (spec.keyVault) {
      result.keyVaultCallsStartup = Object.values(numericDelta(shared.vault.stats(), vaultAtStart)).reduce(
        (sum, n) => sum + n,
        0,
      );
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
          const uploaded = await uploadAll(orthanc as OrthancInstance, corpus, w.clients);
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
      (sum, op) => sum + (op.kind === "post" ? op.item.bytes.length : (mixedSizes.get(op.id) ?? 0)),
      0,
    );
    push(
      await measure(context, workload("mixed-4"), mixedOps.length, mixedBytes, () =>
        runClients(mixedOps, 4, async (op) => {
          if (op.kind === "post") {
            const result = await CLIENT.upload(url, op.item.bytes);
            if (result.Status !== "Success") throw new Error(`mixed upload answered ${result.Status}`);
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

    result.peakRssMiB = peakRssMiB(orthanc.pid);
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  ${spec.name} round ${round + 1} FAILED: ${result.error.split("\n")[0]}`);
  } finally {
    await orthanc?.stop();
    await azurite?.dispose();
  }
  result.durationSeconds = round3((performance.now() - started) / 1000);
  return result;
}

// ---------------------------------------------------------------------------------------
// T6: /tags of a large multi-frame object reads a small range only
// ---------------------------------------------------------------------------------------

export interface MultiFrameResult {
  frames: number;
  objectBytes: number;
  uploadSeconds: number;
  tagsMs: number;
  readRangeCalls: number;
  readRangeBytes: number;
  readWholeCalls: number;
  readWholeBytes: number;
  readRangeShare: number;
  totalReadShare: number;
  error?: string;
}

async function runMultiFrame(big: GeneratedDicom): Promise<MultiFrameResult> {
  const result: MultiFrameResult = {
    frames: MULTIFRAME_FRAMES,
    objectBytes: big.bytes.length,
    uploadSeconds: 0,
    tagsMs: 0,
    readRangeCalls: 0,
    readRangeBytes: 0,
    readWholeCalls: 0,
    readWholeBytes: 0,
    readRangeShare: 0,
    totalReadShare: 0,
  };
  log(`T6: multi-frame ${MULTIFRAME_FRAMES} frames, ${(big.bytes.length / MB).toFixed(1)} MB, azurite-plain`);
  const azurite = await startAzurite();
  let orthanc: OrthancInstance | undefined;
  try {
    orthanc = await startOrthanc({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString),
    });
    let t0 = performance.now();
    const { ID } = await CLIENT.upload(orthanc.url, big.bytes);
    result.uploadSeconds = round3((performance.now() - t0) / 1000);
    const before = await pluginStatus(orthanc);
    t0 = performance.now();
    const tags = await getJson<Record<string, { Value?: unknown }>>(`${orthanc.url}/instances/${ID}/tags`);
    result.tagsMs = round3(performance.now() - t0);
    const after = await pluginStatus(orthanc);
    if (String(tags["0028,0008"]?.Value).trim() !== String(MULTIFRAME_FRAMES)) {
      throw new Error(`/tags gave NumberOfFrames ${JSON.stringify(tags["0028,0008"])}`);
    }
    result.readRangeCalls = after.operations.readRange.calls - before.operations.readRange.calls;
    result.readRangeBytes = after.operations.readRange.bytes - before.operations.readRange.bytes;
    result.readWholeCalls = after.operations.readWhole.calls - before.operations.readWhole.calls;
    result.readWholeBytes = after.operations.readWhole.bytes - before.operations.readWhole.bytes;
    result.readRangeShare = result.readRangeBytes / big.bytes.length;
    result.totalReadShare = (result.readRangeBytes + result.readWholeBytes) / big.bytes.length;
    log(
      `T6: /tags read ${result.readRangeBytes} bytes by range (${(result.readRangeShare * 100).toFixed(4)} %), ${result.readWholeBytes} whole`,
    );
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`T6 FAILED: ${result.error.split("\n")[0]}`);
  } finally {
    await orthanc?.stop();
    await azurite.dispose();
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// T7: storing and reading back a large object, while another client reads small ones
// ---------------------------------------------------------------------------------------

const LARGE_CONFIGS: readonly ConfigName[] = ["filesystem", "azurite-plain", "azurite-local-key"];

/** One T7 transfer in one fresh Orthanc. */
export interface LargeObjectRun {
  round: number;
  config: ConfigName;
  objectBytes: number;
  /** Orthanc's VmRSS just before the transfer (after start-up and the warm-up). */
  rssBeforeMiB: number | null;
  /** Orthanc's VmHWM after the transfer: the peak over its whole life. */
  peakRssMiB: number | null;
  uploadSeconds: number;
  downloadSeconds: number;
  smallReads: number;
  smallReadErrors: number;
  smallReadP50Ms: number | null;
  smallReadP99Ms: number | null;
  smallReadMaxMs: number | null;
  error?: string;
}

function currentRssMiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? null : round3(Number(match[1]) / 1024);
  } catch {
    return null;
  }
}

/**
 * The second client of T7, on its own thread and event loop: the transfer client's work
 * (sending 157 MB, concatenating the /file body) must not delay these requests or their
 * timing. Sequential GETs of one small /tags, timed only between "start" and "stop".
 */
const SMALL_READER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const { performance } = require("node:perf_hooks");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let phase = "warmup";
const latencies = [];
let errors = 0;
parentPort.on("message", (message) => { phase = message; });
function get() {
  return new Promise((resolve, reject) => {
    const request = http.get(workerData.url, { agent }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("error", reject);
      response.on("end", () => {
        try {
          resolve(response.statusCode === 200 && JSON.parse(Buffer.concat(chunks).toString("utf8"))["0008,0018"] !== undefined);
        } catch {
          resolve(false);
        }
      });
    });
    request.on("error", reject);
  });
}
(async () => {
  for (let i = 0; i < 20; i++) await get();
  parentPort.postMessage({ ready: true });
  while (phase !== "stop") {
    const measured = phase === "start";
    const t0 = performance.now();
    let ok = false;
    try { ok = await get(); } catch { ok = false; }
    const elapsed = performance.now() - t0;
    if (!measured) { await new Promise((r) => setTimeout(r, 1)); continue; }
    if (ok) latencies.push(elapsed); else errors++;
  }
  agent.destroy();
  parentPort.postMessage({ latencies, errors });
})().catch((error) => parentPort.postMessage({ fatal: String(error && error.stack || error) }));
`;

interface SmallReader {
  start(): void;
  stop(): Promise<{ latencies: number[]; errors: number }>;
  /** Ends the thread at once (the error path; stop() may never answer then). */
  dispose(): Promise<void>;
}

async function startSmallReader(url: string): Promise<SmallReader> {
  const worker = new Worker(SMALL_READER_SOURCE, { eval: true, workerData: { url } });
  type Message = { ready?: true; latencies?: number[]; errors?: number; fatal?: string };
  const next = (): Promise<Message> =>
    new Promise((resolveMessage, reject) => {
      worker.once("message", resolveMessage);
      worker.once("error", reject);
    });
  const ready = await next().catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  if (ready.fatal !== undefined) {
    await worker.terminate();
    throw new Error(`small reader: ${ready.fatal}`);
  }
  return {
    start: () => worker.postMessage("start"),
    async stop() {
      const done = next();
      worker.postMessage("stop");
      const message = await done;
      await worker.terminate();
      if (message.fatal !== undefined) throw new Error(`small reader: ${message.fatal}`);
      return { latencies: message.latencies ?? [], errors: message.errors ?? 0 };
    },
    async dispose() {
      await worker.terminate();
    },
  };
}

async function runLargeObjectOnce(
  spec: ConfigSpec,
  round: number,
  shared: SharedEnvironment,
  big: GeneratedDicom,
  small: GeneratedDicom,
): Promise<LargeObjectRun> {
  const result: LargeObjectRun = {
    round,
    config: spec.name,
    objectBytes: big.bytes.length,
    rssBeforeMiB: null,
    peakRssMiB: null,
    uploadSeconds: 0,
    downloadSeconds: 0,
    smallReads: 0,
    smallReadErrors: 0,
    smallReadP50Ms: null,
    smallReadP99Ms: null,
    smallReadMaxMs: null,
  };
  let azurite: AzuriteInstance | undefined;
  let orthanc: OrthancInstance | undefined;
  let reader: SmallReader | undefined;
  try {
    if (spec.azurite) azurite = await startAzurite();
    orthanc = await startOrthanc({
      ...(spec.plugin ? { plugins: [PLUGIN_PATH] } : {}),
      azureBlobStorage: spec.section?.(shared, azurite),
    });
    const { ID: smallId } = await CLIENT.upload(orthanc.url, small.bytes);
    reader = await startSmallReader(`${orthanc.url}/instances/${smallId}/tags`);
    result.rssBeforeMiB = currentRssMiB(orthanc.pid);

    reader.start();
    let t0 = performance.now();
    const uploaded = await CLIENT.upload(orthanc.url, big.bytes);
    result.uploadSeconds = round3((performance.now() - t0) / 1000);
    if (uploaded.Status !== "Success") throw new Error(`the large upload answered ${uploaded.Status}`);
    t0 = performance.now();
    const body = await CLIENT.getBuffer(`${orthanc.url}/instances/${uploaded.ID}/file`);
    result.downloadSeconds = round3((performance.now() - t0) / 1000);
    const reads = await reader.stop();
    reader = undefined;
    if (body.length !== big.bytes.length) throw new Error(`/file of the large object: ${body.length} bytes`);
    result.peakRssMiB = peakRssMiB(orthanc.pid);

    const sorted = [...reads.latencies].sort((a, b) => a - b);
    result.smallReads = sorted.length;
    result.smallReadErrors = reads.errors;
    const p50 = percentile(sorted, 0.5);
    const p99 = percentile(sorted, 0.99);
    result.smallReadP50Ms = p50 === null ? null : round3(p50);
    result.smallReadP99Ms = p99 === null ? null : round3(p99);
    result.smallReadMaxMs = sorted.length === 0 ? null : round3(sorted[sorted.length - 1] ?? 0);
    log(
      `  T7 ${spec.name}: peak RSS ${result.peakRssMiB ?? "?"} MiB (before ${result.rssBeforeMiB ?? "?"}), up ${result.uploadSeconds} s, down ${result.downloadSeconds} s, ${result.smallReads} small reads p50 ${result.smallReadP50Ms?.toFixed(1)} p99 ${result.smallReadP99Ms?.toFixed(1)} ms`,
    );
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  T7 ${spec.name} round ${round + 1} FAILED: ${result.error.split("\n")[0]}`);
  } finally {
    await reader?.dispose();
    await orthanc?.stop();
    await azurite?.dispose();
  }
  return result;
}

async function runLargeObject(shared: SharedEnvironment, big: GeneratedDicom): Promise<LargeObjectRun[]> {
  const specs = LARGE_CONFIGS.map((name) => {
    const spec = CONFIGS.find((c) => c.name === name);
    if (spec === undefined) throw new Error(`unknown configuration ${name}`);
    return spec;
  });
  const small = generateCt({ seed: 740_200, instanceNumber: 1 });
  const runs: LargeObjectRun[] = [];
  log(
    `T7: ${(big.bytes.length / MB).toFixed(1)} MB stored and read back, ${LARGE_ROUNDS} round(s) of ${LARGE_CONFIGS.join(", ")}`,
  );
  for (let round = 0; round < LARGE_ROUNDS; round++) {
    // Rotated like the main rounds, so no configuration always runs first.
    const order = specs.map((_, i) => specs[(i + round) % specs.length] as ConfigSpec);
    for (const spec of order) runs.push(await runLargeObjectOnce(spec, round, shared, big, small));
  }
  return runs;
}

// ---------------------------------------------------------------------------------------
// Summaries, ratios and targets
// ---------------------------------------------------------------------------------------

interface Summary {
  median: number;
  min: number;
  max: number;
  values: number[];
}

function summarize(values: Array<number | null>): Summary | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return null;
  const sorted = [...present].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return {
    median: round3(median),
    min: sorted[0] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
    values: present,
  };
}

const METRICS = [
  "instancesPerSecond",
  "mbPerSecond",
  "p50Ms",
  "p99Ms",
  "orthancCpuMsPerInstance",
  "azuriteCpuMsPerInstance",
  "storeRequestsPerInstance",
  "keyVaultCalls",
] as const;
type Metric = (typeof METRICS)[number];

interface Aggregate {
  config: ConfigName;
  workload: WorkloadId;
  rounds: number;
  metrics: Record<Metric, Summary | null>;
  /** Median store operations per instance, by operation (plugin configurations). */
  storeOperationsPerInstance: Record<Operation, number> | null;
  /** This configuration's median / the filesystem median, same run (inst/s, p50). */
  ratioVsFilesystem: { instancesPerSecond: number | null; p50Ms: number | null };
}

function aggregate(measurements: Measurement[]): Aggregate[] {
  const out: Aggregate[] = [];
  for (const spec of CONFIGS) {
    for (const w of WORKLOADS) {
      const rows = measurements.filter((m) => m.config === spec.name && m.workload === w.id);
      if (rows.length === 0) continue;
      const metrics = {} as Record<Metric, Summary | null>;
      for (const metric of METRICS) metrics[metric] = summarize(rows.map((m) => m[metric]));
      let perOp: Record<Operation, number> | null = null;
      if (rows.every((m) => m.storeOperations !== null)) {
        perOp = {} as Record<Operation, number>;
        for (const op of OPERATIONS) {
          perOp[op] = summarize(rows.map((m) => (m.storeOperations?.[op].calls ?? 0) / m.count))?.median ?? 0;
        }
      }
      out.push({
        config: spec.name,
        workload: w.id,
        rounds: rows.length,
        metrics,
        storeOperationsPerInstance: perOp,
        ratioVsFilesystem: { instancesPerSecond: null, p50Ms: null },
      });
    }
  }
  for (const entry of out) {
    const base = out.find((b) => b.config === "filesystem" && b.workload === entry.workload);
    entry.ratioVsFilesystem = {
      instancesPerSecond: ratio(entry.metrics.instancesPerSecond, base?.metrics.instancesPerSecond ?? null),
      p50Ms: ratio(entry.metrics.p50Ms, base?.metrics.p50Ms ?? null),
    };
  }
  return out;
}

function ratio(a: Summary | null, b: Summary | null): number | null {
  if (a === null || b === null || b.median === 0) return null;
  return round3(a.median / b.median);
}

function find(aggregates: Aggregate[], config: ConfigName, id: WorkloadId): Aggregate | undefined {
  return aggregates.find((a) => a.config === config && a.workload === id);
}

/** Ratio of inst/s medians of two configurations, and the same ratio round by round (paired). */
function compare(
  aggregates: Aggregate[],
  measurements: Measurement[],
  config: ConfigName,
  baseline: ConfigName,
  id: WorkloadId,
): { ratio: number | null; perRound: number[] } {
  const a = find(aggregates, config, id)?.metrics.instancesPerSecond ?? null;
  const b = find(aggregates, baseline, id)?.metrics.instancesPerSecond ?? null;
  const perRound: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const x = measurements.find((m) => m.round === round && m.config === config && m.workload === id);
    const y = measurements.find((m) => m.round === round && m.config === baseline && m.workload === id);
    if (x !== undefined && y !== undefined && y.instancesPerSecond > 0)
      perRound.push(round3(x.instancesPerSecond / y.instancesPerSecond));
  }
  return { ratio: ratio(a, b), perRound };
}

export interface Target {
  id: string;
  description: string;
  ratio: number | null;
  threshold: number | null;
  /** How `ratio` is held against `threshold`. */
  comparison?: ">=" | "<=" | "<" | "==";
  /** Shown instead of the threshold derived from `comparison` (e.g. a unit). */
  thresholdText?: string;
  met: boolean | null;
  status: "MET" | "MISSED" | "NOT MEASURED";
  measured: string;
  perRound?: number[];
}

function statusOf(met: boolean | null): Target["status"] {
  if (met === null) return "NOT MEASURED";
  return met ? "MET" : "MISSED";
}

function ratioTarget(
  id: string,
  description: string,
  threshold: number,
  value: { ratio: number | null; perRound: number[] },
  what: string,
): Target {
  const met = value.ratio === null ? null : value.ratio >= threshold;
  return {
    id,
    description,
    ratio: value.ratio,
    threshold,
    met,
    status: statusOf(met),
    measured: value.ratio === null ? "no data" : `${value.ratio.toFixed(3)}× ${what}`,
    perRound: value.perRound,
  };
}

/** T7 per plugin configuration: peak RSS over the filesystem's (same round) and small-read p99. */
export interface LargeObjectSummary {
  config: ConfigName;
  runs: number;
  peakRssMiB: Summary | null;
  rssBeforeMiB: Summary | null;
  /** (peak RSS − filesystem peak RSS of the same round) / object size; null for filesystem. */
  excessOverObject: Summary | null;
  uploadSeconds: Summary | null;
  downloadSeconds: Summary | null;
  smallReads: Summary | null;
  smallReadErrors: number;
  smallReadP50Ms: Summary | null;
  smallReadP99Ms: Summary | null;
  smallReadMaxMs: Summary | null;
}

function summarizeLargeObject(runs: LargeObjectRun[]): LargeObjectSummary[] {
  const ok = runs.filter((r) => r.error === undefined);
  return LARGE_CONFIGS.map((config) => {
    const mine = ok.filter((r) => r.config === config);
    const excess = mine.map((r) => {
      const base = ok.find((b) => b.config === "filesystem" && b.round === r.round);
      if (config === "filesystem" || base?.peakRssMiB == null || r.peakRssMiB === null) return null;
      return round3(((r.peakRssMiB - base.peakRssMiB) * 1024 * 1024) / r.objectBytes);
    });
    return {
      config,
      runs: mine.length,
      peakRssMiB: summarize(mine.map((r) => r.peakRssMiB)),
      rssBeforeMiB: summarize(mine.map((r) => r.rssBeforeMiB)),
      excessOverObject: summarize(excess),
      uploadSeconds: summarize(mine.map((r) => r.uploadSeconds)),
      downloadSeconds: summarize(mine.map((r) => r.downloadSeconds)),
      smallReads: summarize(mine.map((r) => r.smallReads)),
      smallReadErrors: mine.reduce((sum, r) => sum + r.smallReadErrors, 0),
      smallReadP50Ms: summarize(mine.map((r) => r.smallReadP50Ms)),
      smallReadP99Ms: summarize(mine.map((r) => r.smallReadP99Ms)),
      smallReadMaxMs: summarize(mine.map((r) => r.smallReadMaxMs)),
    };
  });
}

function spread(summary: Summary | null, digits: number, suffix = ""): string {
  if (summary === null) return "no data";
  const value = (v: number) => `${v.toFixed(digits)}${suffix}`;
  return summary.min === summary.max
    ? value(summary.median)
    : `${value(summary.median)} (${value(summary.min)}–${value(summary.max)})`;
}

function largeObjectTargets(runs: LargeObjectRun[] | null, summaries: LargeObjectSummary[]): Target[] {
  const plugin = summaries.filter((s) => s.config !== "filesystem");
  const base = summaries.find((s) => s.config === "filesystem");
  const skipped = runs === null ? "skipped (BENCH_MULTIFRAME_FRAMES=0)" : undefined;
  const objectMB = runs?.[0] === undefined ? "?" : (runs[0].objectBytes / MB).toFixed(1);
  const rounds = `median (min–max) of ${LARGE_ROUNDS} round(s)`;

  const excesses = plugin.map((s) => s.excessOverObject?.median ?? null);
  const t7aMet =
    skipped !== undefined || excesses.some((e) => e === null) ? null : excesses.every((e) => (e ?? 0) <= 1);
  const p99s = plugin.map((s) => s.smallReadP99Ms?.median ?? null);
  const t7bMet =
    skipped !== undefined || p99s.some((p) => p === null) || plugin.some((s) => s.smallReadErrors > 0)
      ? null
      : p99s.every((p) => (p ?? 0) < 50);
  return [
    {
      id: "T7a",
      description: `storing and reading back one ${MULTIFRAME_FRAMES}-frame object (${objectMB} MB): Orthanc's peak RSS above the filesystem baseline's peak (same round) ≤ 1× the object's size, for each plugin configuration`,
      ratio: excesses.some((e) => e === null) ? null : Math.max(...(excesses as number[])),
      threshold: 1,
      comparison: "<=",
      thresholdText: "≤ 1× object",
      met: t7aMet,
      status: statusOf(t7aMet),
      measured:
        skipped ??
        `${plugin.map((s) => `${s.config} ${spread(s.excessOverObject, 2, "×")}`).join("; ")} of the object (peak − filesystem peak ${spread(base?.peakRssMiB ?? null, 0, " MiB")}), ${rounds}`,
    },
    {
      id: "T7b",
      description:
        "during that transfer, p99 latency of a second client's sequential small reads (GET /tags of a stored CT) < 50 ms, for each plugin configuration",
      ratio: p99s.some((p) => p === null) ? null : Math.max(...(p99s as number[])),
      threshold: 50,
      comparison: "<",
      thresholdText: "< 50 ms",
      met: t7bMet,
      status: statusOf(t7bMet),
      measured:
        skipped ??
        `p99 ${[...plugin, ...(base === undefined ? [] : [base])]
          .map(
            (s) =>
              `${s.config}${s.config === "filesystem" ? " (reference)" : ""} ${spread(s.smallReadP99Ms, 1, " ms")}${s.smallReadErrors > 0 ? `, ${s.smallReadErrors} failed` : ""}`,
          )
          .join("; ")}, ${rounds}`,
    },
  ];
}

function targets(
  aggregates: Aggregate[],
  measurements: Measurement[],
  multiFrame: MultiFrameResult | null,
  largeRuns: LargeObjectRun[] | null,
  largeSummaries: LargeObjectSummary[],
) {
  const list: Target[] = [];
  list.push(
    ratioTarget(
      "T1",
      "plugin-memory REST ingest (4 clients, CT) ≥ 1.0× filesystem",
      1.0,
      compare(aggregates, measurements, "plugin-memory", "filesystem", "ingest-4"),
      "filesystem",
    ),
  );
  list.push(
    ratioTarget(
      "T2",
      "azurite-local-key REST ingest (4 clients) ≥ 0.9× azurite-plain",
      0.9,
      compare(aggregates, measurements, "azurite-local-key", "azurite-plain", "ingest-4"),
      "azurite-plain",
    ),
  );

  const kv = compare(aggregates, measurements, "azurite-keyvault", "azurite-local-key", "ingest-4");
  const kvRows = measurements.filter((m) => m.config === "azurite-keyvault");
  const hotCalls = kvRows.reduce((sum, m) => sum + (m.keyVaultCalls ?? 0), 0);
  const t3met = kv.ratio === null || kvRows.length === 0 ? null : kv.ratio >= 0.95 && hotCalls === 0;
  list.push({
    id: "T3",
    description:
      "azurite-keyvault REST ingest (4 clients) ≥ 0.95× azurite-local-key, and 0 Key Vault calls in the hot path after warm-up",
    ratio: kv.ratio,
    threshold: 0.95,
    met: t3met,
    status: statusOf(t3met),
    measured: `${kv.ratio?.toFixed(3) ?? "?"}× azurite-local-key; ${hotCalls} Key Vault calls in ${kvRows.length} measured workloads`,
    perRound: kv.perRound,
  });

  list.push({
    id: "T4",
    description: "crypto speed",
    ratio: null,
    threshold: null,
    met: null,
    status: "NOT MEASURED",
    measured: "not measured in this run (bench/crypto.ts)",
  });

  const pluginRows = measurements.filter((m) => m.storeOperations !== null);
  const writes = pluginRows
    .filter((m) => m.workload.startsWith("ingest-") || m.workload === "storescu-1")
    .map((m) => (m.storeOperations?.create.calls ?? 0) / m.count);
  const fileReads = pluginRows
    .filter((m) => m.workload === "file-4")
    .map((m) => (m.storeRequestsPerInstance ?? 0) * 1);
  const worstWrite = writes.length === 0 ? null : Math.max(...writes);
  const bestWrite = writes.length === 0 ? null : Math.min(...writes);
  const worstRead = fileReads.length === 0 ? null : Math.max(...fileReads);
  const bestRead = fileReads.length === 0 ? null : Math.min(...fileReads);
  const t5met =
    worstWrite === null || worstRead === null
      ? null
      : worstWrite === 1 && bestWrite === 1 && worstRead === 1 && bestRead === 1;
  list.push({
    id: "T5",
    description: "one blob-store write per instance ingested, and one store request per /file read",
    ratio: worstWrite === null || worstRead === null ? null : round3(Math.max(worstWrite, worstRead)),
    threshold: 1,
    comparison: "==",
    met: t5met,
    status: statusOf(t5met),
    measured: `writes/instance ${bestWrite?.toFixed(3)}–${worstWrite?.toFixed(3)}; requests per /file ${bestRead?.toFixed(3)}–${worstRead?.toFixed(3)} (${pluginRows.length / WORKLOADS.length} plugin config-runs)`,
  });

  const share = multiFrame === null || multiFrame.error !== undefined ? null : multiFrame.totalReadShare;
  const t6met = share === null ? null : share < 0.01;
  list.push({
    id: "T6",
    description: `/tags of a multi-frame object (${MULTIFRAME_FRAMES} frames) reads < 1 % of its bytes from the store (azurite-plain, once)`,
    ratio: share === null ? null : share,
    threshold: 0.01,
    comparison: "<",
    met: t6met,
    status: statusOf(t6met),
    measured:
      multiFrame === null
        ? "skipped (BENCH_MULTIFRAME_FRAMES=0)"
        : multiFrame.error !== undefined
          ? `failed: ${multiFrame.error.split("\n")[0]}`
          : `${(multiFrame.totalReadShare * 100).toFixed(4)} % (${multiFrame.readRangeBytes} of ${multiFrame.objectBytes} bytes, ${multiFrame.readRangeCalls} range read(s), ${multiFrame.readWholeCalls} whole read(s))`,
  });
  list.push(...largeObjectTargets(largeRuns, largeSummaries));
  return list;
}

// ---------------------------------------------------------------------------------------
// Environment facts
// ---------------------------------------------------------------------------------------

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

function memTotalMiB(): number | null {
  try {
    const kb = /^MemTotal:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}

/** The commit the plugin was built from, and whether src/ or native/ differ from it (read-only git). */
function sourceRevision(): { commit: string; dirty: boolean | null } {
  const head = spawnSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" });
  const status = spawnSync("git", ["status", "--porcelain", "--", "src", "native"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return {
    commit: head.status === 0 ? head.stdout.trim() : "unknown",
    dirty: status.status === 0 ? status.stdout.trim() !== "" : null,
  };
}

function azurePackages(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const all = { ...pkg.dependencies, ...pkg.devDependencies };
  return Object.fromEntries(
    Object.entries(all).filter(([name]) => name.startsWith("@azure/") || name === "azurite"),
  );
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = performance.now();
  const loadBefore = loadavg();
  mkdirSync(OUT_DIR, { recursive: true });
  log(
    `${INSTANCES} CT instances per corpus, ${ROUNDS} round(s), ${CONFIGS.length} configurations, HTTP client ${CLIENT.kind}`,
  );

  const corpora = buildCorpora();
  const ctBytes = corpora.ingest["ingest-4"].bytes / INSTANCES;
  log(`corpora generated: ${(ctBytes / MB).toFixed(3)} MB per CT instance`);

  const keyDir = mkdtempSync(join(tmpdir(), "oabs-bench-kek-"));
  const localKeyFile = join(keyDir, "kek.pem");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(localKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  const vault = await startKeyVaultEmulator({ stateFile: join(keyDir, "vault-state.json") });
  vault.createKey(KEY_NAME);
  const shared: SharedEnvironment = { vault, localKeyFile };

  let orthancVersion = "unknown";
  let embeddedNode = "unknown";
  const measurements: Measurement[] = [];
  const configRuns: ConfigRun[] = [];
  const order: ConfigName[][] = [];
  let multiFrame: MultiFrameResult | null = null;
  let largeRuns: LargeObjectRun[] | null = null;
  try {
    // Versions, from a short-lived plugin-memory Orthanc.
    const probe = await startOrthanc({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: memorySection(),
    });
    try {
      orthancVersion = (await getJson<{ Version: string }>(`${probe.url}/system`)).Version;
      embeddedNode = (await pluginStatus(probe)).runtime?.node ?? "unknown";
    } finally {
      await probe.stop();
    }

    for (let round = 0; round < ROUNDS; round++) {
      // Round-robin with a rotating start: each configuration runs early in some rounds, late in others.
      const shift = Math.round((round * CONFIGS.length) / ROUNDS);
      const roundOrder = CONFIGS.map((_, i) => CONFIGS[(i + shift) % CONFIGS.length] as ConfigSpec);
      order.push(roundOrder.map((spec) => spec.name));
      for (const [position, spec] of roundOrder.entries()) {
        log(`round ${round + 1}/${ROUNDS}, ${position + 1}/${CONFIGS.length}: ${spec.name}`);
        const run = await runConfiguration(spec, round, position, shared, corpora, measurements);
        configRuns.push(run);
        log(`  ${spec.name}: ${run.durationSeconds.toFixed(1)} s, peak RSS ${run.peakRssMiB ?? "?"} MiB`);
      }
    }
    if (MULTIFRAME_FRAMES > 0) {
      // One object for T6 and T7: generating 157 MB takes a few seconds.
      const big = generateMultiFrame({ seed: 740_100, frames: MULTIFRAME_FRAMES, rows: 512, columns: 512 });
      multiFrame = await runMultiFrame(big);
      largeRuns = await runLargeObject(shared, big);
    }
  } finally {
    await vault.dispose();
    rmSync(keyDir, { recursive: true, force: true });
    rmSync(corpora.dir, { recursive: true, force: true });
    closeBenchClients();
  }

  const aggregates = aggregate(measurements);
  const largeObject = largeRuns === null ? [] : summarizeLargeObject(largeRuns);
  const rss = CONFIGS.map((spec) => ({
    config: spec.name,
    peakRssMiB: summarize(configRuns.filter((r) => r.config === spec.name).map((r) => r.peakRssMiB)),
  }));
  const pairs: Array<{ name: string; config: ConfigName; baseline: ConfigName }> = [
    { name: "azurite-local-key vs azurite-plain", config: "azurite-local-key", baseline: "azurite-plain" },
    {
      name: "azurite-local-key vs local-key-inline",
      config: "azurite-local-key",
      baseline: "local-key-inline",
    },
    {
      name: "azurite-keyvault vs azurite-local-key",
      config: "azurite-keyvault",
      baseline: "azurite-local-key",
    },
    { name: "kv-decay1-pool1 vs azurite-keyvault", config: "kv-decay1-pool1", baseline: "azurite-keyvault" },
    { name: "azurite-plain vs plugin-memory", config: "azurite-plain", baseline: "plugin-memory" },
    { name: "memory-local-key vs plugin-memory", config: "memory-local-key", baseline: "plugin-memory" },
  ];
  const comparisons = pairs.map((pair) => ({
    ...pair,
    workloads: Object.fromEntries(
      WORKLOADS.map((w) => [w.id, compare(aggregates, measurements, pair.config, pair.baseline, w.id)]),
    ),
  }));

  const durationSeconds = round3((performance.now() - t0) / 1000);
  const report = {
    schema: "oabs-bench-ingest/1",
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    durationSeconds,
    command: `${ROUNDS === 9 && INSTANCES === 120 && CLIENT.kind === "http" ? "" : `BENCH_ROUNDS=${ROUNDS} BENCH_INSTANCES=${INSTANCES}${CLIENT.kind === "http" ? "" : ` BENCH_CLIENT=${CLIENT.kind}`} `}npm run bench`,
    machine: {
      nproc: availableParallelism(),
      cpuModel: cpuModel(),
      memTotalMiB: memTotalMiB(),
      loadAverageBefore: loadBefore.map(round3),
      loadAverageAfter: loadavg().map(round3),
    },
    versions: {
      orthanc: orthancVersion,
      hostNode: process.version,
      embeddedNode,
      plugin: PLUGIN_VERSION,
      source: sourceRevision(),
      packages: azurePackages(),
    },
    parameters: {
      instances: INSTANCES,
      rounds: ROUNDS,
      storescuFiles: STORESCU_FILES,
      multiFrameFrames: MULTIFRAME_FRAMES,
      largeObjectRounds: largeRuns === null ? 0 : LARGE_ROUNDS,
      httpClient: CLIENT.kind,
      warmupInstances: WARMUP_INSTANCES,
      ctInstanceBytes: Math.round(ctBytes),
      maximumStorageCacheSize: 0,
      pluginPath: resolve(PLUGIN_PATH),
    },
    configurations: CONFIGS.map(({ name, description }) => ({ name, description })),
    workloads: WORKLOADS.map(({ id, description, clients, kind }) => ({ id, description, clients, kind })),
    order,
    configRuns,
    results: aggregates,
    rss,
    comparisons,
    multiFrame,
    largeObject,
    largeObjectRuns: largeRuns,
    targets: targets(aggregates, measurements, multiFrame, largeRuns, largeObject),
    measurements,
  };
  writeFileSync(OUT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${OUT_FILE} after ${(durationSeconds / 60).toFixed(1)} min`);
  for (const target of report.targets) log(`${target.id} ${target.status}: ${target.measured}`);
  const failed = [...configRuns, ...(largeRuns ?? [])].filter((r) => r.error !== undefined);
  if (failed.length > 0) {
    log(`${failed.length} configuration run(s) failed`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
