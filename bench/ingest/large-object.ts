/**
 * The large multi-frame object of the ingest benchmark:
 *  - T6: a one-off /tags on it (azurite-plain), counting the bytes read from the store;
 *  - T7: storing and reading it back in a fresh Orthanc per configuration, while a second client
 *    on its own worker thread (small-reader-worker.ts) reads a small instance's /tags.
 */
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { startAzurite } from "../../test/support/azurite.ts";
import { type GeneratedDicom, generateCt } from "../../test/support/dicom.ts";
import { getJson, type OrthancInstance, startOrthanc } from "../../test/support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../../test/support/plugin.ts";
import type { ConfigName, LargeObjectRun, LargeObjectSummary, MultiFrameResult } from "../schema.ts";
import { latencyPercentiles, round3, summarize } from "../stats.ts";
import {
  type ConfigSpec,
  type RunningConfiguration,
  type SharedEnvironment,
  selectedConfig,
  startConfiguration,
} from "./configurations.ts";
import { processMemoryMiB } from "./procfs.ts";
import { pluginStatus } from "./runner.ts";
import { CLIENT, LARGE_ROUNDS, log, MB, MULTIFRAME_FRAMES } from "./settings.ts";
import type { SmallReaderCommand, SmallReaderData, SmallReaderMessage } from "./small-reader-worker.ts";

/** The configurations of T7, the filesystem first (the baseline of T7a). */
export const LARGE_CONFIGS: readonly ConfigName[] = ["filesystem", "azurite-plain", "azurite-local-key"];

/**
 * The bundle of small-reader-worker.ts, beside the running bundle (build/bench/ingest.cjs):
 * tools/build-bench.mjs builds both.
 */
const SMALL_READER_BUNDLE = new URL("./small-reader-worker.cjs", import.meta.url);

// ---------------------------------------------------------------------------------------
// T6: /tags of a large multi-frame object reads a small range only
// ---------------------------------------------------------------------------------------

export async function runMultiFrame(big: GeneratedDicom): Promise<MultiFrameResult> {
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

interface SmallReader {
  start(): void;
  stop(): Promise<{ latencies: number[]; errors: number }>;
  /** Ends the thread at once (the error path; stop() may never answer then). */
  dispose(): Promise<void>;
}

/** Starts the second client on `url`; it answers once warmed up, before it measures anything. */
async function startSmallReader(url: string): Promise<SmallReader> {
  if (!existsSync(SMALL_READER_BUNDLE)) {
    throw new Error(
      `Expected the small reader at ${fileURLToPath(SMALL_READER_BUNDLE)}; run node tools/build-bench.mjs`,
    );
  }
  const workerData: SmallReaderData = { url };
  const worker = new Worker(SMALL_READER_BUNDLE, { workerData });
  const command = (value: SmallReaderCommand): void => worker.postMessage(value);
  const next = (): Promise<SmallReaderMessage> =>
    new Promise((resolveMessage, reject) => {
      worker.once("message", resolveMessage);
      worker.once("error", reject);
    });
  const ready = await next().catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  if ("fatal" in ready) {
    await worker.terminate();
    throw new Error(`small reader: ${ready.fatal}`);
  }
  return {
    start: () => command("start"),
    async stop() {
      const done = next();
      command("stop");
      const message = await done;
      await worker.terminate();
      if ("fatal" in message) throw new Error(`small reader: ${message.fatal}`);
      return "latencies" in message ? message : { latencies: [], errors: 0 };
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
  let running: RunningConfiguration | undefined;
  let reader: SmallReader | undefined;
  try {
    running = await startConfiguration(spec, shared);
    const { orthanc } = running;
    const { ID: smallId } = await CLIENT.upload(orthanc.url, small.bytes);
    reader = await startSmallReader(`${orthanc.url}/instances/${smallId}/tags`);
    result.rssBeforeMiB = processMemoryMiB(orthanc.pid, "VmRSS");

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
    result.peakRssMiB = processMemoryMiB(orthanc.pid, "VmHWM");

    const latency = latencyPercentiles(reads.latencies);
    result.smallReads = reads.latencies.length;
    result.smallReadErrors = reads.errors;
    result.smallReadP50Ms = latency.p50;
    result.smallReadP99Ms = latency.p99;
    result.smallReadMaxMs = latency.max;
    log(
      `  T7 ${spec.name}: peak RSS ${result.peakRssMiB ?? "?"} MiB (before ${result.rssBeforeMiB ?? "?"}), up ${result.uploadSeconds} s, down ${result.downloadSeconds} s, ${result.smallReads} small reads p50 ${result.smallReadP50Ms?.toFixed(1)} p99 ${result.smallReadP99Ms?.toFixed(1)} ms`,
    );
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`  T7 ${spec.name} round ${round + 1} FAILED: ${result.error.split("\n")[0]}`);
  } finally {
    await reader?.dispose();
    await running?.stop();
  }
  return result;
}

/** T7: LARGE_ROUNDS rounds of the LARGE_CONFIGS, in a rotating order. */
export async function runLargeObject(
  shared: SharedEnvironment,
  big: GeneratedDicom,
): Promise<LargeObjectRun[]> {
  const specs = LARGE_CONFIGS.map(selectedConfig);
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

/** T7 per configuration, over the successful runs. */
export function summarizeLargeObject(runs: LargeObjectRun[]): LargeObjectSummary[] {
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
