import { StorageError, type StorageErrorCode } from "../errors.ts";

/**
 * Fault injection for the integration tests (routes exist only with
 * AzureBlobStorage.EnableTestingEndpoints: true). Each fault proves a containment path of
 * the shim: a crash, an exit, a hang, a blocked JS thread, an error mapping, a short read.
 */
export type Fault =
  | { kind: "exit"; code: number }
  | { kind: "throw" }
  | { kind: "hang"; count: number }
  | { kind: "busy"; durationMs: number }
  | { kind: "oom" }
  | { kind: "fail"; code: StorageErrorCode; count: number }
  | { kind: "short-range"; count: number };

const FAIL_CODES: readonly StorageErrorCode[] = [
  "not-found",
  "integrity",
  "timeout",
  "unavailable",
  "internal",
];

export function parseFault(body: unknown): Fault {
  if (typeof body !== "object" || body === null) {
    throw new StorageError(
      "invalid-argument",
      "Expected a JSON object for the fault but received something else",
    );
  }
  const record = body as Record<string, unknown>;
  const count = typeof record.count === "number" && record.count > 0 ? Math.floor(record.count) : 1;
  switch (record.fault) {
    case "exit":
      return { kind: "exit", code: typeof record.code === "number" ? record.code : 3 };
    case "throw":
      return { kind: "throw" };
    case "hang":
      return { kind: "hang", count };
    case "busy":
      return {
        kind: "busy",
        durationMs: typeof record.durationMs === "number" ? record.durationMs : 3_600_000,
      };
    case "fail": {
      const code = record.code as StorageErrorCode;
      if (!FAIL_CODES.includes(code)) {
        throw new StorageError(
          "invalid-argument",
          `Expected one of ${FAIL_CODES.join(", ")} for code but received ${JSON.stringify(record.code)}`,
        );
      }
      return { kind: "fail", code, count };
    }
    case "short-range":
      return { kind: "short-range", count };
    case "oom":
      return { kind: "oom" };
    default:
      throw new StorageError(
        "invalid-argument",
        `Expected "exit", "throw", "hang", "busy", "oom", "fail" or "short-range" for fault but received ${JSON.stringify(record.fault)}`,
      );
  }
}

/** Faults that apply to the next storage operations. */
export class FaultPlan {
  private hangs = 0;
  private failures: { code: StorageErrorCode; count: number } | undefined;
  private shortRanges = 0;

  arm(fault: Fault): void {
    switch (fault.kind) {
      case "hang":
        this.hangs += fault.count;
        break;
      case "fail":
        this.failures = { code: fault.code, count: fault.count };
        break;
      case "short-range":
        this.shortRanges += fault.count;
        break;
      case "exit":
        setImmediate(() => process.exit(fault.code));
        break;
      case "throw":
        setImmediate(() => {
          throw new Error("injected uncaught exception (testing endpoint)");
        });
        break;
      case "oom":
        setImmediate(() => {
          // Fills the V8 heap: the shim's near-heap-limit handling must restart JS, not abort Orthanc.
          const hog: number[][] = [];
          for (;;) hog.push(new Array<number>(1_000_000).fill(hog.length));
        });
        break;
      case "busy":
        setImmediate(() => {
          const end = Date.now() + fault.durationMs;
          while (Date.now() < end) {
            // Deliberately blocks the JS thread: the shim's watchdog must end it.
          }
        });
        break;
    }
  }

  /** True when this operation must never settle. */
  takeHang(): boolean {
    if (this.hangs === 0) return false;
    this.hangs -= 1;
    return true;
  }

  /** Throws the armed failure, if any. */
  takeFailure(): void {
    if (this.failures === undefined) return;
    const { code } = this.failures;
    this.failures.count -= 1;
    if (this.failures.count <= 0) this.failures = undefined;
    throw new StorageError(code, `injected ${code} failure (testing endpoint)`);
  }

  takeShortRange(): boolean {
    if (this.shortRanges === 0) return false;
    this.shortRanges -= 1;
    return true;
  }
}
