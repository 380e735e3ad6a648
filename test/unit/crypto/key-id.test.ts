import { describe, expect, it } from "vitest";
import {
  MAX_KEY_ID_LENGTH,
  parseKeyId,
  parseVaultOrigin,
  parseVersionedKeyId,
} from "../../../src/crypto/key-id.ts";

const VAULT = "https://myvault.vault.azure.net";
const V1 = "0123456789abcdef0123456789abcdef";
const V2 = "fedcba9876543210fedcba9876543210";
const KEY = "orthanc-kek";

describe("parseKeyId", () => {
  it.each([
    ["https://v.vault.azure.net/keys/k", { vaultUrl: "https://v.vault.azure.net", keyName: "k" }],
    ["https://v.vault.azure.net/keys/k/", { vaultUrl: "https://v.vault.azure.net", keyName: "k" }],
    [
      "https://h.managedhsm.azure.net/keys/k/abc123",
      { vaultUrl: "https://h.managedhsm.azure.net", keyName: "k", keyVersion: "abc123" },
    ],
  ])("parses %s", (kid, expected) => {
    expect(parseKeyId(kid)).toEqual(expected);
  });

  it.each([
    "https://v.vault.azure.net/secrets/k",
    "https://v.vault.azure.net/keys/k/v/extra",
    "https://v.vault.azure.net/keys/k?x=1",
    "https://user:pw@v.vault.azure.net/keys/k",
    "https://v.vault.azure.net/keys/bad_name",
    "not a url",
  ])("refuses %s", (kid) => {
    expect(parseKeyId(kid)).toBeUndefined();
  });

  it("refuses http and a version that is not letters and digits", () => {
    expect(parseKeyId("http://v.vault.azure.net/keys/k")).toBeUndefined();
    expect(parseKeyId("https://v.vault.azure.net/keys/k/v-1")).toBeUndefined();
    expect(parseKeyId("https://v.vault.azure.net/keys/k#v")).toBeUndefined();
  });
});

describe("parseVersionedKeyId", () => {
  it("parses Key Vault and Managed HSM kids", () => {
    expect(parseVersionedKeyId(`${VAULT}/keys/${KEY}/${V1}`)).toEqual({
      vaultUrl: VAULT,
      keyName: KEY,
      keyVersion: V1,
    });
    expect(parseVersionedKeyId(`https://myhsm.managedhsm.azure.net/keys/k/${V2}`)).toEqual({
      vaultUrl: "https://myhsm.managedhsm.azure.net",
      keyName: "k",
      keyVersion: V2,
    });
    expect(parseVersionedKeyId(`https://127.0.0.1:8443/keys/k/${V1}`)?.vaultUrl).toBe(
      "https://127.0.0.1:8443",
    );
    expect(parseVersionedKeyId(`${VAULT}/keys/${"x".repeat(300)}/${V1}`)).toBeUndefined();
  });

  it.each([
    [`${VAULT}/keys/${KEY}`, "no version"],
    [`${VAULT}/keys/${KEY}/${V1}/`, "a trailing slash"],
    [`${VAULT}/keys/${KEY}/${V1}?api-version=7.4`, "a query"],
    [`${VAULT}/keys/${KEY}/${V1}#x`, "a fragment"],
    [`https://user@myvault.vault.azure.net/keys/${KEY}/${V1}`, "user info"],
    [`HTTPS://myvault.vault.azure.net/keys/${KEY}/${V1}`, "an upper-case scheme"],
    [`${VAULT}/keys/./${KEY}/${V1}`, "a dot segment"],
    [`${VAULT}/keys/${KEY}/${V1}/extra`, "an extra segment"],
    [` ${VAULT}/keys/${KEY}/${V1}`, "a leading space"],
    [`http://myvault.vault.azure.net/keys/${KEY}/${V1}`, "http"],
  ])("refuses %s (%s)", (kid) => {
    expect(parseVersionedKeyId(kid)).toBeUndefined();
  });

  it(`refuses a key id longer than ${MAX_KEY_ID_LENGTH} characters`, () => {
    const host = `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(40)}.vault.azure.net`;
    const atLimit = `https://${host}/keys/${"k".repeat(MAX_KEY_ID_LENGTH - host.length - 15 - 32)}/${V1}`;
    expect(atLimit).toHaveLength(MAX_KEY_ID_LENGTH);
    expect(parseVersionedKeyId(atLimit)?.keyVersion).toBe(V1);
    const longer = atLimit.replace("/keys/k", "/keys/kk");
    expect(parseVersionedKeyId(longer)).toBeUndefined();
    expect(parseKeyId(longer)?.keyVersion).toBe(V1);
  });
});

describe("parseVaultOrigin", () => {
  it.each([
    [VAULT, VAULT],
    [`${VAULT}/`, VAULT],
    ["https://MyVault.Vault.Azure.Net:443", VAULT],
    ["https://127.0.0.1:8443", "https://127.0.0.1:8443"],
  ])("reads %s as %s", (url, origin) => {
    expect(parseVaultOrigin(url)).toBe(origin);
  });

  it.each([
    "http://myvault.vault.azure.net",
    `${VAULT}/keys`,
    `${VAULT}/?x=1`,
    `${VAULT}#x`,
    "https://user:pw@myvault.vault.azure.net",
    "myvault.vault.azure.net",
  ])("refuses %s", (url) => {
    expect(parseVaultOrigin(url)).toBeUndefined();
  });
});
