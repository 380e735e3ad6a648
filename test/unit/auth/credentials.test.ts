import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChainedTokenCredential, ClientSecretCredential } from "@azure/identity";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createTokenCredential,
  discoverTenantFromChallenge,
  tenantFromChallenge,
} from "../../../src/auth/credentials.ts";
import { storageFailure } from "../../support/assertions.ts";
import { recordingLogger } from "../../support/recording-logger.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SECRET = "Sup3r~Secret.Value_123";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let dir = "";
let caPem = "";
let server: Server;
let vaultUrl = "";
let handler: Handler = (_req, res) => res.end();
const seen: Array<{
  method: string | undefined;
  url: string | undefined;
  authorization: string | undefined;
}> = [];

beforeAll(async () => {
  // A throwaway self-signed certificate for 127.0.0.1, which the tests pass as the trusted CA.
  dir = mkdtempSync(join(tmpdir(), "credentials-test-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
    ],
    { stdio: "ignore" },
  );
  caPem = readFileSync(join(dir, "cert.pem"), "utf8");
  server = createServer({ cert: caPem, key: readFileSync(join(dir, "key.pem")) }, (req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  vaultUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen.length = 0;
});

function challenge(header: string | undefined, status = 401): Handler {
  return (_req, res) => {
    res.writeHead(status, {
      "content-type": "application/json",
      ...(header === undefined ? {} : { "www-authenticate": header }),
    });
    res.end(
      JSON.stringify({
        error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer token." },
      }),
    );
  };
}

describe("discoverTenantFromChallenge", () => {
  it.each([
    [
      `Bearer authorization="https://login.windows.net/${TENANT}", resource="https://vault.azure.net"`,
      TENANT,
    ],
    [
      `Bearer authorization_uri="https://login.microsoftonline.com/${TENANT}/", resource="https://vault.azure.net"`,
      TENANT,
    ],
    [
      `Bearer resource="https://vault.azure.net", authorization="https://login.microsoftonline.com/contoso.onmicrosoft.com"`,
      "contoso.onmicrosoft.com",
    ],
    [
      `Bearer authorization=https://login.windows.net/${TENANT}, scope=https://vault.azure.net/.default`,
      TENANT,
    ],
    [
      `Bearer authorization="${"https://127.0.0.1:8443/"}emulator-tenant", resource="https://vault.azure.net"`,
      "emulator-tenant",
    ],
  ])("reads the tenant from %s", async (header, tenant) => {
    handler = challenge(header);
    await expect(discoverTenantFromChallenge(vaultUrl, { caPem })).resolves.toBe(tenant);
    expect(seen).toEqual([{ method: "GET", url: "/keys?api-version=7.4", authorization: undefined }]);
  });

  it("ignores a trailing slash on the vault URL", async () => {
    handler = challenge(`Bearer authorization="https://login.windows.net/${TENANT}"`);
    await expect(discoverTenantFromChallenge(`${vaultUrl}/`, { caPem })).resolves.toBe(TENANT);
    expect(seen[0]?.url).toBe("/keys?api-version=7.4");
  });

  it.each([
    [
      "a non-401 answer",
      challenge(undefined, 200),
      "expected HTTP 401 with an authentication challenge but received HTTP 200",
    ],
    [
      "a 403",
      challenge(`Bearer authorization="https://login.windows.net/${TENANT}"`, 403),
      "received HTTP 403",
    ],
    ["a 401 without a challenge", challenge(undefined), "has no WWW-Authenticate challenge"],
    [
      "a challenge without authorization",
      challenge('Bearer realm="", resource="https://vault.azure.net"'),
      "no authorization URL",
    ],
    [
      "an authorization URL without a path",
      challenge('Bearer authorization="https://login.windows.net"'),
      "no authorization URL",
    ],
    [
      "an http authorization URL",
      challenge(`Bearer authorization="http://login.windows.net/${TENANT}"`),
      "no authorization URL",
    ],
    [
      "a tenant with odd characters",
      challenge('Bearer authorization="https://login.windows.net/a%20b"'),
      "no authorization URL",
    ],
  ])("refuses %s with a clear error", async (_label, respond, reason) => {
    handler = respond;
    const error = await storageFailure(discoverTenantFromChallenge(vaultUrl, { caPem }));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain(`cannot discover the Key Vault tenant from ${vaultUrl}`);
    expect(error.message).toContain(reason);
    expect(error.message).toContain("AzureBlobStorage.AzureKeyVault.tenantId");
    expect(error.message).not.toMatch(/[\r\n]/);
  });

  it("gives up after the timeout", async () => {
    handler = () => {};
    const started = Date.now();
    const error = await storageFailure(discoverTenantFromChallenge(vaultUrl, { caPem, timeoutMs: 200 }));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("no answer within 200 ms");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("does not trust the emulator's certificate without its CA", async () => {
    handler = challenge(`Bearer authorization="https://login.windows.net/${TENANT}"`);
    const error = await storageFailure(discoverTenantFromChallenge(vaultUrl));
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(/SELF_SIGNED|self-signed|DEPTH_ZERO/i);
  });

  it.each([
    ["plain http", "http://127.0.0.1:1"],
    ["user info", "https://user:pass@myvault.vault.azure.net"],
    ["not a URL", "myvault"],
  ])("refuses a vault URL with %s before sending anything", async (_label, url) => {
    const error = await storageFailure(discoverTenantFromChallenge(url, { caPem }));
    expect(error.code).toBe("invalid-argument");
    expect(error.message).not.toContain("pass");
    expect(seen).toHaveLength(0);
  });
});

describe("tenantFromChallenge", () => {
  it("parses quoted and unquoted parameters, case-insensitively", () => {
    expect(tenantFromChallenge(`Bearer Authorization="https://login.windows.net/${TENANT}"`)).toBe(TENANT);
    expect(tenantFromChallenge(`Bearer authorization=https://login.windows.net/${TENANT}`)).toBe(TENANT);
    expect(
      tenantFromChallenge(`Bearer realm="x", authorization_uri="https://login.windows.net/${TENANT}"`),
    ).toBe(TENANT);
    expect(tenantFromChallenge('Bearer resource="https://vault.azure.net"')).toBeUndefined();
    expect(tenantFromChallenge('Bearer authorization="not a url"')).toBeUndefined();
  });
});

describe("createTokenCredential", () => {
  it("discovers a missing tenant from the vault's challenge and logs it", async () => {
    handler = challenge(`Bearer authorization="${vaultUrl}/${TENANT}", resource="https://vault.azure.net"`);
    const logger = recordingLogger();
    const credential = await createTokenCredential(
      { kind: "client-secret", clientId: "app-id", clientSecret: SECRET },
      { vaultUrlForTenantDiscovery: vaultUrl, emulator: { authorityHost: vaultUrl, caPem }, logger },
    );
    expect(credential).toBeInstanceOf(ClientSecretCredential);
    expect(logger.lines).toEqual([
      `info: Key Vault tenant discovered from its authentication challenge: ${TENANT}`,
    ]);
    expect(seen).toHaveLength(1);
  });

  it("sends nothing when the tenant is configured", async () => {
    const credential = await createTokenCredential(
      { kind: "client-secret", tenantId: TENANT, clientId: "app-id", clientSecret: SECRET },
      { vaultUrlForTenantDiscovery: vaultUrl },
    );
    expect(credential).toBeInstanceOf(ClientSecretCredential);
    expect(seen).toHaveLength(0);
  });

  it("needs a tenant or a vault to discover it from", async () => {
    const error = await storageFailure(
      createTokenCredential({ kind: "client-secret", clientId: "app-id", clientSecret: SECRET }, {}),
    );
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toContain("AzureBlobStorage.AzureKeyVault.tenantId");
    expect(error.message).not.toContain(SECRET);
  });

  it("refuses a malformed tenant id without echoing the secret", async () => {
    const error = await storageFailure(
      createTokenCredential({
        kind: "client-secret",
        tenantId: "a/b",
        clientId: "app-id",
        clientSecret: SECRET,
      }),
    );
    expect(error.code).toBe("invalid-argument");
    expect(error.message).not.toContain(SECRET);
  });

  it("describes a tenant id it refuses by its shape, never its content", async () => {
    // Starts with "-": passes a looser check, but is no tenant id, and may well be a secret.
    const pasted = "-Q8~Sup3rSecretValueNeverShown0123456789";
    const error = await storageFailure(
      createTokenCredential({
        kind: "client-secret",
        tenantId: pasted,
        clientId: "app-id",
        clientSecret: SECRET,
      }),
    );
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toBe(
      `Expected a tenant id (a GUID or a domain name) but received a string of ${pasted.length} characters that is not a GUID or a domain name`,
    );
    expect(error.message).not.toContain("Sup3rSecret");
  });

  it("refuses an http emulator authority", async () => {
    const error = await storageFailure(
      createTokenCredential(
        { kind: "client-secret", tenantId: TENANT, clientId: "app-id", clientSecret: SECRET },
        { emulator: { authorityHost: "http://127.0.0.1:1", caPem } },
      ),
    );
    expect(error.code).toBe("invalid-argument");
  });

  it("builds the environment / workload / managed identity chain without any request", async () => {
    const credential = await createTokenCredential({
      kind: "chain",
      managedIdentityClientId: "mi-client-id",
    });
    expect(credential).toBeInstanceOf(ChainedTokenCredential);
    expect(seen).toHaveLength(0);
  });
});
