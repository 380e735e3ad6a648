import { StorageError } from "../errors.ts";
import { type FaultPlan, parseFault } from "./faults.ts";
import type { RestHandler } from "./handlers.ts";
import { probeSandbox } from "./sandbox.ts";
import type { StatusReport } from "./status-report.ts";

export interface RestRoutesOptions {
  /** GET /azure-blob-storage/status */
  status: () => StatusReport;
  /** Present only when AzureBlobStorage.EnableTestingEndpoints is true. */
  faults?: FaultPlan | undefined;
}

/** Routes under /azure-blob-storage/. Anything else is a 404. */
export function createRestRoutes(options: RestRoutesOptions): RestHandler {
  return async (request) => {
    if (request.method === "GET" && request.path === "status") {
      return { found: true, body: options.status() };
    }
    if (options.faults !== undefined && request.method === "POST" && request.path === "testing/faults") {
      let parsed: unknown;
      try {
        parsed = JSON.parse(request.body.toString("utf8"));
      } catch {
        throw new StorageError(
          "invalid-argument",
          "Expected a JSON body for testing/faults but received invalid JSON",
        );
      }
      const fault = parseFault(parsed);
      options.faults.arm(fault);
      return { found: true, body: { armed: fault } };
    }
    if (options.faults !== undefined && request.method === "GET" && request.path === "testing/sandbox") {
      return { found: true, body: probeSandbox() };
    }
    return { found: false };
  };
}
