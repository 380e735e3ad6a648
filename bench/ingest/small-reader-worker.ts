/**
 * The second client of T7 (bench/ingest/large-object.ts), on its own thread and event loop: the
 * transfer client's work (sending the large object, concatenating its /file body) must not
 * delay these requests or their timing. Sequential GETs of one small /tags, timed only between
 * "start" and "stop".
 *
 * tools/build-bench.mjs bundles it on its own, to build/bench/small-reader-worker.cjs, beside
 * build/bench/ingest.cjs that starts it.
 */
import { Agent, get } from "node:http";
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";

/** What the worker is started with. */
export interface SmallReaderData {
  /** The /tags URL to read. */
  url: string;
}

/** From the main thread: "start" begins the measured phase, "stop" ends it and asks for the result. */
export type SmallReaderCommand = "start" | "stop";

/** To the main thread: ready after the warm-up, then the result after "stop", or a fatal error. */
export type SmallReaderMessage =
  | { ready: true }
  | { latencies: number[]; errors: number }
  | { fatal: string };

const WARMUP_READS = 20;

function main(port: NonNullable<typeof parentPort>, data: SmallReaderData): Promise<void> {
  const send = (message: SmallReaderMessage): void => port.postMessage(message);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  // Changed by the message handler, between the awaits of the loop.
  const state: { phase: "warmup" | SmallReaderCommand } = { phase: "warmup" };
  const latencies: number[] = [];
  let errors = 0;
  port.on("message", (command: SmallReaderCommand) => {
    state.phase = command;
  });

  /** One GET: true when it answered 200 with the tags of an instance. */
  const read = (): Promise<boolean> =>
    new Promise((resolve, reject) => {
      const request = get(data.url, { agent }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          try {
            resolve(
              response.statusCode === 200 &&
                (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>)[
                  "0008,0018"
                ] !== undefined,
            );
          } catch {
            resolve(false);
          }
        });
      });
      request.on("error", reject);
    });

  const loop = async (): Promise<void> => {
    for (let i = 0; i < WARMUP_READS; i++) await read();
    send({ ready: true });
    while (state.phase !== "stop") {
      const measured = state.phase === "start";
      const t0 = performance.now();
      let ok = false;
      try {
        ok = await read();
      } catch {
        ok = false;
      }
      const elapsed = performance.now() - t0;
      if (!measured) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      if (ok) latencies.push(elapsed);
      else errors++;
    }
    agent.destroy();
    send({ latencies, errors });
  };
  return loop().catch((error: unknown) =>
    send({ fatal: String((error instanceof Error && error.stack) || error) }),
  );
}

if (parentPort === null)
  throw new Error("small-reader-worker runs as a worker thread (bench/ingest/large-object.ts)");
void main(parentPort, workerData as SmallReaderData);
