/** Per-operation counters, reported by GET /azure-blob-storage/status. */
export type CountedOperation = "create" | "readWhole" | "readRange" | "remove";

export interface OperationCounts {
  calls: number;
  failures: number;
  bytes: number;
}

export class OperationStats {
  private readonly counts: Record<CountedOperation, OperationCounts> = {
    create: { calls: 0, failures: 0, bytes: 0 },
    readWhole: { calls: 0, failures: 0, bytes: 0 },
    readRange: { calls: 0, failures: 0, bytes: 0 },
    remove: { calls: 0, failures: 0, bytes: 0 },
  };

  record(operation: CountedOperation, ok: boolean, bytes: number): void {
    const entry = this.counts[operation];
    entry.calls += 1;
    if (ok) entry.bytes += bytes;
    else entry.failures += 1;
  }

  snapshot(): Record<CountedOperation, OperationCounts> {
    return structuredClone(this.counts);
  }
}
