import { describe, expect, it } from "vitest";
import { createDispose, type RuntimeResources } from "../../../src/bridge/shutdown.ts";
import { recordingLogger } from "../../support/recording-logger.ts";

function resources(overrides: Partial<RuntimeResources> = {}) {
  const events: string[] = [];
  const logger = recordingLogger();
  const base: RuntimeResources = {
    keys: { dispose: () => void events.push("keys") },
    wrapper: { dispose: () => void events.push("wrapper") },
    engine: {
      stats: { threads: 2, offloaded: 0, inline: 0 },
      close: async () => void events.push("engine"),
    },
    store: { close: async () => void events.push("store") },
    logger,
  };
  return { events, logger, all: { ...base, ...overrides } };
}

describe("createDispose (the answer to the shim's Shutdown)", () => {
  it("zeroes the keys first, then closes the workers and the store, and logs what it did", async () => {
    const { events, logger, all } = resources();
    await createDispose(all)();
    expect(events.slice(0, 2)).toEqual(["keys", "wrapper"]);
    expect(events.slice(2).sort()).toEqual(["engine", "store"]);
    expect(logger.lines).toEqual([
      "info: disposed: data keys zeroed, key refresh stopped, 2 crypto worker(s) stopped, store closed",
    ]);
  });

  it("runs once, however often it is asked", async () => {
    const { events, logger, all } = resources();
    const dispose = createDispose(all);
    await Promise.all([dispose(), dispose()]);
    await dispose();
    expect(events).toHaveLength(4);
    expect(logger.lines).toHaveLength(1);
  });

  it("says only what there was: no keys, no wrapper, inline crypto", async () => {
    const { logger, all } = resources({
      keys: undefined,
      wrapper: {},
      engine: { stats: { threads: 0, offloaded: 0, inline: 0 }, close: async () => undefined },
    });
    await createDispose(all)();
    expect(logger.lines).toEqual(["info: disposed: store closed"]);
  });

  it("still closes the store when the engine fails, and rejects with both outcomes", async () => {
    const { events, logger, all } = resources({
      engine: {
        stats: { threads: 1, offloaded: 0, inline: 0 },
        close: async () => {
          throw new Error("worker would not stop");
        },
      },
    });
    await expect(createDispose(all)()).rejects.toThrow(
      "dispose failed (crypto engine: worker would not stop); done: data keys zeroed, key refresh stopped, store closed",
    );
    expect(events).toEqual(["keys", "wrapper", "store"]);
    expect(logger.lines).toEqual([]);
  });
});
