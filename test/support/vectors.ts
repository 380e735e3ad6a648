/**
 * The known-answer vector files (test/vectors/): where they are, the test KEKs they use, and the
 * helpers both envelope vector tests share. The files themselves are never regenerated.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "vitest";

export const VECTORS_DIR = new URL("../vectors/", import.meta.url);
/** The one message of every envelope verification failure. */
export const VERIFICATION_FAILED = "encrypted blob failed verification";

export interface KekFiles {
  rsa: { file: string; keyId: string };
  aes: { file: string; keyId: string };
}

/** A vector file, parsed (the caller states its shape). */
export function readVectorFile<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, VECTORS_DIR), "utf8")) as T;
}

/** A file of the vectors folder, as text. */
export function vectorText(file: string): string {
  return readFileSync(new URL(file, VECTORS_DIR), "utf8");
}

/** The throwaway test KEKs: the RSA key's PEM and the AES key's 32 bytes. */
export function testKeks(keks: KekFiles): { rsaPem: string; aes: Buffer } {
  return { rsaPem: vectorText(keks.rsa.file), aes: Buffer.from(vectorText(keks.aes.file).trim(), "hex") };
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A plaintext given as hex, or by the generator "byte i = i mod 251" with its length and hash. */
export type PlaintextSpec =
  | { hex: string; length: number }
  | { generator: string; length: number; sha256: string };

export function plaintextOf(spec: PlaintextSpec): Buffer {
  if ("hex" in spec) return Buffer.from(spec.hex, "hex");
  expect(spec.generator).toBe("byte i = i mod 251");
  const data = Buffer.alloc(spec.length);
  for (let i = 0; i < spec.length; i++) data[i] = i % 251;
  expect(sha256(data)).toBe(spec.sha256);
  return data;
}
