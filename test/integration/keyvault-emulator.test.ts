/**
 * The real @azure/identity and @azure/keyvault-keys against the local Key Vault / Entra / managed
 * identity emulator (tools/keyvault-emulator). Trust in the throwaway CA goes through pipeline
 * options (tlsOptions or an https.Agent), never NODE_EXTRA_CA_CERTS.
 */
import { constants, createPublicKey, publicEncrypt, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRestError, type RestError } from "@azure/core-rest-pipeline";
import {
  AuthenticationRequiredError,
  ClientSecretCredential,
  type ClientSecretCredentialOptions,
  CredentialUnavailableError,
  ManagedIdentityCredential,
  type TokenCredential,
} from "@azure/identity";
import {
  CryptographyClient,
  type CryptographyClientOptions,
  KeyClient,
  type KeyVaultKey,
} from "@azure/keyvault-keys";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type KeyVaultEmulator, startKeyVaultEmulator } from "../../tools/keyvault-emulator/emulator.ts";

const VAULT_SCOPE = "https://vault.azure.net/.default";
const MI_CLIENT_ID = "3f1d2c4b-5a69-4e78-9b0a-1c2d3e4f5a6b";

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain request (no SDK) to one of the emulator's listeners. */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    const request = send(
      target,
      {
        method: options.method ?? "GET",
        headers: options.headers ?? {},
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(options.body);
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

async function restFailure(promise: Promise<unknown>): Promise<RestError> {
  const error = await rejection(promise);
  expect(isRestError(error)).toBe(true);
  return error as RestError;
}

function keyName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

describe("Key Vault emulator with the real Azure SDKs", () => {
  let directory: string;
  let stateFile: string;
  let workDir: string;
  let emulator: KeyVaultEmulator;
  /** The pipeline option that makes the SDKs trust the emulator's CA. */
  let tls: { tlsOptions: { ca: string } };
  let credential: ClientSecretCredential;

  const credentialOptions = (extra: ClientSecretCredentialOptions = {}): ClientSecretCredentialOptions => ({
    authorityHost: emulator.authorityHost,
    disableInstanceDiscovery: true,
    ...tls,
    ...extra,
  });
  const newCredential = (
    secret?: string,
    extra: ClientSecretCredentialOptions = {},
  ): ClientSecretCredential => {
    const client = emulator.clients[0];
    if (client === undefined) throw new Error("no client");
    return new ClientSecretCredential(
      emulator.tenantId,
      client.clientId,
      secret ?? client.clientSecret,
      credentialOptions(extra),
    );
  };
  const clientOptions = (extra: CryptographyClientOptions = {}): CryptographyClientOptions => ({
    disableChallengeResourceVerification: true,
    ...tls,
    ...extra,
  });
  const keyClient = (cred: TokenCredential = credential, extra: CryptographyClientOptions = {}): KeyClient =>
    new KeyClient(emulator.vaultUrl, cred, clientOptions(extra));
  const cryptoClient = (
    kid: string,
    cred: TokenCredential = credential,
    extra: CryptographyClientOptions = {},
  ): CryptographyClient => new CryptographyClient(kid, cred, clientOptions(extra));
  const unversioned = (kid: string): string => kid.replace(/\/[0-9a-f]{32}$/, "");
  const versionOf = (kid: string): string => kid.slice(kid.lastIndexOf("/") + 1);

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), "kv-emulator-test-"));
    stateFile = join(directory, "state.json");
    workDir = join(directory, "work");
    emulator = await startKeyVaultEmulator({
      stateFile,
      workDir,
      managedIdentity: { clientIds: [MI_CLIENT_ID] },
    });
    tls = { tlsOptions: { ca: emulator.caPem } };
    credential = newCredential();
  });

  afterAll(async () => {
    await emulator?.dispose();
    if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  });

  beforeEach(() => {
    emulator.faults.forbidGet = false;
    emulator.faults.latencyMs = 0;
    emulator.faults.throttle.remaining = 0;
    emulator.faults.throttle.retryAfterSeconds = 1;
    emulator.resetStats();
  });

  it("serves the listeners on loopback with a certificate chained to the throwaway CA", async () => {
    expect(emulator.vaultUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator.authorityHost).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(emulator.identityEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/msi\/token$/);
    expect(emulator.caPem).toContain("BEGIN CERTIFICATE");
    const discovery = await raw(
      `${emulator.authorityHost}/${emulator.tenantId}/v2.0/.well-known/openid-configuration`,
      { ca: emulator.caPem },
    );
    expect(discovery.status).toBe(200);
    const document = JSON.parse(discovery.body) as Record<string, string>;
    for (const field of ["token_endpoint", "authorization_endpoint", "issuer", "jwks_uri"]) {
      expect(document[field]?.startsWith(`${emulator.authorityHost}/${emulator.tenantId}/`)).toBe(true);
    }
    const jwks = await raw(document.jwks_uri ?? "", { ca: emulator.caPem });
    expect(JSON.parse(jwks.body)).toEqual({ keys: [] });
    const unknownTenant = await raw(
      `${emulator.authorityHost}/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration`,
      { ca: emulator.caPem },
    );
    expect(unknownTenant.status).toBe(400);
    expect(unknownTenant.body).toContain("AADSTS90002");
    const instance = await raw(`${emulator.authorityHost}/common/discovery/instance?api-version=1.1`, {
      ca: emulator.caPem,
    });
    expect(instance.status).toBe(200);
  });

  it("refuses the emulator's certificate when the client is not told about the CA", async () => {
    const untrusting = new ClientSecretCredential(
      emulator.tenantId,
      emulator.clients[0]?.clientId ?? "",
      emulator.clients[0]?.clientSecret ?? "",
      {
        authorityHost: emulator.authorityHost,
        disableInstanceDiscovery: true,
        retryOptions: { maxRetries: 0 },
      },
    );
    const error = await rejection(untrusting.getToken(VAULT_SCOPE));
    expect(error).toBeInstanceOf(CredentialUnavailableError);
    expect(emulator.stats().token ?? 0).toBe(0);
  });

  it("answers the first, unauthenticated request with the challenge, before reading any body", async () => {
    const name = keyName("challenge");
    const { kid } = emulator.createKey(name);
    const response = await raw(`${kid}/unwrapkey?api-version=7.4`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ alg: "RSA-OAEP", value: "AAAA" }),
      ca: emulator.caPem,
    });
    expect(response.status).toBe(401);
    expect(response.headers["www-authenticate"]).toBe(
      `Bearer authorization="${emulator.authorityHost}/${emulator.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: "Unauthorized" } });
    expect(emulator.stats()).toEqual({ challenge: 1 });
  });

  it("gets a key, latest and by version, with public parts only", async () => {
    const name = keyName("rsa");
    const first = emulator.createKey(name).kid;
    const second = emulator.rotateKey(name).kid;
    expect(second).not.toBe(first);
    expect(first.startsWith(`${emulator.vaultUrl}/keys/${name}/`)).toBe(true);
    const keys = keyClient();

    const latest = await keys.getKey(name);
    expect(latest.id).toBe(second);
    expect(latest.keyType).toBe("RSA");
    expect(latest.keyOperations).toEqual(["wrapKey", "unwrapKey", "encrypt", "decrypt"]);
    expect(latest.key?.n?.length).toBe(256);
    expect(latest.key?.d).toBeUndefined();
    expect(latest.properties.enabled).toBe(true);

    const old = await keys.getKey(name, { version: versionOf(first) });
    expect(old.id).toBe(first);
    expect(Buffer.from(old.key?.n ?? []).equals(Buffer.from(latest.key?.n ?? []))).toBe(false);

    const missing = await restFailure(keys.getKey(keyName("missing")));
    expect(missing.statusCode).toBe(404);
    expect(missing.code).toBe("KeyNotFound");
    // one challenge for the client, one token for the credential, then the GETs
    expect(emulator.stats()).toMatchObject({ challenge: 1, "get-key": 3, "not-found": 1 });
  });

  it("creates, rotates and updates keys through KeyClient", async () => {
    const keys = keyClient();
    const name = keyName("sdk");
    const created = await keys.createRsaKey(name, { keySize: 3072 });
    expect(created.key?.n?.length).toBe(384);
    const rotated = await keys.rotateKey(name);
    expect(rotated.properties.version).not.toBe(created.properties.version);
    expect(rotated.key?.n?.length).toBe(384);
    const expiresOn = new Date(Math.floor(Date.now() / 1000 + 3600) * 1000);
    const updated = await keys.updateKeyProperties(name, rotated.properties.version ?? "", { expiresOn });
    expect(updated.properties.expiresOn?.getTime()).toBe(expiresOn.getTime());
    expect(emulator.latestKid(name)).toBe(rotated.id);
    const aes = await keys.createOctKey(keyName("aes"), { hsm: true, keySize: 256 });
    expect(aes.keyType).toBe("oct-HSM");
    expect(aes.key?.k).toBeUndefined();
    expect(emulator.stats()).toMatchObject({ create: 2, rotate: 1, update: 1 });
  });

  it("wraps locally and unwraps remotely with RSA-OAEP", async () => {
    const name = keyName("oaep");
    const { kid } = emulator.createKey(name);
    const cek = randomBytes(32);
    const client = cryptoClient(unversioned(kid));
    const wrapped = await client.wrapKey("RSA-OAEP", cek);
    expect(wrapped.keyID).toBe(kid);
    expect(emulator.stats().wrapkey ?? 0).toBe(0);
    const unwrapped = await client.unwrapKey("RSA-OAEP", wrapped.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    expect(unwrapped.keyID).toBe(kid);
    expect(emulator.stats()).toMatchObject({ "get-key": 1, unwrapkey: 1 });
  });

  it("round-trips RSA-OAEP-256 with a versioned kid (remote wrap and unwrap)", async () => {
    const { kid } = emulator.createKey(keyName("oaep256"));
    const cek = randomBytes(32);
    const client = cryptoClient(kid);
    const wrapped = await client.wrapKey("RSA-OAEP-256", cek);
    expect(wrapped.keyID).toBe(kid);
    expect(wrapped.result.length).toBe(256);
    const unwrapped = await client.unwrapKey("RSA-OAEP-256", wrapped.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    expect(emulator.stats()).toMatchObject({ challenge: 1, "get-key": 1, wrapkey: 1, unwrapkey: 1 });
  });

  it("round-trips A256KW with an oct-HSM key", async () => {
    const { kid } = emulator.createKey(keyName("aeskw"), { kty: "oct-HSM", size: 256 });
    const cek = randomBytes(32);
    const client = cryptoClient(kid);
    const wrapped = await client.wrapKey("A256KW", cek);
    expect(wrapped.result.length).toBe(40);
    expect(wrapped.keyID).toBe(kid);
    const unwrapped = await client.unwrapKey("A256KW", wrapped.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    const tampered = Buffer.from(wrapped.result);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    const integrity = await restFailure(client.unwrapKey("A256KW", tampered));
    expect(integrity.statusCode).toBe(400);
    const wrongSize = await restFailure(client.wrapKey("A128KW", cek));
    expect(wrongSize.statusCode).toBe(400);
    expect(wrongSize.code).toBe("BadParameter");
  });

  it("refuses RSA1_5 with 400 BadParameter", async () => {
    const { kid } = emulator.createKey(keyName("rsa15"));
    const error = await restFailure(cryptoClient(kid).unwrapKey("RSA1_5", randomBytes(256)));
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe("BadParameter");
  });

  it("unwraps a CEK wrapped locally with node:crypto RSA-OAEP-256 and the fetched JWK", async () => {
    const name = keyName("local");
    const { kid } = emulator.createKey(name);
    const key: KeyVaultKey = await keyClient().getKey(name);
    const jwk = {
      kty: "RSA",
      n: Buffer.from(key.key?.n ?? []).toString("base64url"),
      e: Buffer.from(key.key?.e ?? []).toString("base64url"),
    };
    const cek = randomBytes(32);
    const wrapped = publicEncrypt(
      {
        key: createPublicKey({ key: jwk, format: "jwk" }),
        oaepHash: "sha256",
        padding: constants.RSA_PKCS1_OAEP_PADDING,
      },
      cek,
    );
    const unwrapped = await cryptoClient(kid).unwrapKey("RSA-OAEP-256", wrapped);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
  });

  it("keeps old versions usable after rotation through their versioned kid", async () => {
    const name = keyName("rotate");
    const { kid: v1 } = emulator.createKey(name);
    const cek = randomBytes(32);
    const oldClient = cryptoClient(v1);
    const wrappedBefore = await oldClient.wrapKey("RSA-OAEP-256", cek);

    const { kid: v2 } = emulator.rotateKey(name);
    expect(v2).not.toBe(v1);
    const latestClient = cryptoClient(unversioned(v1));
    // A new unversioned client unwraps against the latest version: the old CEK fails.
    const wrongVersion = await restFailure(latestClient.unwrapKey("RSA-OAEP-256", wrappedBefore.result));
    expect(wrongVersion.statusCode).toBe(400);
    // A client built from the stored versioned kid still works.
    const unwrapped = await cryptoClient(v1).unwrapKey("RSA-OAEP-256", wrappedBefore.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    // Wraps by the new unversioned client use the new version.
    const wrappedAfter = await latestClient.wrapKey("RSA-OAEP-256", cek);
    expect(wrappedAfter.keyID).toBe(v2);
    // The long-lived client keeps its cached old key.
    const stale = await oldClient.wrapKey("RSA-OAEP-256", cek);
    expect(stale.keyID).toBe(v1);
  });

  it("falls back to remote-only operations when GET is forbidden", async () => {
    const name = keyName("noget");
    const { kid } = emulator.createKey(name);
    const cek = randomBytes(32);
    const wrapped = await cryptoClient(kid).wrapKey("RSA-OAEP-256", cek);
    emulator.resetStats();
    emulator.faults.forbidGet = true;

    const direct = await restFailure(keyClient().getKey(name));
    expect(direct.statusCode).toBe(403);
    expect(direct.code).toBe("Forbidden");

    const client = cryptoClient(unversioned(kid));
    const unwrapped = await client.unwrapKey("RSA-OAEP-256", wrapped.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    // Without keys/get the result carries the id the client was built with.
    expect(unwrapped.keyID).toBe(unversioned(kid));
    const rewrapped = await client.wrapKey("RSA-OAEP", cek);
    expect(rewrapped.keyID).toBe(unversioned(kid));
    expect(emulator.stats()).toMatchObject({ "get-key": 2, forbidden: 2, unwrapkey: 1, wrapkey: 1 });
  });

  it("retries a 429 after Retry-After and then succeeds", async () => {
    const { kid } = emulator.createKey(keyName("throttle"));
    const client = cryptoClient(kid);
    const cek = randomBytes(32);
    const wrapped = await client.wrapKey("RSA-OAEP-256", cek);
    emulator.resetStats();
    emulator.faults.throttle.remaining = 1;
    emulator.faults.throttle.retryAfterSeconds = 1;
    const started = Date.now();
    const unwrapped = await client.unwrapKey("RSA-OAEP-256", wrapped.result);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    expect(emulator.stats()).toEqual({ throttled: 1, unwrapkey: 1 });
    expect(emulator.faults.throttle.remaining).toBe(0);
  });

  it("adds latency to vault responses", async () => {
    const { kid } = emulator.createKey(keyName("slow"));
    const client = cryptoClient(kid);
    const wrapped = await client.wrapKey("RSA-OAEP", randomBytes(32));
    emulator.faults.latencyMs = 300;
    const started = Date.now();
    await client.unwrapKey("RSA-OAEP", wrapped.result);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it("refuses a disabled version; outside its validity window a version still unwraps but never wraps", async () => {
    const { kid } = emulator.createKey(keyName("disabled"));
    const cek = randomBytes(32);
    const wrapped = await cryptoClient(kid).wrapKey("RSA-OAEP-256", cek);

    emulator.setKeyAttributes(kid, { enabled: false });
    const disabled = await restFailure(cryptoClient(kid).unwrapKey("RSA-OAEP-256", wrapped.result));
    expect(disabled.statusCode).toBe(403);
    expect(disabled.code).toBe("Forbidden");
    expect(disabled.message).toContain("disabled");

    emulator.setKeyAttributes(kid, { enabled: true, expiresOn: new Date(Date.now() - 60_000) });
    emulator.resetStats();
    // The SDK checks exp locally after its GET: no unwrap request at all (the plugin avoids
    // this by building its clients without that GET).
    const expiredLocally = await rejection(cryptoClient(kid).unwrapKey("RSA-OAEP-256", wrapped.result));
    expect(String(expiredLocally)).toContain("expired");
    expect(emulator.stats().unwrapkey ?? 0).toBe(0);
    // A remote-only client (no keys/get) reaches the vault: as in Azure, an expired version
    // still unwraps what it protected, but wraps nothing new.
    emulator.faults.forbidGet = true;
    const expiredUnwrap = await cryptoClient(kid).unwrapKey("RSA-OAEP-256", wrapped.result);
    expect(Buffer.from(expiredUnwrap.result).equals(cek)).toBe(true);
    const expiredWrap = await restFailure(cryptoClient(kid).wrapKey("RSA-OAEP-256", cek));
    expect(expiredWrap.statusCode).toBe(403);
    expect(expiredWrap.message).toContain("expired");

    emulator.setKeyAttributes(kid, { expiresOn: null, notBefore: new Date(Date.now() + 3_600_000) });
    const early = await restFailure(cryptoClient(kid).wrapKey("RSA-OAEP-256", cek));
    expect(early.statusCode).toBe(403);

    emulator.setKeyAttributes(kid, { notBefore: null });
    emulator.faults.forbidGet = false;
    const unwrapped = await cryptoClient(kid).unwrapKey("RSA-OAEP-256", wrapped.result);
    expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
  });

  it("rejects a wrong client secret with a clear AADSTS error", async () => {
    const wrong = newCredential("not-the-secret");
    // @azure/identity 4.14 wraps MSAL's ServerError (invalid_client) in AuthenticationRequiredError.
    const error = await rejection(wrong.getToken(VAULT_SCOPE));
    expect(error).toBeInstanceOf(AuthenticationRequiredError);
    expect((error as Error).message).toContain("AADSTS7000215");
    expect((error as Error).message).toContain("invalid_client");
    const viaVault = await rejection(keyClient(wrong).getKey("anything"));
    expect(viaVault).toBeInstanceOf(AuthenticationRequiredError);
    expect(emulator.stats()["token-error"]).toBe(2);
    expect(emulator.stats().token ?? 0).toBe(0);
  });

  it("validates token requests like Entra", async () => {
    const client = emulator.clients[0];
    const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
    const post = (tenant: string, fields: Record<string, string>): Promise<RawResponse> =>
      raw(`${emulator.authorityHost}/${tenant}/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form(fields),
        ca: emulator.caPem,
      });
    const good = {
      client_id: client?.clientId ?? "",
      client_secret: client?.clientSecret ?? "",
      grant_type: "client_credentials",
      scope: VAULT_SCOPE,
    };
    const ok = await post(emulator.tenantId, good);
    expect(ok.status).toBe(200);
    const issued = JSON.parse(ok.body) as Record<string, unknown>;
    expect(issued).toMatchObject({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599 });
    expect(typeof issued.access_token).toBe("string");

    const tenant = await post("11111111-2222-3333-4444-555555555555", good);
    expect(tenant.status).toBe(400);
    expect(tenant.body).toContain("AADSTS90002");
    const secret = await post(emulator.tenantId, { ...good, client_secret: "nope" });
    expect(secret.status).toBe(401);
    expect(JSON.parse(secret.body)).toMatchObject({ error: "invalid_client", error_codes: [7000215] });
    const unknownClient = await post(emulator.tenantId, { ...good, client_id: "no-such-app" });
    expect(unknownClient.status).toBe(400);
    const scope = await post(emulator.tenantId, { ...good, scope: "https://vault.azure.net/keys.read" });
    expect(scope.status).toBe(400);

    // A token for another resource is refused by the vault (with a challenge).
    const storage = await post(emulator.tenantId, { ...good, scope: "https://storage.azure.com/.default" });
    const storageToken = (JSON.parse(storage.body) as { access_token: string }).access_token;
    const { kid } = emulator.createKey(keyName("audience"));
    const refused = await raw(`${kid}?api-version=7.4`, {
      headers: { authorization: `Bearer ${storageToken}` },
      ca: emulator.caPem,
    });
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toContain("resource=");
    const vaultToken = issued.access_token as string;
    const noApiVersion = await raw(kid, {
      headers: { authorization: `Bearer ${vaultToken}` },
      ca: emulator.caPem,
    });
    expect(noApiVersion.status).toBe(400);
    expect(JSON.parse(noApiVersion.body)).toMatchObject({ error: { code: "BadParameter" } });
    const otherVersion = await raw(`${unversioned(kid)}/${"0".repeat(32)}?api-version=7.4`, {
      headers: { authorization: `Bearer ${vaultToken}` },
      ca: emulator.caPem,
    });
    expect(otherVersion.status).toBe(404);
    expect(JSON.parse(otherVersion.body)).toMatchObject({ error: { code: "KeyNotFound" } });
    const latest = await raw(`${unversioned(kid)}/?api-version=7.4`, {
      headers: { authorization: `Bearer ${vaultToken}` },
      ca: emulator.caPem,
    });
    expect(latest.status).toBe(200);
    expect(JSON.parse(latest.body)).toMatchObject({
      key: { kid, kty: "RSA" },
      attributes: { enabled: true },
    });
  });

  it("works with an https.Agent instead of tlsOptions", async () => {
    const agent = new Agent({ ca: emulator.caPem, keepAlive: true });
    try {
      const client = emulator.clients[0];
      const cred = new ClientSecretCredential(
        emulator.tenantId,
        client?.clientId ?? "",
        client?.clientSecret ?? "",
        {
          authorityHost: emulator.authorityHost,
          disableInstanceDiscovery: true,
          agent,
        },
      );
      const { kid } = emulator.createKey(keyName("agent"));
      const crypto = new CryptographyClient(kid, cred, { disableChallengeResourceVerification: true, agent });
      const cek = randomBytes(32);
      const wrapped = await crypto.wrapKey("RSA-OAEP-256", cek);
      const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
      expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it("serves App Service managed identity tokens that the vault accepts", async () => {
    const mi = (query: string, header?: string): Promise<RawResponse> =>
      raw(
        `${emulator.identityEndpoint}?${query}`,
        header === undefined ? {} : { headers: { "X-IDENTITY-HEADER": header } },
      );
    const resource = "resource=https%3A%2F%2Fvault.azure.net";
    expect((await mi(`api-version=2019-08-01&${resource}`)).status).toBe(401);
    expect((await mi(`api-version=2019-08-01&${resource}`, "wrong")).status).toBe(401);
    expect((await mi(`${resource}`, emulator.identityHeader)).status).toBe(400);
    expect(
      (await mi(`api-version=2019-08-01&${resource}&client_id=unknown`, emulator.identityHeader)).status,
    ).toBe(400);
    const ok = await mi(
      `api-version=2019-08-01&${resource}&client_id=${MI_CLIENT_ID}`,
      emulator.identityHeader,
    );
    expect(ok.status).toBe(200);
    const body = JSON.parse(ok.body) as Record<string, unknown>;
    expect(body).toMatchObject({ resource: "https://vault.azure.net", token_type: "Bearer" });
    expect(Number(body.expires_on)).toBeGreaterThan(Date.now() / 1000 + 3000);

    // The SDK reads IDENTITY_ENDPOINT / IDENTITY_HEADER when it first needs a token, and MSAL keeps
    // that managed identity source (endpoint, header, HTTP client) for the rest of the process.
    const names = [
      "IDENTITY_ENDPOINT",
      "IDENTITY_HEADER",
      "IDENTITY_SERVER_THUMBPRINT",
      "IMDS_ENDPOINT",
      "MSI_ENDPOINT",
      "MSI_SECRET",
      "AZURE_CLIENT_ID",
      "AZURE_FEDERATED_TOKEN_FILE",
    ] as const;
    const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    try {
      for (const name of names) delete process.env[name];
      process.env.IDENTITY_ENDPOINT = emulator.identityEndpoint;
      process.env.IDENTITY_HEADER = emulator.identityHeader;
      emulator.resetStats();
      // No TLS option: the endpoint is plain http (an https.Agent here would break it).
      const managed = new ManagedIdentityCredential({ clientId: MI_CLIENT_ID });
      const token = await managed.getToken(VAULT_SCOPE);
      expect(token.token).toMatch(/^emulator\./);
      expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3_000_000);
      expect(emulator.stats().msi).toBe(1);

      const { kid } = emulator.createKey(keyName("mi"));
      const crypto = cryptoClient(kid, managed);
      const cek = randomBytes(32);
      const wrapped = await crypto.wrapKey("RSA-OAEP-256", cek);
      const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
      expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
      expect(emulator.stats().token ?? 0).toBe(0);

      const unknown = new ManagedIdentityCredential({ clientId: "9a8b7c6d-0000-4000-8000-000000000000" });
      const error = await rejection(unknown.getToken(VAULT_SCOPE));
      expect(error).toBeInstanceOf(Error);
      expect(emulator.stats()["msi-error"]).toBeGreaterThanOrEqual(1);
    } finally {
      for (const name of names) {
        const value = saved[name];
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it("keeps keys and tokens across stop()/restart() and across a new emulator on the same state file", async () => {
    const name = keyName("persist");
    const { kid } = emulator.createKey(name);
    const client = cryptoClient(kid, credential, { retryOptions: { maxRetries: 0 } });
    const cek = randomBytes(32);
    const wrapped = await client.wrapKey("RSA-OAEP-256", cek);

    const vaultUrl = emulator.vaultUrl;
    await emulator.stop();
    const outage = await restFailure(client.unwrapKey("RSA-OAEP-256", wrapped.result));
    expect(outage.code).toBe("ECONNREFUSED");
    await emulator.restart();
    expect(emulator.vaultUrl).toBe(vaultUrl);
    // Same client: its cached token is still valid for the restarted vault.
    const afterRestart = await client.unwrapKey("RSA-OAEP-256", wrapped.result);
    expect(Buffer.from(afterRestart.result).equals(cek)).toBe(true);

    const second = await startKeyVaultEmulator({ stateFile, workDir });
    try {
      expect(second.caPem).toBe(emulator.caPem);
      const secondKid = second.latestKid(name);
      expect(secondKid).toBe(`${second.vaultUrl}/keys/${name}/${versionOf(kid)}`);
      const client2 = new CryptographyClient(
        secondKid ?? "",
        new ClientSecretCredential(
          second.tenantId,
          second.clients[0]?.clientId ?? "",
          second.clients[0]?.clientSecret ?? "",
          {
            authorityHost: second.authorityHost,
            disableInstanceDiscovery: true,
            tlsOptions: { ca: second.caPem },
          },
        ),
        { disableChallengeResourceVerification: true, tlsOptions: { ca: second.caPem } },
      );
      const unwrapped = await client2.unwrapKey("RSA-OAEP-256", wrapped.result);
      expect(Buffer.from(unwrapped.result).equals(cek)).toBe(true);
      // Tokens persist too: the token the Key Vault clients cached (they ask with enableCae)
      // stays valid for the new emulator.
      const tokensBefore = emulator.stats().token ?? 0;
      const cached = await credential.getToken(VAULT_SCOPE, { enableCae: true });
      expect(emulator.stats().token ?? 0).toBe(tokensBefore);
      const response = await raw(`${secondKid}?api-version=7.4`, {
        headers: { authorization: `Bearer ${cached?.token ?? ""}` },
        ca: second.caPem,
      });
      expect(response.status).toBe(200);
    } finally {
      await second.dispose();
    }
  });
});
