import { afterEach, describe, expect, it } from "vitest";
import { LARGE_ATTACHMENT_BYTES, releaseAfterLargeAttachment } from "../../src/memory-release.ts";

const globals = globalThis as { gc?: (() => void) | undefined };
const original = globals.gc;

afterEach(() => {
  globals.gc = original;
});

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("releaseAfterLargeAttachment", () => {
  it("collects once, after the current turn, for one or more large attachments", async () => {
    let collections = 0;
    globals.gc = () => {
      collections++;
    };
    releaseAfterLargeAttachment(LARGE_ATTACHMENT_BYTES);
    releaseAfterLargeAttachment(LARGE_ATTACHMENT_BYTES * 4);
    expect(collections).toBe(0);
    await nextTurn();
    expect(collections).toBe(1);
    releaseAfterLargeAttachment(LARGE_ATTACHMENT_BYTES + 1);
    await nextTurn();
    expect(collections).toBe(2);
  });

  it("leaves small attachments to V8", async () => {
    let collections = 0;
    globals.gc = () => {
      collections++;
    };
    releaseAfterLargeAttachment(LARGE_ATTACHMENT_BYTES - 1);
    await nextTurn();
    expect(collections).toBe(0);
  });

  it("does nothing where gc is not exposed", async () => {
    globals.gc = undefined;
    expect(() => releaseAfterLargeAttachment(LARGE_ATTACHMENT_BYTES)).not.toThrow();
    await nextTurn();
  });
});
