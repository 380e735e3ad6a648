import { execFileSync } from "node:child_process";
import {
  constants,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  randomBytes,
} from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WrapAlgorithm, WrappedKey } from "../../../src/crypto/key-wrapper.ts";
import { LocalKeyWrapper, localKeyId } from "../../../src/crypto/local-key-wrapper.ts";
import { StorageError } from "../../../src/errors.ts";
import { storageFailure } from "../../support/assertions.ts";

interface RsaTestKey {
  privateKey: KeyObject;
  pkcs8: string;
  pkcs1: string;
}

function rsaKey(bits: number): RsaTestKey {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  return {
    privateKey,
    pkcs8: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    pkcs1: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
  };
}

let dir = "";
let fileCounter = 0;
let rsa2048: RsaTestKey;
let rsa2048b: RsaTestKey;
let rsa4096: RsaTestKey;

function writeKeyFile(content: string | Buffer, name = `key-${++fileCounter}.txt`): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

/** FORMAT.md's RSA key id, computed with the openssl CLI (independent of the implementation). */
function opensslRsaKeyId(pemPath: string): string {
  const der = execFileSync("openssl", ["pkey", "-in", pemPath, "-pubout", "-outform", "DER"]);
  return `local:rsa:${sha256sumHex(der).slice(0, 32)}`;
}

/** FORMAT.md's AES key id, with sha256sum over the raw key bytes. */
function sha256sumAesKeyId(raw: Buffer): string {
  return `local:aes:${sha256sumHex(raw).slice(0, 32)}`;
}

function sha256sumHex(bytes: Buffer): string {
  const out = execFileSync("sha256sum", [], { input: bytes }).toString();
  return out.split(/\s+/)[0] ?? "";
}

/** Decrypts an RSA-OAEP wrapped key with the openssl CLI. */
function opensslOaepDecrypt(pemPath: string, encryptedKey: Buffer, md: "sha1" | "sha256"): Buffer {
  const input = writeKeyFile(encryptedKey, `wrapped-${++fileCounter}.bin`);
  return execFileSync("openssl", [
    "pkeyutl",
    "-decrypt",
    "-inkey",
    pemPath,
    "-in",
    input,
    "-pkeyopt",
    "rsa_padding_mode:oaep",
    "-pkeyopt",
    `rsa_oaep_md:${md}`,
    "-pkeyopt",
    `rsa_mgf1_md:${md}`,
  ]);
}

/** The base64 body of a PEM (the secret part), without the BEGIN/END lines. */
function pemBody(pem: string): string[] {
  return pem.split("\n").filter((line) => line.length > 0 && !line.startsWith("-----"));
}

/** Fails if `message` contains any 12-character stretch of the given secret text lines. */
function expectNoContent(message: string, secretLines: readonly string[]): void {
  for (const line of secretLines) {
    for (let i = 0; i + 12 <= line.length; i++) {
      const window = line.slice(i, i + 12);
      if (message.includes(window)) throw new Error(`the error message echoes file content: ${window}`);
    }
  }
}

