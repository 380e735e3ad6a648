import { describe, expect, it } from "vitest";
import { parseKeyVaultSection } from "../../../src/config/key-vault.ts";

const PATH = "AzureBlobStorage.AzureKeyVault";
const SECRET = "kv-s3cr3t-never-shown";
const CLIENT_ID = "0f0e0d0c-0b0a-0908-0706-050403020100";
const VAULT = "https://contoso.vault.azure.net";

function parse(section: unknown): { result: ReturnType<typeof parseKeyVaultSection>; issues: string[] } {
  const issues: string[] = [];
  const result = parseKeyVaultSection(section, PATH, issues);
  return { result, issues };
}

describe("the old plugin's AzureKeyVault section", () => {
  it("works as it is: baseUrl + key name + clientId + clientSecret, tenant left to the vault's challenge", () => {
    const { result, issues } = parse({
      baseUrl: VAULT,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      kid: "orthanc",
    });
    expect(issues).toEqual([]);
    expect(result).toEqual({
      vaultUrl: VAULT,
      keyName: "orthanc",
      algorithm: "RSA-OAEP-256",
      credential: { kind: "client-secret", clientId: CLIENT_ID, clientSecret: SECRET },
      trustedKeys: [{ vaultUrl: VAULT, keyName: "orthanc" }],
      keyRefreshMs: 300_000,
      maxConcurrentRequests: 8,
    });
  });

  it("accepts a full key id, and pins the version when it has one", () => {
    const unversioned = parse({ kid: `${VAULT}/keys/orthanc`, clientId: CLIENT_ID, clientSecret: SECRET });
    expect(unversioned.result?.keyVersion).toBeUndefined();
    const versioned = parse({ kid: `${VAULT}/keys/orthanc/0123456789abcdef0123456789abcdef` });
    expect(versioned.issues).toEqual([]);
    expect(versioned.result).toMatchObject({
      vaultUrl: VAULT,
      keyName: "orthanc",
      keyVersion: "0123456789abcdef0123456789abcdef",
    });
  });
});

describe("credentials", () => {
  it("without a secret, uses the credential chain; clientId selects a user-assigned identity", () => {
    expect(parse({ kid: `${VAULT}/keys/k` }).result?.credential).toEqual({ kind: "chain" });
    expect(parse({ kid: `${VAULT}/keys/k`, clientId: CLIENT_ID }).result?.credential).toEqual({
      kind: "chain",
      managedIdentityClientId: CLIENT_ID,
    });
  });

  it("keeps an explicit tenantId", () => {
    const { result } = parse({
      kid: `${VAULT}/keys/k`,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      tenantId: CLIENT_ID,
    });
    expect(result?.credential).toEqual({
      kind: "client-secret",
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      tenantId: CLIENT_ID,
    });
  });

  it.each([
    [
      { clientSecret: SECRET },
      `Expected ${PATH}.clientId together with ${PATH}.clientSecret but received no clientId`,
    ],
    [
      { clientId: "app", clientSecret: SECRET },
      `Expected a client id (GUID) for ${PATH}.clientId but received a string of 3 characters that is not a GUID`,
    ],
    [
      { tenantId: "not a tenant!" },
      `Expected a tenant id (GUID or domain) for ${PATH}.tenantId but received a string of 13 characters that is not a GUID or a domain name`,
    ],
    [
      { tenantId: "-contoso.onmicrosoft.com" },
      `Expected a tenant id (GUID or domain) for ${PATH}.tenantId but received a string of 24 characters that is not a GUID or a domain name`,
    ],
  ])("rejects %j", (extra, message) => {
    const { issues } = parse({ kid: `${VAULT}/keys/k`, ...extra });
    expect(issues).toEqual([message]);
    expect(issues.join()).not.toContain(SECRET);
  });

  it.each(["clientId", "tenantId"])("never shows a client secret pasted into %s", (key) => {
    const pasted = "Xq8Q~abcDEFghiJKLmnoPQRstuVWXyz012345678";
    const { result, issues } = parse({ kid: `${VAULT}/keys/k`, clientSecret: SECRET, [key]: pasted });
    expect(result).toBeUndefined();
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(`${PATH}.${key} but received a string of 40 characters that is not a GUID`);
    for (const fragment of [pasted, pasted.slice(0, 10), pasted.slice(-10), "Xq8Q~"]) {
      expect(issues.join("\n")).not.toContain(fragment);
    }
  });
});

