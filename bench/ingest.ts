/**
 * Side-by-side throughput benchmark: Orthanc's own filesystem storage against the plugin
 * (in-memory store, Azurite plain, Azurite + local RSA key, Azurite + Key Vault emulator).
 * Writes build/bench/ingest.json (an IngestReport, bench/schema.ts), which bench/report.ts
 * turns into BENCHMARKS.md.
 *
 *   node tools/build-bench.mjs && node build/bench/ingest.cjs && node build/bench/report.cjs
 *
 * Environment (bench/ingest/settings.ts): BENCH_INSTANCES (CT instances per corpus, default 120),
 * BENCH_ROUNDS (default 9), BENCH_STORESCU_FILES (default 40), BENCH_MULTIFRAME_FRAMES (default
 * 300; 0 skips T6 and T7), BENCH_LARGE_ROUNDS (T7 repetitions, default min(3, BENCH_ROUNDS)),
 * BENCH_CLIENT, BENCH_CONFIGS.
 *
 * Every configuration runs once per round, in a rotating order, each time in a fresh Orthanc
 * (and a fresh Azurite where it uses one), so machine noise hits every configuration alike.
 * Progress goes to stderr. The parts:
 *  - bench/ingest/configurations.ts: the configurations and how one starts;
 *  - bench/ingest/runner.ts: the workloads and their measurement, one configuration per round;
 *  - bench/ingest/large-object.ts: T6 and T7 on one large multi-frame object;
 *  - bench/ingest/targets.ts: the summaries over the rounds, the ratios and the targets.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { PLUGIN_VERSION } from "../src/version.ts";
import { generateMultiFrame } from "../test/support/dicom.ts";
import { getJson, startOrthanc } from "../test/support/orthanc.ts";
import { PLUGIN_PATH } from "../test/support/plugin.ts";
import { closeBenchClients } from "./http-client.ts";
import { CONFIGS, type ConfigSpec, memorySection, startSharedEnvironment } from "./ingest/configurations.ts";
import { runLargeObject, runMultiFrame, summarizeLargeObject } from "./ingest/large-object.ts";
import { cpuModel, memTotalMiB } from "./ingest/procfs.ts";
import { buildCorpora, pluginStatus, runConfiguration, WORKLOADS } from "./ingest/runner.ts";
import {
  CLIENT,
  INSTANCES,
  LARGE_ROUNDS,
  log,
  MB,
  MULTIFRAME_FRAMES,
  ROUNDS,
  STORESCU_FILES,
  WARMUP_INSTANCES,
} from "./ingest/settings.ts";
import { aggregate, comparisons, peakRss, targets } from "./ingest/targets.ts";
import type {
  ConfigName,
  ConfigRun,
  IngestReport,
  LargeObjectRun,
  Measurement,
  MultiFrameResult,
} from "./schema.ts";
import { round3 } from "./stats.ts";

const ROOT = process.cwd();
const OUT_DIR = join(ROOT, "build", "bench");
const OUT_FILE = join(OUT_DIR, "ingest.json");

/** The commit the plugin was built from, and whether src/ or native/ differ from it (read-only git). */
function sourceRevision(): IngestReport["versions"]["source"] {
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

/** Orthanc's version and the embedded Node's, from a short-lived plugin-memory Orthanc. */
async function probeVersions(): Promise<{ orthanc: string; embeddedNode: string }> {
  const probe = await startOrthanc({ plugins: [PLUGIN_PATH], azureBlobStorage: memorySection() });
  try {
    return {
      orthanc: (await getJson<{ Version: string }>(`${probe.url}/system`)).Version,
      embeddedNode: (await pluginStatus(probe)).runtime?.node ?? "unknown",
    };
  } finally {
    await probe.stop();
  }
}

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
  const shared = await startSharedEnvironment();

  let versions = { orthanc: "unknown", embeddedNode: "unknown" };
  const measurements: Measurement[] = [];
  const configRuns: ConfigRun[] = [];
  const order: ConfigName[][] = [];
  let multiFrame: MultiFrameResult | null = null;
  let largeRuns: LargeObjectRun[] | null = null;
  try {
    versions = await probeVersions();
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
    await shared.dispose();
    rmSync(corpora.dir, { recursive: true, force: true });
    closeBenchClients();
  }

  const results = aggregate(measurements);
  const largeObject = largeRuns === null ? [] : summarizeLargeObject(largeRuns);
  const rss = peakRss(configRuns);
  const pairs = comparisons(results, measurements);
  const durationSeconds = round3((performance.now() - t0) / 1000);
  const report: IngestReport = {
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
      orthanc: versions.orthanc,
      hostNode: process.version,
      embeddedNode: versions.embeddedNode,
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
    results,
    rss,
    comparisons: pairs,
    multiFrame,
    largeObject,
    largeObjectRuns: largeRuns,
    targets: targets(results, measurements, multiFrame, largeRuns, largeObject),
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
