import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quoteUntrusted, showUntrusted } from "../../../src/logging/untrusted.ts";

describe("values from outside in messages", () => {
  it("cannot start a new log line or hide characters, whatever the value (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (value) => {
        for (const shown of [quoteUntrusted(value), showUntrusted(value)]) {
          expect(shown).toMatch(/^[\x20-\x7e]*$/);
          expect(shown.length).toBeLessThanOrEqual(2 + 6 * 300 + 3);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("escapes a key id that carries a fake log line", () => {
    const kid = "local:rsa:00\nE1206 12:00:00 AzureBlobStorage: all good";
    expect(showUntrusted(kid)).toBe('"local:rsa:00\\nE1206 12:00:00 AzureBlobStorage: all good"');
  });

  it("shows a well-formed key id as itself, and quotes or describes the rest", () => {
    expect(showUntrusted("https://vault.example/keys/k/0123abcd")).toBe(
      "https://vault.example/keys/k/0123abcd",
    );
    expect(showUntrusted("")).toBe('""');
    expect(showUntrusted('a"b')).toBe('"a\\"b"');
    expect(showUntrusted(42)).toBe("(a value of type number)");
    expect(quoteUntrusted("x".repeat(10), 4)).toBe('"xxxx..."');
    expect(quoteUntrusted("\u2028\u0000é")).toBe('"\\u2028\\u0000\\u00e9"');
  });
});
