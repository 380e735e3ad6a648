/**
 * The JSON results of the benchmarks, declared once: bench/ingest.ts writes
 * build/bench/ingest.json as an IngestReport, bench/crypto.ts build/bench/crypto.json as a
 * CryptoReport and bench/hop.ts build/bench/hop.json as a HopReport; bench/report.ts reads the
 * three through these types.
 */
import type { StatusReport } from "../src/bridge/status-report.ts";
import type { HopAnswer } from "../test/support/hop.ts";
import type { ClientKind } from "./http-client.ts";
import type { Spread, Summary } from "./stats.ts";

// ---------------------------------------------------------------------------------------
// Targets (all three benchmarks)
// ---------------------------------------------------------------------------------------

export type TargetStatus = "MET" | "MISSED" | "NOT MEASURED";

/** A target as bench/crypto.ts writes it: the report derives the status. */
export interface Target {
  id: string;
  description: string;
  ratio: number | null;
  threshold: number | null;
  /** How `ratio` is held against `threshold` (">=" when absent). */
  comparison?: ">=" | "<=" | "<" | "==";
  /** Shown instead of the threshold derived from `comparison` (e.g. a unit). */
  thresholdText?: string;
  met: boolean | null;
  status?: TargetStatus;
  measured: string;
  perRound?: number[];
}

/** A target as bench/ingest.ts writes it, with its status. */
export interface IngestTarget extends Target {
  status: TargetStatus;
}

// ---------------------------------------------------------------------------------------
// bench/ingest.ts
// ---------------------------------------------------------------------------------------

export type ConfigName =
  | "filesystem"
  | "plugin-memory"
  | "azurite-plain"
  | "azurite-local-key"
  | "local-key-inline"
  | "memory-local-key"
  | "memory-integrity-v2"
  | "azurite-integrity-v2"
  | "azurite-keyvault"
  | "kv-decay1-pool1";

export type WorkloadId =
  | "ingest-1"
  | "ingest-4"
  | "ingest-16"
  | "file-4"
  | "tags-4"
  | "mixed-4"
  | "delete-4"
  | "storescu-1";

export interface Workload {
  id: WorkloadId;
  description: string;
  clients: number;
  kind: "ingest" | "file" | "tags" | "mixed" | "delete" | "storescu";
}

/** The storage-area operations that the plugin's status route counts. */
export type Operation = keyof StatusReport["operations"];
export const OPERATIONS: readonly Operation[] = ["create", "readWhole", "readRange", "remove"];
export type OperationCounts = StatusReport["operations"][Operation];

/** One workload, one configuration, one round. */
export interface Measurement {
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
  storeOperations: Record<Operation, OperationCounts> | null;
  /** Deltas of the plugin's key-cache counters (encrypted configurations). */
  keyCache: Record<string, number> | null;
  /** Requests the Key Vault + Entra emulator served during the workload (null: no Key Vault). */
  keyVaultCalls: number | null;
  keyVaultCallsByRoute: Record<string, number> | null;
}

/** The measurements that are summarized over the rounds, per configuration and workload. */
export const METRICS = [
  "instancesPerSecond",
  "mbPerSecond",
  "p50Ms",
  "p99Ms",
  "orthancCpuMsPerInstance",
  "azuriteCpuMsPerInstance",
  "storeRequestsPerInstance",
  "keyVaultCalls",
] as const satisfies ReadonlyArray<keyof Measurement>;
export type Metric = (typeof METRICS)[number];

/** One configuration in one round, in one fresh Orthanc. */
export interface ConfigRun {
  round: number;
  config: ConfigName;
  position: number;
  peakRssMiB: number | null;
  durationSeconds: number;
  /** Key Vault calls from the start of Orthanc to the end of the warm-up. */
  keyVaultCallsStartup: number | null;
  error?: string;
}

/** One configuration and workload over the rounds. */
export interface Aggregate {
  config: ConfigName;
  workload: WorkloadId;
  rounds: number;
  metrics: Record<Metric, Summary | null>;
  /** Median store operations per instance, by operation (plugin configurations). */
  storeOperationsPerInstance: Record<Operation, number> | null;
  /** This configuration's median / the filesystem median, same run (inst/s, p50). */
  ratioVsFilesystem: { instancesPerSecond: number | null; p50Ms: number | null };
}

/** The ratio of two configurations' inst/s medians, and the same ratio round by round (paired). */
export interface PairedRatio {
  ratio: number | null;
  perRound: number[];
}

export interface Comparison {
  name: string;
  config: ConfigName;
  baseline: ConfigName;
  workloads: Record<WorkloadId, PairedRatio>;
}

/** T6: /tags of a large multi-frame object reads a small range only. */
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

/** T7 per configuration: peak RSS over the filesystem's (same round) and small-read p99. */
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

/** build/bench/ingest.json. */
export interface IngestReport {
  schema: "oabs-bench-ingest/1";
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  command: string;
  machine: {
    nproc: number;
    cpuModel: string;
    memTotalMiB: number | null;
    loadAverageBefore: number[];
    loadAverageAfter: number[];
  };
  versions: {
    orthanc: string;
    hostNode: string;
    embeddedNode: string;
    plugin: string;
    /** The commit the plugin was built from, and whether src/ or native/ differ from it. */
    source: { commit: string; dirty: boolean | null };
    packages: Record<string, string>;
  };
  parameters: {
    instances: number;
    rounds: number;
    storescuFiles: number;
    multiFrameFrames: number;
    /** 0 when T6 and T7 were skipped. */
    largeObjectRounds: number;
    httpClient: ClientKind;
    warmupInstances: number;
    ctInstanceBytes: number;
    maximumStorageCacheSize: number;
    pluginPath: string;
  };
  configurations: Array<{ name: ConfigName; description: string }>;
  workloads: Workload[];
  /** The configurations of each round, in the order they ran. */
  order: ConfigName[][];
  configRuns: ConfigRun[];
  results: Aggregate[];
  rss: Array<{ config: ConfigName; peakRssMiB: Summary | null }>;
  comparisons: Comparison[];
  /** null when skipped (BENCH_MULTIFRAME_FRAMES=0). */
  multiFrame: MultiFrameResult | null;
  largeObject: LargeObjectSummary[];
  /** null when skipped (BENCH_MULTIFRAME_FRAMES=0). */
  largeObjectRuns: LargeObjectRun[] | null;
  targets: IngestTarget[];
  measurements: Measurement[];
}

// ---------------------------------------------------------------------------------------
// bench/crypto.ts
// ---------------------------------------------------------------------------------------

/** build/bench/crypto.json. */
export interface CryptoReport {
  machine: { cpus: number; model: string; node: string };
  command: string;
  sizesMiB: number[];
  rounds: number;
  /** The sequential bounds of AES plus HMAC measured by openssl speed, MB/s. */
  bounds: { encrypt: number; decrypt: number };
  results: Array<{ name: string; mbPerSecond: Spread }>;
  targets: Target[];
}

// ---------------------------------------------------------------------------------------
// bench/hop.ts
// ---------------------------------------------------------------------------------------

/** build/bench/hop.json. */
export interface HopReport {
  schema: "oabs-bench-hop/1";
  startedAt: string;
  command: string;
  machine: { nproc: number; loadAverageBefore: number[]; loadAverageAfter: number[] };
  configuration: string;
  repetitions: number;
  callsPerMeasurement: number;
  results: Array<{
    threads: number;
    callsPerSecond: Spread;
    p50Us: Spread;
    p99Us: Spread;
    maxUs: Spread;
  }>;
  measurements: Array<HopAnswer & { repetition: number }>;
}