function flipByte(buffer: Buffer, index: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

async function roundTrip(
  wrapper: LocalKeyWrapper,
): Promise<{ cek: Buffer; wrapped: WrappedKey; unwrapped: Buffer }> {
  const cek = randomBytes(32);
  const wrapped = await wrapper.wrapKey(cek);
  const unwrapped = await wrapper.unwrapKey(wrapped);
  expect(unwrapped.equals(cek)).toBe(true);
  return { cek, wrapped, unwrapped };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "local-key-wrapper-"));
  rsa2048 = rsaKey(2048);
  rsa2048b = rsaKey(2048);
  rsa4096 = rsaKey(4096);
}, 120_000);

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("LocalKeyWrapper with RSA key files", () => {
  it("reads a PKCS#8 key: id from the DER SubjectPublicKeyInfo, RSA-OAEP-256 by default, round trip", async () => {
    const path = writeKeyFile(rsa2048.pkcs8);
    const wrapper = await LocalKeyWrapper.fromFiles({ writeKeyFile: path });
    const expectedId = opensslRsaKeyId(path);
    expect(expectedId).toMatch(/^local:rsa:[0-9a-f]{32}$/);
    expect(wrapper.keyId).toBe(expectedId);
    expect(wrapper.kind).toBe("rsa");
    expect(wrapper.algorithm).toBe("RSA-OAEP-256");
    expect(wrapper.description).toBe(`local key file (rsa, ${expectedId}, RSA-OAEP-256)`);
    expect(wrapper.trusts(expectedId)).toBe(true);

    const { cek, wrapped } = await roundTrip(wrapper);
    expect(wrapped.keyId).toBe(expectedId);
    expect(wrapped.algorithm).toBe("RSA-OAEP-256");
    expect(wrapped.encryptedKey.length).toBe(256);
    // Interoperable: openssl unwraps it with SHA-256 OAEP and MGF1.
    expect(opensslOaepDecrypt(path, wrapped.encryptedKey, "sha256").equals(cek)).toBe(true);
  });

  it("reads a PKCS#1 key with RSA-OAEP (SHA-1), and gives it the same id as its PKCS#8 form", async () => {
    const path = writeKeyFile(rsa2048.pkcs1);
    const wrapper = await LocalKeyWrapper.fromFiles({ writeKeyFile: path, algorithm: "RSA-OAEP" });
    expect(rsa2048.pkcs1).toContain("BEGIN RSA PRIVATE KEY");
    expect(wrapper.keyId).toBe(opensslRsaKeyId(path));
    expect(wrapper.keyId).toBe(opensslRsaKeyId(writeKeyFile(rsa2048.pkcs8)));
    const { cek, wrapped } = await roundTrip(wrapper);
    expect(wrapped.algorithm).toBe("RSA-OAEP");
    expect(opensslOaepDecrypt(path, wrapped.encryptedKey, "sha1").equals(cek)).toBe(true);
  });

  for (const algorithm of ["RSA-OAEP", "RSA-OAEP-256"] as const) {
    for (const form of ["pkcs8", "pkcs1"] as const) {
      it(`round-trips with a 4096-bit ${form} key and ${algorithm}`, async () => {
        const path = writeKeyFile(rsa4096[form]);
        const wrapper = await LocalKeyWrapper.fromFiles({ writeKeyFile: path, algorithm });
        expect(wrapper.keyId).toBe(opensslRsaKeyId(path));
        const { wrapped } = await roundTrip(wrapper);
        expect(wrapped.algorithm).toBe(algorithm);
        expect(wrapped.encryptedKey.length).toBe(512);
        const decrypted = privateDecrypt(
          {
            key: rsa4096.privateKey,
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: algorithm === "RSA-OAEP" ? "sha1" : "sha256",
          },
          wrapped.encryptedKey,
        );
        expect(decrypted.equals(await wrapper.unwrapKey(wrapped))).toBe(true);
      });
    }
  }

  it("unwraps RSA-OAEP and RSA-OAEP-256 alike, whatever it writes with", async () => {
    const sha1 = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsa2048.pkcs8, algorithm: "RSA-OAEP" });
    const sha256 = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsa2048.pkcs8 });
    const cek = randomBytes(32);
    expect((await sha256.unwrapKey(await sha1.wrapKey(cek))).equals(cek)).toBe(true);
    expect((await sha1.unwrapKey(await sha256.wrapKey(cek))).equals(cek)).toBe(true);
  });

  it("reports a wrapped key stored with the wrong OAEP hash as an integrity failure", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsa2048.pkcs8 });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    const error = await storageFailure(wrapper.unwrapKey({ ...wrapped, algorithm: "RSA-OAEP" }));
    expect(error.code).toBe("integrity");
    expect(error.message).toBe(`the wrapped content key does not unwrap with key ${wrapper.keyId}`);
  });

  it("refuses A256KW for a wrapped key of an RSA key id", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsa2048.pkcs8 });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    const error = await storageFailure(wrapper.unwrapKey({ ...wrapped, algorithm: "A256KW" }));
    expect(error.code).toBe("integrity");
    expect(error.message).toContain("A256KW");
    expect(error.message).toContain(wrapper.keyId);
  });

  it("refuses a 1024-bit RSA key, naming the file", async () => {
    const small = rsaKey(1024);
    for (const pem of [small.pkcs8, small.pkcs1]) {
      const path = writeKeyFile(pem);
      const error = await storageFailure(LocalKeyWrapper.fromFiles({ writeKeyFile: path }));
      expect(error.code).toBe("invalid-argument");
      expect(error.message).toContain(path);
      expect(error.message).toContain("1024-bit");
      expect(error.message).toContain("2048");
      expectNoContent(error.message, pemBody(pem));
    }
  });

  it("refuses algorithms that do not fit an RSA key", async () => {
    const path = writeKeyFile(rsa2048.pkcs8);
    const error = await storageFailure(
      LocalKeyWrapper.fromFiles({ writeKeyFile: path, algorithm: "A256KW" }),
    );
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toBe(
      `Expected RSA-OAEP-256 or RSA-OAEP for the key wrapping algorithm of local key file ${path} (an RSA key) but received A256KW`,
    );
    const rsa15 = await storageFailure(
      LocalKeyWrapper.fromFiles({ writeKeyFile: path, algorithm: "RSA1_5" as WrapAlgorithm }),
    );
    expect(rsa15.message).toBe(
      'Expected one of RSA-OAEP-256, RSA-OAEP, A256KW for the key wrapping algorithm but received "RSA1_5"',
    );
  });
});

