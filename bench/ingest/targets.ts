/**
 * The ingest benchmark's summaries over the rounds, the ratios between configurations, and the
 * targets T1–T7 (T4 is bench/crypto.ts's) held against them.
 */
import {
  type Aggregate,
  type Comparison,
  type ConfigName,
  type ConfigRun,
  type IngestTarget,
  type LargeObjectRun,
  type LargeObjectSummary,
  METRICS,
  type Measurement,
  type Metric,
  type MultiFrameResult,
  OPERATIONS,
  type Operation,
  type PairedRatio,
  type WorkloadId,
} from "../schema.ts";
import { ratioOfMedians, round3, type Summary, summarize } from "../stats.ts";
import { CONFIGS } from "./configurations.ts";
import { WORKLOADS } from "./runner.ts";
import { LARGE_ROUNDS, MB, MULTIFRAME_FRAMES, ROUNDS } from "./settings.ts";

// ---------------------------------------------------------------------------------------
// Summaries and ratios
// ---------------------------------------------------------------------------------------

/** Each configuration and workload over the rounds, with its ratio to the filesystem's. */
export function aggregate(measurements: Measurement[]): Aggregate[] {
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
      instancesPerSecond: ratioOfMedians(
        entry.metrics.instancesPerSecond,
        base?.metrics.instancesPerSecond ?? null,
      ),
      p50Ms: ratioOfMedians(entry.metrics.p50Ms, base?.metrics.p50Ms ?? null),
    };
  }
  return out;
}

/** Orthanc's peak RSS per configuration, over the rounds. */
export function peakRss(configRuns: ConfigRun[]): Array<{ config: ConfigName; peakRssMiB: Summary | null }> {
  return CONFIGS.map((spec) => ({
    config: spec.name,
    peakRssMiB: summarize(configRuns.filter((r) => r.config === spec.name).map((r) => r.peakRssMiB)),
  }));
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
): PairedRatio {
  const a = find(aggregates, config, id)?.metrics.instancesPerSecond ?? null;
  const b = find(aggregates, baseline, id)?.metrics.instancesPerSecond ?? null;
  const perRound: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const x = measurements.find((m) => m.round === round && m.config === config && m.workload === id);
    const y = measurements.find((m) => m.round === round && m.config === baseline && m.workload === id);
    if (x !== undefined && y !== undefined && y.instancesPerSecond > 0)
      perRound.push(round3(x.instancesPerSecond / y.instancesPerSecond));
  }
  return { ratio: ratioOfMedians(a, b), perRound };
}

/** The pairs of configurations of the "Pairwise ratios" table: what one change costs or gains. */
const PAIRS: ReadonlyArray<{ config: ConfigName; baseline: ConfigName }> = [
  { config: "azurite-local-key", baseline: "azurite-plain" },
  { config: "azurite-local-key", baseline: "local-key-inline" },
  { config: "azurite-keyvault", baseline: "azurite-local-key" },
  { config: "kv-decay1-pool1", baseline: "azurite-keyvault" },
  { config: "azurite-plain", baseline: "plugin-memory" },
  { config: "memory-local-key", baseline: "plugin-memory" },
];

export function comparisons(aggregates: Aggregate[], measurements: Measurement[]): Comparison[] {
  return PAIRS.map(({ config, baseline }) => ({
    name: `${config} vs ${baseline}`,
    config,
    baseline,
    workloads: Object.fromEntries(
      WORKLOADS.map((w) => [w.id, compare(aggregates, measurements, config, baseline, w.id)]),
    ) as Record<WorkloadId, PairedRatio>,
  }));
}

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

function statusOf(met: boolean | null): IngestTarget["status"] {
  if (met === null) return "NOT MEASURED";
  return met ? "MET" : "MISSED";
}

function ratioTarget(
  id: string,
  description: string,
  threshold: number,
  value: PairedRatio,
  what: string,
): IngestTarget {
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

/** "median (min–max)" with a unit, for the T7 texts. */
function spreadText(summary: Summary | null, digits: number, suffix = ""): string {
  if (summary === null) return "no data";
  const value = (v: number) => `${v.toFixed(digits)}${suffix}`;
  return summary.min === summary.max
    ? value(summary.median)
    : `${value(summary.median)} (${value(summary.min)}–${value(summary.max)})`;
}

function largeObjectTargets(runs: LargeObjectRun[] | null, summaries: LargeObjectSummary[]): IngestTarget[] {
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
        `${plugin.map((s) => `${s.config} ${spreadText(s.excessOverObject, 2, "×")}`).join("; ")} of the object (peak − filesystem peak ${spreadText(base?.peakRssMiB ?? null, 0, " MiB")}), ${rounds}`,
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
              `${s.config}${s.config === "filesystem" ? " (reference)" : ""} ${spreadText(s.smallReadP99Ms, 1, " ms")}${s.smallReadErrors > 0 ? `, ${s.smallReadErrors} failed` : ""}`,
          )
          .join("; ")}, ${rounds}`,
    },
  ];
}

/** T1–T7 of this run (T4 is a placeholder that the report fills from bench/crypto.ts). */
export function targets(
  aggregates: Aggregate[],
  measurements: Measurement[],
  multiFrame: MultiFrameResult | null,
  largeRuns: LargeObjectRun[] | null,
  largeSummaries: LargeObjectSummary[],
): IngestTarget[] {
  const list: IngestTarget[] = [];
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

  // T8: envelope version 2 (a deployment integrity key) costs no more than version 1.
  list.push(
    ratioTarget(
      "T8a",
      "azurite-integrity-v2 REST ingest (4 clients) ≥ 0.95× azurite-local-key (envelope v2 vs v1, within the run's noise)",
      0.95,
      compare(aggregates, measurements, "azurite-integrity-v2", "azurite-local-key", "ingest-4"),
      "azurite-local-key",
    ),
  );
  list.push(
    ratioTarget(
      "T8b",
      "azurite-integrity-v2 /file reads (4 clients) ≥ 0.95× azurite-local-key (envelope v2 vs v1)",
      0.95,
      compare(aggregates, measurements, "azurite-integrity-v2", "azurite-local-key", "file-4"),
      "azurite-local-key",
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
