import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { integrityKeyId } from "../../../src/crypto/integrity-key.ts";
import { loadIntegrityKeys } from "../../../src/crypto/integrity-key-loader.ts";
import { decodeKeyText32 } from "../../../src/crypto/key-text.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import { storageFailure } from "../../support/assertions.ts";
import { recordingLogger } from "../../support/recording-logger.ts";
import { scratchDirs } from "../../support/scratch.ts";

const scratch = scratchDirs();

function keyFile(content: string, mode = 0o600): string {
  const path = join(scratch("oabs-ik-"), "integrity.key");
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

describe("loadIntegrityKeys", () => {
  it("loads a key file and a key wrapped by the KEK, in order; the first seals", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });
    const fileKey = randomBytes(32);
    const wrappedKey = randomBytes(32);
    const wrapped = await wrapper.wrapKey(wrappedKey);
    const keyring = await loadIntegrityKeys(
      [
        {
          kind: "wrapped",
          id: integrityKeyId(wrappedKey),
          wrapped: {
            keyId: wrapped.keyId,
            algorithm: wrapped.algorithm,
            encryptedKeyBase64: wrapped.encryptedKey.toString("base64"),
          },
        },
        { kind: "file", path: keyFile(`${fileKey.toString("hex")}\n`) },
      ],
      wrapper,
    );
    expect(keyring.sealing?.id).toBe(integrityKeyId(wrappedKey));
    expect(keyring.ids).toEqual([integrityKeyId(wrappedKey), integrityKeyId(fileKey)]);
    expect(keyring.find(integrityKeyId(fileKey))?.key.equals(fileKey)).toBe(true);
    const held = keyring.find(integrityKeyId(fileKey))?.key;
    keyring.dispose();
    expect(held?.every((byte) => byte === 0)).toBe(true);
  });

  it("accepts padded base64 too, and warns about a file others can read", async () => {
    const key = randomBytes(32);
    const logger = recordingLogger();
    const keyring = await loadIntegrityKeys(
      [{ kind: "file", path: keyFile(key.toString("base64"), 0o644) }],
      undefined,
      { logger },
    );
    expect(keyring.sealing?.id).toBe(integrityKeyId(key));
    expect(logger.lines.join("\n")).toMatch(/can be read by other users than its owner \(mode 644\)/);
  });

  it.each([
    ["a short key", "abcd"],
    ["65 hex digits", "a".repeat(65)],
    ["base64 of 31 bytes", randomBytes(31).toString("base64")],
    ["an RSA key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
  ])("refuses a file holding %s, naming the entry and never its content", async (_what, content) => {
    const path = keyFile(content);
    const error = await storageFailure(loadIntegrityKeys([{ kind: "file", path }], undefined));
    expect(error.message).toContain("AzureBlobStorage.IntegrityKeys[0]");
    expect(error.message).toContain(path);
    expect(error.message).not.toContain(content.slice(0, 12));
  });

  it("refuses a missing file, a wrapped key without a KEK, and an Id that is not the key's", async () => {
    const missing = await storageFailure(
      loadIntegrityKeys([{ kind: "file", path: "/nonexistent/ik" }], undefined),
    );
    expect(missing.message).toBe(
      "AzureBlobStorage.IntegrityKeys[0]: cannot read integrity key file /nonexistent/ik: ENOENT",
    );
    const noKek = await storageFailure(
      loadIntegrityKeys(
        [
          {
            kind: "wrapped",
            wrapped: { keyId: "local:aes:x", algorithm: "A256KW", encryptedKeyBase64: "AAAA" },
          },
        ],
        undefined,
      ),
    );
    expect(noKek.message).toContain("needs the key-encryption key that wrapped it");
    const other = integrityKeyId(randomBytes(32));
    const wrongId = await storageFailure(
      loadIntegrityKeys(
        [{ kind: "file", path: keyFile(randomBytes(32).toString("hex")), id: other }],
        undefined,
      ),
    );
    expect(wrongId.message).toMatch(
      new RegExp(`\\[0\\]: Expected the key of Id ${other} but received the key ik-[0-9a-f]{32}$`),
    );
  });

  it("refuses a wrapped key that does not unwrap, naming the entry", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    const tampered = Buffer.from(wrapped.encryptedKey);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    const error = await storageFailure(
      loadIntegrityKeys(
        [
          {
            kind: "wrapped",
            wrapped: {
              keyId: wrapped.keyId,
              algorithm: wrapped.algorithm,
              encryptedKeyBase64: tampered.toString("base64"),
            },
          },
        ],
        wrapper,
      ),
    );
    expect(error.code).toBe("integrity");
    expect(error.message).toMatch(/^AzureBlobStorage\.IntegrityKeys\[0\]: cannot unwrap the integrity key: /);
  });

  it("parses 64 hex digits or canonical base64 of 32 bytes, nothing else", () => {
    const key = randomBytes(32);
    const text = (value: string): Buffer => Buffer.from(value, "latin1");
    expect(decodeKeyText32(text(key.toString("hex").toUpperCase()))?.equals(key)).toBe(true);
    expect(decodeKeyText32(text(key.toString("base64")))?.equals(key)).toBe(true);
    expect(decodeKeyText32(text(key.toString("base64url")))).toBeUndefined();
    expect(decodeKeyText32(text(key.toString("hex").slice(1)))).toBeUndefined();
    expect(decodeKeyText32(text(""))).toBeUndefined();
  });
});