describe("the key and its vault", () => {
  it.each([
    [
      {},
      `Expected a Key Vault key id (https://<vault>/keys/<name>[/<version>]) or a key name with baseUrl for ${PATH}.kid but received nothing`,
    ],
    [{ kid: "orthanc" }, `Expected ${PATH}.baseUrl when ${PATH}.kid is a key name but received none`],
    [
      { kid: "http://contoso.vault.azure.net/keys/k" },
      `Expected a Key Vault key id (https://<vault>/keys/<name>[/<version>]) or a key name with baseUrl for ${PATH}.kid but received "http://contoso.vault.azure.net/keys/k" (a string)`,
    ],
    [
      { kid: "k", baseUrl: "http://contoso.vault.azure.net" },
      `Expected an https URL of a vault (no path) for ${PATH}.baseUrl but received "http://contoso.vault.azure.net" (a string)`,
    ],
    [
      { kid: "https://other.vault.azure.net/keys/k", baseUrl: VAULT },
      `Expected ${PATH}.kid to be in the vault of ${PATH}.baseUrl (${VAULT}) but received a key in https://other.vault.azure.net`,
    ],
    [
      { kid: "https://127.0.0.1:8443/keys/k" },
      `Expected a real vault for ${PATH}.kid but received a loopback address; a local emulator needs ${PATH}.emulator`,
    ],
    [
      { kid: `${VAULT}/keys/k`, algorithm: "RSA1_5" },
      `Expected one of "RSA-OAEP-256", "RSA-OAEP", "A256KW" for ${PATH}.algorithm but received "RSA1_5" (a string)`,
    ],
    [
      { kid: `${VAULT}/keys/k`, trustedKeyIds: [`${VAULT}/keys/old/0123`] },
      `Expected an array of unversioned key ids (https://<vault>/keys/<name>) for ${PATH}.trustedKeyIds but received an array`,
    ],
    [
      { kid: `${VAULT}/keys/k`, keyRefreshSeconds: 0 },
      `Expected a number from 1 to 86400 for ${PATH}.keyRefreshSeconds but received 0`,
    ],
  ])("rejects %j", (section, message) => {
    expect(parse(section).issues).toEqual([message]);
  });

  it("trusts the configured key plus trustedKeyIds, for rotations across keys or vaults", () => {
    const { result } = parse({
      kid: `${VAULT}/keys/new`,
      trustedKeyIds: ["https://old.vault.azure.net/keys/old", `${VAULT}/keys/new`],
    });
    expect(result?.trustedKeys).toEqual([
      { vaultUrl: VAULT, keyName: "new" },
      { vaultUrl: "https://old.vault.azure.net", keyName: "old" },
    ]);
  });
});

describe("emulator mode (explicit, loopback only)", () => {
  const emulator = { caFile: "/tmp/ca.pem", authorityHost: "https://127.0.0.1:9443" };

  it("accepts trusted keys in other loopback vaults", () => {
    const { issues } = parse({
      kid: "https://127.0.0.1:8443/keys/k",
      emulator,
      trustedKeyIds: ["https://localhost:9444/keys/old"],
    });
    expect(issues).toEqual([]);
  });

  it("is the only way to use a loopback vault", () => {
    const { result, issues } = parse({ kid: "https://127.0.0.1:8443/keys/k", emulator });
    expect(issues).toEqual([]);
    expect(result?.emulator).toEqual(emulator);
  });

  it.each([
    [
      { kid: `${VAULT}/keys/k`, emulator },
      `Expected a 127.0.0.1/localhost vault with ${PATH}.emulator but received ${VAULT}`,
    ],
    [
      {
        kid: "https://127.0.0.1:8443/keys/k",
        emulator: { caFile: "/ca.pem", authorityHost: "https://login.microsoftonline.com" },
      },
      `Expected an https URL on 127.0.0.1 or localhost for ${PATH}.emulator.authorityHost but received "https://login.microsoftonline.com" (a string)`,
    ],
    [
      { kid: "https://127.0.0.1:8443/keys/k", emulator: { authorityHost: "https://127.0.0.1:9443" } },
      `Expected a CA certificate file for ${PATH}.emulator.caFile but received none`,
    ],
    [
      {
        kid: "https://127.0.0.1:8443/keys/k",
        emulator,
        trustedKeyIds: ["https://localhost:8443/keys/old", `${VAULT}/keys/k`],
      },
      `Expected only 127.0.0.1/localhost vaults in ${PATH}.trustedKeyIds with ${PATH}.emulator but received ${VAULT}`,
    ],
  ])("rejects %j", (section, message) => {
    expect(parse(section).issues).toContain(message);
  });
});
