/**
 * The C++ -> JS -> C++ hop micro-benchmark: how many no-op calls per second the shim's bridge
 * carries, and their latency, with 1 and 16 Orthanc-side threads. The loop runs inside
 * Orthanc (GET /azure-blob-storage/testing/hop, native/hop.cpp), so HTTP is paid once per
 * measurement, not per call. Writes build/bench/hop.json for bench/report.ts.
 *
 *   node tools/build-bench.mjs && node build/bench/hop.cjs
 *
 * Environment: BENCH_HOP_REPETITIONS (default 7), BENCH_HOP_CALLS (calls per measurement,
 * split over the threads; default 16000).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import type { HopAnswer } from "../test/support/hop.ts";
import { getJson, startOrthanc } from "../test/support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../test/support/plugin.ts";
import { envInteger } from "./env.ts";
import type { HopReport } from "./schema.ts";
import { spread } from "./stats.ts";

const REPETITIONS = envInteger("BENCH_HOP_REPETITIONS", 7, 1);
const CALLS = envInteger("BENCH_HOP_CALLS", 16_000, 16);
const THREADS = [1, 16] as const;
const OUT_DIR = join(process.cwd(), "build", "bench");
const OUT_FILE = join(OUT_DIR, "hop.json");

function log(message: string): void {
  process.stderr.write(`[hop ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg();
  mkdirSync(OUT_DIR, { recursive: true });
  // The in-memory store: the Echo never reaches storage, and nothing else runs beside it.
  const orthanc = await startOrthanc({
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection("UseDevelopmentStorage=true", {
      InMemoryStoreForTesting: true,
      EnableTestingEndpoints: true,
    }),
  });
  const measurements: HopReport["measurements"] = [];
  try {
    const hop = (threads: number, calls: number) =>
      getJson<HopAnswer>(
        `${orthanc.url}/azure-blob-storage/testing/hop?threads=${threads}&calls=${Math.ceil(calls / threads)}`,
      );
    // Warm-up, not recorded: thread creation paths, JIT of the JS handler.
    for (const threads of THREADS) await hop(threads, Math.min(CALLS, 4000));
    for (let repetition = 0; repetition < REPETITIONS; repetition++) {
      // Interleaved, alternating which thread count goes first.
      const order = repetition % 2 === 0 ? THREADS : [...THREADS].reverse();
      for (const threads of order) {
        const answer = await hop(threads, CALLS);
        if (answer.failures > 0) {
          throw new Error(`${answer.failures} of the hop calls failed: ${answer.firstError ?? "?"}`);
        }
        measurements.push({ ...answer, repetition });
        log(
          `${threads} thread(s): ${answer.callsPerSecond.toFixed(0)} calls/s, p50 ${answer.p50Us.toFixed(1)} µs, p99 ${answer.p99Us.toFixed(1)} µs`,
        );
      }
    }
  } finally {
    await orthanc.stop();
  }
  const report: HopReport = {
    schema: "oabs-bench-hop/1",
    startedAt,
    command: "node tools/build-bench.mjs && node build/bench/hop.cjs",
    machine: { nproc: availableParallelism(), loadAverageBefore: loadBefore, loadAverageAfter: loadavg() },
    configuration: "plugin, InMemoryStoreForTesting, EnableTestingEndpoints",
    repetitions: REPETITIONS,
    callsPerMeasurement: CALLS,
    results: THREADS.map((threads) => {
      const mine = measurements.filter((m) => m.threads === threads);
      return {
        threads,
        callsPerSecond: spread(mine.map((m) => m.callsPerSecond)),
        p50Us: spread(mine.map((m) => m.p50Us)),
        p99Us: spread(mine.map((m) => m.p99Us)),
        maxUs: spread(mine.map((m) => m.maxUs)),
      };
    }),
    measurements,
  };
  writeFileSync(OUT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${OUT_FILE}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
