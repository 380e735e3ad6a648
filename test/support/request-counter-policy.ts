/**
 * A per-try pipeline policy that counts the requests an Azure client sends, for tests and
 * benchmarks (AzureBlobStoreOptions.additionalPolicies).
 */
import type { PipelinePolicy } from "@azure/core-rest-pipeline";

export interface RequestCounter {
  policy: PipelinePolicy;
  /** Requests (every try) per HTTP method: { PUT: 21, GET: 1, ... }. */
  counts: Record<string, number>;
  /** Requests per "<METHOD> <comp or restype>", e.g. "PUT block", "PUT blocklist", "PUT", "GET". */
  operations: Record<string, number>;
  reset(): void;
}

export function createRequestCounterPolicy(): RequestCounter {
  const counts: Record<string, number> = {};
  const operations: Record<string, number> = {};
  const policy: PipelinePolicy = {
    name: "orthancRequestCounterPolicy",
    sendRequest(request, next) {
      const method = request.method.toUpperCase();
      counts[method] = (counts[method] ?? 0) + 1;
      let detail: string | null = null;
      try {
        const query = new URL(request.url).searchParams;
        detail = query.get("comp") ?? query.get("restype");
      } catch {
        detail = null;
      }
      const key = detail === null ? method : `${method} ${detail}`;
      operations[key] = (operations[key] ?? 0) + 1;
      return next(request);
    },
  };
  const reset = (): void => {
    for (const key of Object.keys(counts)) delete counts[key];
    for (const key of Object.keys(operations)) delete operations[key];
  };
  return { policy, counts, operations, reset };
}
