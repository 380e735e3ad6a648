import { describe, expect, it } from "vitest";
import {
  CEK_LENGTH,
  checkCek,
  checkCekToWrap,
  copyUnwrappedCek,
  zeroize,
} from "../../../src/crypto/data-key.ts";
import { StorageError } from "../../../src/errors.ts";

function thrown(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }
  throw new Error("expected a StorageError");
}

describe("content-encryption keys", () => {
  it("are 32 bytes (AES-256)", () => {
    expect(CEK_LENGTH).toBe(32);
  });

  it("checkCek accepts exactly CEK_LENGTH bytes", () => {
    expect(() => checkCek(Buffer.alloc(CEK_LENGTH))).not.toThrow();
    for (const length of [0, 16, 31, 33, 64]) {
      const error = thrown(() => checkCek(Buffer.alloc(length)));
      expect(error.code).toBe("invalid-argument");
      expect(error.message).toBe("Expected a 32-byte content-encryption key");
    }
  });

  it("checkCekToWrap says what it received", () => {
    expect(() => checkCekToWrap(Buffer.alloc(CEK_LENGTH))).not.toThrow();
    expect(thrown(() => checkCekToWrap(Buffer.alloc(16))).message).toBe(
      "Expected a 32-byte content key to wrap but received 16 bytes",
    );
    expect(thrown(() => checkCekToWrap("key")).message).toBe(
      "Expected a 32-byte content key to wrap but received string",
    );
  });

  it("copyUnwrappedCek returns a copy and zeroes what it was given", () => {
    const unwrapped = Buffer.alloc(CEK_LENGTH, 7);
    const cek = copyUnwrappedCek(unwrapped, "local:aes:k");
    expect(cek.equals(Buffer.alloc(CEK_LENGTH, 7))).toBe(true);
    expect(cek.buffer).not.toBe(unwrapped.buffer);
    expect(unwrapped.equals(Buffer.alloc(CEK_LENGTH))).toBe(true);
  });

  it("copyUnwrappedCek refuses a wrong length as an integrity failure, and still zeroes it", () => {
    const unwrapped = Buffer.alloc(31, 7);
    const error = thrown(() => copyUnwrappedCek(unwrapped, "local:aes:k"));
    expect(error.code).toBe("integrity");
    expect(error.message).toBe(
      "the wrapped content key unwraps with key local:aes:k to 31 bytes instead of 32",
    );
    expect(unwrapped.equals(Buffer.alloc(31))).toBe(true);
    expect(thrown(() => copyUnwrappedCek("not bytes", "k")).message).toBe(
      "the wrapped content key unwraps with key k to 0 bytes instead of 32",
    );
  });

  it("zeroize overwrites in place and accepts undefined", () => {
    const key = Buffer.alloc(4, 9);
    zeroize(key);
    zeroize(undefined);
    expect(key.equals(Buffer.alloc(4))).toBe(true);
  });
});
