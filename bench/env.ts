/** Benchmark settings from the environment (BENCH_*), with one error shape for bad values. */
export function envInteger(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Expected an integer of ${min} or more for ${name} but received ${JSON.stringify(raw)}`);
  }
  return value;
}