describe("LocalKeyWrapper with AES-256 key files", () => {
  const raw = randomBytes(32);

  it("reads 64 hex digits (any case, surrounding whitespace) with the FORMAT.md id", async () => {
    const expectedId = sha256sumAesKeyId(raw);
    for (const text of [raw.toString("hex"), `  ${raw.toString("hex").toUpperCase()}\r\n\n`]) {
      const wrapper = await LocalKeyWrapper.fromFiles({ writeKeyFile: writeKeyFile(text) });
      expect(wrapper.keyId).toBe(expectedId);
      expect(wrapper.kind).toBe("aes");
      expect(wrapper.algorithm).toBe("A256KW");
      expect(wrapper.description).toBe(`local key file (aes, ${expectedId}, A256KW)`);
      const { wrapped } = await roundTrip(wrapper);
      expect(wrapped).toMatchObject({ keyId: expectedId, algorithm: "A256KW" });
      expect(wrapped.encryptedKey.length).toBe(40);
    }
  });

  it("reads 44 base64 characters as the same key", async () => {
    const fromHex = await LocalKeyWrapper.fromFiles({ writeKeyFile: writeKeyFile(raw.toString("hex")) });
    const fromBase64 = await LocalKeyWrapper.fromFiles({
      writeKeyFile: writeKeyFile(`${raw.toString("base64")}\n`),
    });
    expect(raw.toString("base64")).toHaveLength(44);
    expect(fromBase64.keyId).toBe(fromHex.keyId);
    const cek = randomBytes(32);
    expect((await fromBase64.unwrapKey(await fromHex.wrapKey(cek))).equals(cek)).toBe(true);
  });

  it("wraps the RFC 3394 test vector (4.6, 256-bit KEK, 256-bit key data)", async () => {
    const kek = Buffer.from("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "hex");
    const keyData = Buffer.from("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "hex");
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: kek });
    const wrapped = await wrapper.wrapKey(keyData);
    expect(wrapped.encryptedKey.toString("hex").toUpperCase()).toBe(
      "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
    );
    expect(wrapper.keyId).toBe(sha256sumAesKeyId(kek));
  });

  it("reports a tampered or truncated AES-wrapped key as an integrity failure", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: raw });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    for (const encryptedKey of [
      flipByte(wrapped.encryptedKey, 0),
      flipByte(wrapped.encryptedKey, 39),
      wrapped.encryptedKey.subarray(0, 32),
    ]) {
      const error = await storageFailure(wrapper.unwrapKey({ ...wrapped, encryptedKey }));
      expect(error.code).toBe("integrity");
      expect(error.message).toBe(`the wrapped content key does not unwrap with key ${wrapper.keyId}`);
    }
    const rsaAlgorithm = await storageFailure(wrapper.unwrapKey({ ...wrapped, algorithm: "RSA-OAEP-256" }));
    expect(rsaAlgorithm.code).toBe("integrity");
  });

  it("refuses RSA algorithms for an AES key", async () => {
    const path = writeKeyFile(raw.toString("hex"));
    const error = await storageFailure(
      LocalKeyWrapper.fromFiles({ writeKeyFile: path, algorithm: "RSA-OAEP-256" }),
    );
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toBe(
      `Expected A256KW for the key wrapping algorithm of local key file ${path} (an AES key) but received RSA-OAEP-256`,
    );
  });

  it("never shows the key in its description", () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: raw.toString("base64") });
    expectNoContent(wrapper.description, [raw.toString("hex"), raw.toString("base64")]);
    expect(wrapper.description).toBe(`in-memory local key (aes, ${sha256sumAesKeyId(raw)}, A256KW)`);
  });
});

