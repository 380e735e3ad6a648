/**
 * The settings of the ingest benchmark, read once from the environment (see bench/README.md),
 * and its progress log on stderr.
 */
import { envInteger } from "../env.ts";
import { benchClient } from "../http-client.ts";

/** CT instances per workload corpus (mixed-4 sends as many requests). */
export const INSTANCES = envInteger("BENCH_INSTANCES", 120, 16);
export const ROUNDS = envInteger("BENCH_ROUNDS", 9, 1);
export const STORESCU_FILES = envInteger("BENCH_STORESCU_FILES", 40, 1);
/** Frames of the large object of T6 and T7; 0 skips both. */
export const MULTIFRAME_FRAMES = envInteger("BENCH_MULTIFRAME_FRAMES", 300, 0);
/** T7 rounds. */
export const LARGE_ROUNDS = envInteger("BENCH_LARGE_ROUNDS", Math.min(3, ROUNDS), 1);
/** The HTTP client of the measured requests (BENCH_CLIENT). */
export const CLIENT = benchClient(process.env.BENCH_CLIENT);
/** Instances uploaded and read in each Orthanc before the measured workloads. */
export const WARMUP_INSTANCES = 5;
export const MB = 1e6;

export function log(message: string): void {
  process.stderr.write(`[ingest ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
