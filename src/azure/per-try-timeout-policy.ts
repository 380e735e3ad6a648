/**
 * Client-side timeout for each HTTP try, shared by the Blob Storage and Key Vault pipelines.
 */
import { finished } from "node:stream";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
// @azure/storage-blob re-exports core-rest-pipeline's RestError (a declared dependency; core-rest-pipeline is not).
import { RestError } from "@azure/storage-blob";

export interface PerTryTimeoutPolicyOptions {
  /** The policy's name, unique within its pipeline. */
  name: string;
  /** Per try, until the response headers arrive. */
  timeoutMs: number;
  /**
   * The code of the RestError thrown when a try times out: one the client's retry policy retries
   * ("TIMEOUT" for @azure/storage-blob's retry policy, "ETIMEDOUT" for core-rest-pipeline's
   * exponential retry strategy) and its adapter's error mapping recognises.
   */
  errorCode: string;
}

/**
 * Aborts a try that has no response within `timeoutMs` and throws a RestError with `errorCode`
 * instead, so that the retry policy placed before it retries a silent connection rather than
 * letting it hang until the operation deadline. The caller's own abort signal keeps working: it is
 * forwarded to the try, and while a streamed response body flows, until the body ends. When the
 * caller aborted, its error is thrown unchanged.
 */
export function perTryTimeoutPolicy(options: PerTryTimeoutPolicyOptions): PipelinePolicy {
  const { name, timeoutMs, errorCode } = options;
  return {
    name,
    async sendRequest(request, next) {
      const outer = request.abortSignal;
      if (outer?.aborted) return next(request);
      const controller = new AbortController();
      const forward = (): void => controller.abort();
      outer?.addEventListener("abort", forward);
      const release = (): void => outer?.removeEventListener("abort", forward);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
      request.abortSignal = controller.signal;
      let streaming = false;
      try {
        const response = await next(request);
        const body = response.readableStreamBody;
        if (body !== undefined) {
          // The body is still flowing: keep forwarding the caller's abort until it ends.
          streaming = true;
          finished(body, release);
        }
        return response;
      } catch (error) {
        if (timedOut && !outer?.aborted) {
          throw new RestError(`no response within ${timeoutMs} ms`, { code: errorCode, request });
        }
        throw error;
      } finally {
        clearTimeout(timer);
        if (!streaming) release();
        if (outer === undefined) delete request.abortSignal;
        else request.abortSignal = outer;
      }
    },
  };
}