describe("LocalKeyWrapper key ids, rotation and trust", () => {
  it("computes the same id from private, public, secret and raw forms", () => {
    const pub = createPublicKey(rsa2048.privateKey).export({ type: "spki", format: "der" });
    expect(localKeyId(createPublicKey(rsa2048.privateKey))).toBe(localKeyId(rsa2048.privateKey));
    expect(localKeyId(rsa2048.privateKey)).toBe(`local:rsa:${sha256sumHex(pub).slice(0, 32)}`);
    const raw = randomBytes(32);
    expect(localKeyId(createSecretKey(raw))).toBe(localKeyId(raw));
    expect(localKeyId(raw)).toBe(sha256sumAesKeyId(raw));
    expect(() => localKeyId(randomBytes(16))).toThrow(StorageError);
  });

  it("keeps unwrapping with an old key listed in readOnlyKeyFiles, and wraps with the new one", async () => {
    const oldPath = writeKeyFile(rsa2048.pkcs8);
    const newAes = randomBytes(32);
    const newPath = writeKeyFile(newAes.toString("hex"));
    const before = await LocalKeyWrapper.fromFiles({ writeKeyFile: oldPath });
    const cek = randomBytes(32);
    const oldWrapped = await before.wrapKey(cek);

    const after = await LocalKeyWrapper.fromFiles({ writeKeyFile: newPath, readOnlyKeyFiles: [oldPath] });
    expect(after.keyId).toBe(sha256sumAesKeyId(newAes));
    expect(after.keyIds).toEqual([after.keyId, before.keyId]);
    expect(after.trusts(before.keyId)).toBe(true);
    expect(after.description).toBe(`local key file (aes, ${after.keyId}, A256KW, plus 1 read-only key)`);
    expect((await after.unwrapKey(oldWrapped)).equals(cek)).toBe(true);
    const newWrapped = await after.wrapKey(cek);
    expect(newWrapped.keyId).toBe(after.keyId);
    expect(newWrapped.algorithm).toBe("A256KW");

    // Without the old key listed, its blobs no longer unwrap.
    const withoutOld = await LocalKeyWrapper.fromFiles({ writeKeyFile: newPath });
    expect(withoutOld.trusts(before.keyId)).toBe(false);
    const error = await storageFailure(withoutOld.unwrapKey(oldWrapped));
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `no local key with id ${before.keyId} is configured (AzureBlobStorage.LocalKeyFile / LocalKeyFilesForReading)`,
    );
  });

  it("matches key ids exactly", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({
      writeKey: rsa2048.pkcs8,
      readOnlyKeys: [rsa2048b.pkcs1],
    });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    for (const keyId of [
      wrapped.keyId.toUpperCase(),
      `${wrapped.keyId} `,
      wrapped.keyId.slice(0, -1),
      "local:rsa:00000000000000000000000000000000",
    ]) {
      expect(wrapper.trusts(keyId)).toBe(false);
      const error = await storageFailure(wrapper.unwrapKey({ ...wrapped, keyId }));
      expect(error.code).toBe("unavailable");
      // A key id with a space is shown quoted (values from blobs are escaped before they are logged).
      const shown = keyId.includes(" ") ? `"${keyId}"` : keyId;
      expect(error.message).toBe(
        `no local key with id ${shown} is configured (AzureBlobStorage.LocalKeyFile / LocalKeyFilesForReading)`,
      );
    }
  });

  it("does not unwrap a key wrapped by another RSA key under a borrowed key id", async () => {
    const a = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsa2048.pkcs8 });
    const b = LocalKeyWrapper.fromKeyMaterial({ writeKey: rsa2048b.pkcs8 });
    const wrapped = await b.wrapKey(randomBytes(32));
    const error = await storageFailure(a.unwrapKey({ ...wrapped, keyId: a.keyId }));
    expect(error.code).toBe("integrity");
    const tampered = await storageFailure(
      b.unwrapKey({ ...wrapped, encryptedKey: flipByte(wrapped.encryptedKey, 100) }),
    );
    expect(tampered.code).toBe("integrity");
    expect(tampered.message).toBe(`the wrapped content key does not unwrap with key ${b.keyId}`);
  });

  it("lists a key given both as write key and read-only key once", () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({
      writeKey: rsa2048.pkcs8,
      readOnlyKeys: [rsa2048.pkcs1],
    });
    expect(wrapper.keyIds).toEqual([wrapper.keyId]);
  });

  it("returns each unwrapped key in a fresh buffer of its own", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });
    const cek = randomBytes(32);
    const wrapped = await wrapper.wrapKey(cek);
    const first = await wrapper.unwrapKey(wrapped);
    const second = await wrapper.unwrapKey(wrapped);
    expect(first).not.toBe(second);
    expect(first.buffer.byteLength).toBe(32);
    first.fill(0);
    expect(second.equals(cek)).toBe(true);
  });

  it("checks the content key and the abort signal", async () => {
    const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });
    expect((await storageFailure(wrapper.wrapKey(randomBytes(16)))).code).toBe("invalid-argument");
    const controller = new AbortController();
    controller.abort();
    const aborted = await storageFailure(
      wrapper.wrapKey(randomBytes(32), { abortSignal: controller.signal }),
    );
    expect(aborted.code).toBe("timeout");
  });
});

