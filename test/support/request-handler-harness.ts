/**
 * createRequestHandler with a recording complete(): what the native shim would receive.
 */
import { createRequestHandler, type RestHandler, type StorageOperations } from "../../src/bridge/handlers.ts";
import { OperationStats } from "../../src/bridge/operation-stats.ts";

export interface Completion {
  id: number;
  status: number;
  message: string;
  data: Buffer | undefined;
}

/** Storage operations from the given ones; the others reject with "not used". */
export function storageStub(storage: Partial<StorageOperations>): StorageOperations {
  const notImplemented = () => Promise.reject(new Error("not used"));
  return {
    create: storage.create ?? notImplemented,
    readWhole: storage.readWhole ?? notImplemented,
    readRange: storage.readRange ?? notImplemented,
    remove: storage.remove ?? notImplemented,
  };
}

export function requestHandlerHarness(
  storage: Partial<StorageOperations>,
  extra: { rest?: RestHandler; testingEndpoints?: boolean; dispose?: () => Promise<void> } = {},
) {
  const completions: Completion[] = [];
  const stats = new OperationStats();
  const waiters: Array<() => void> = [];
  const complete = (id: number, status: number, message: string, data?: Buffer) => {
    completions.push({ id, status, message, data });
    for (const w of waiters.splice(0)) w();
    return true;
  };
  const handler = createRequestHandler({
    storage: storageStub(storage),
    rest: extra.rest ?? (async () => ({ found: false })),
    complete,
    testingEndpoints: extra.testingEndpoints ?? false,
    stats,
    dispose: extra.dispose,
  });
  /** Resolves once `count` completions have arrived. */
  const next = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (completions.length >= count ? resolve() : waiters.push(check));
      check();
    });
  return { handler, completions, stats, next };
}
