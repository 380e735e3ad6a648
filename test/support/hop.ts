/** What GET /azure-blob-storage/testing/hop answers (native/plugin.cpp, HopRoute). */
export interface HopAnswer {
  threads: number;
  callsPerThread: number;
  calls: number;
  failures: number;
  wallMs: number;
  callsPerSecond: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  firstError?: string;
}