describe("LocalKeyWrapper refuses files that are not keys", () => {
  async function refusal(content: string | Buffer): Promise<{ path: string; message: string }> {
    const path = writeKeyFile(content);
    const error = await storageFailure(LocalKeyWrapper.fromFiles({ writeKeyFile: path }));
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toContain(path);
    return { path, message: error.message };
  }

  function corruptLine(pem: string, index: number): string {
    const line = pemBody(pem)[index] ?? "";
    const corrupted = pem.replace(line, line.replace(/[A-Za-z]/g, "A"));
    expect(corrupted).not.toBe(pem);
    return corrupted;
  }

  it("names the file and what was expected for a PEM key whose structure is corrupted, without echoing it", async () => {
    for (const pem of [rsa2048.pkcs8, rsa2048.pkcs1]) {
      const corrupted = corruptLine(pem, 0);
      const { message } = await refusal(corrupted);
      expect(message).toContain("expected an RSA private key in PEM");
      expect(message).toContain("AES-256 key");
      expect(message).toContain("does not decode");
      expectNoContent(message, pemBody(corrupted));
    }
  });

  it("refuses a PEM key that decodes but whose numbers are damaged (self-test), without echoing it", async () => {
    // Lines 1 to 4 hold the modulus: OpenSSL loads the key, but it no longer works.
    for (const pem of [rsa2048.pkcs8, rsa2048.pkcs1]) {
      const corrupted = corruptLine(pem, 3);
      const { message } = await refusal(corrupted);
      expect(message).toContain("fails a wrap/unwrap self-test");
      expectNoContent(message, pemBody(corrupted));
    }
  });

  it("names the file for a truncated PEM key, without echoing it", async () => {
    const truncated = rsa2048.pkcs1.slice(0, 400);
    const { message } = await refusal(truncated);
    expectNoContent(message, pemBody(truncated));
  });

  it("describes text that is neither PEM, hex nor base64 without echoing it", async () => {
    const secretText = "correct horse battery staple, a passphrase";
    const { message } = await refusal(secretText);
    expect(message).toContain("expected an RSA private key in PEM");
    expectNoContent(message, [secretText]);
  });

  it("refuses hex of the wrong length, saying how many digits it found", async () => {
    const hex = randomBytes(31).toString("hex");
    const { message } = await refusal(hex);
    expect(message).toContain("62 hex digits instead of 64");
    expectNoContent(message, [hex]);
  });

  it("refuses a key with one hex digit damaged", async () => {
    const hex = `${randomBytes(32).toString("hex").slice(0, 63)}g`;
    const { message } = await refusal(hex);
    expectNoContent(message, [hex]);
  });

  it("refuses base64 that does not encode exactly 32 bytes", async () => {
    for (const text of [
      randomBytes(31).toString("base64"),
      randomBytes(33).toString("base64"),
      `${randomBytes(32).toString("base64").slice(0, 43)}-`,
    ]) {
      const { message } = await refusal(text);
      expectNoContent(message, [text]);
    }
  });

  it("refuses an empty file and a file of whitespace", async () => {
    expect((await refusal("")).message).toContain("it is empty");
    expect((await refusal(" \n\t\n")).message).toContain("it is empty");
  });

  it("refuses public keys, EC keys and passphrase-protected keys, saying which", async () => {
    const publicPem = createPublicKey(rsa2048.privateKey).export({ type: "spki", format: "pem" }).toString();
    expect((await refusal(publicPem)).message).toContain("labelled PUBLIC KEY");

    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const ecPem = ec.export({ type: "pkcs8", format: "pem" }).toString();
    const ecRefusal = await refusal(ecPem);
    expect(ecRefusal.message).toContain("ec private key, not an RSA key");
    expectNoContent(ecRefusal.message, pemBody(ecPem));

    const encrypted = rsa2048.privateKey
      .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" })
      .toString();
    expect((await refusal(encrypted)).message).toContain("passphrase-protected");
  });

  it("names a missing file", async () => {
    const path = join(dir, "does-not-exist.pem");
    const error = await storageFailure(LocalKeyWrapper.fromFiles({ writeKeyFile: path }));
    expect(error.message).toBe(`cannot read local key file ${path}: ENOENT`);
  });

  it("names the read-only file that is wrong", async () => {
    const good = writeKeyFile(rsa2048.pkcs8);
    const bad = writeKeyFile("not a key");
    const error = await storageFailure(
      LocalKeyWrapper.fromFiles({ writeKeyFile: good, readOnlyKeyFiles: [bad] }),
    );
    expect(error.message).toContain(`local key file ${bad}:`);
  });

  it("refuses in-memory material that is not a key", () => {
    expect(() => LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(31) })).toThrow(
      "in-memory key (write key): expected the 32 raw bytes of an AES-256 key but received 31 bytes",
    );
    expect(() =>
      LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32), readOnlyKeys: ["nonsense"] }),
    ).toThrow("in-memory key (read-only key 1)");
  });
});
