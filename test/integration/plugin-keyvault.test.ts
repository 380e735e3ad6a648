/**
 * Azure Key Vault as the key-encryption key, end to end: Orthanc 1.10.1 with the plugin
 * (embedded Node 18 running the real @azure/identity and @azure/keyvault-keys), Azurite,
 * and the project's Key Vault + Entra emulator. Calls are counted at the emulator.
 */

import { createServer } from "node:net";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KeyVaultEmulator, startKeyVaultEmulator } from "../../tools/keyvault-emulator/emulator.ts";
import { startAzurite } from "../support/azurite.ts";
import { generateCt, generateMr } from "../support/dicom.ts";
import {
  getJson,
  type OrthancInstance,
  readInstanceFile,
  startOrthanc,
  startOrthancExpectingFailure,
  uploadInstance,
} from "../support/orthanc.ts";
import { PLUGIN_PATH, pluginSection, waitFor } from "../support/plugin.ts";
import { scratchDirs } from "../support/scratch.ts";

const scratchDir = scratchDirs();
const ORTHANC_STORAGE_AREA_PLUGIN = 32;
const KEY = "orthanc-kek";

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let vault: KeyVaultEmulator;
const running: OrthancInstance[] = [];

function keyVaultSection(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const client = vault.clients[0];
  if (client === undefined) throw new Error("the emulator has no client principal");
  return {
    // The old plugin's keys, as they were: no tenantId (discovered from the vault's challenge).
    kid: `${vault.vaultUrl}/keys/${KEY}`,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    keyRefreshSeconds: 1,
    emulator: { caFile: vault.caFile, authorityHost: vault.authorityHost },
    ...overrides,
  };
}

async function startWithVault(
  containerName: string,
  settings: Record<string, unknown> = {},
  vaultOverrides: Record<string, unknown> = {},
  extra: { env?: Record<string, string>; workDir?: string } = {},
): Promise<OrthancInstance> {
  const orthanc = await startOrthanc({
    plugins: [PLUGIN_PATH],
    azureBlobStorage: pluginSection(azurite.connectionString, {
      ContainerName: containerName,
      EncryptionEnabled: true,
      AzureKeyVault: keyVaultSection(vaultOverrides),
      MaxRetries: 2,
      RetryDelayMs: 100,
      MaxRetryDelayMs: 2000,
      ...settings,
    }),
    ...(extra.env === undefined ? {} : { env: extra.env }),
    ...(extra.workDir === undefined ? {} : { workDir: extra.workDir }),
  });
  running.push(orthanc);
  return orthanc;
}

async function blobOf(orthanc: OrthancInstance, id: string, containerName: string) {
  const info = (await getJson(`${orthanc.url}/instances/${id}/attachments/dicom/info`)) as { Uuid: string };
  const client = BlobServiceClient.fromConnectionString(azurite.connectionString)
    .getContainerClient(containerName)
    .getBlobClient(`${info.Uuid}.dcm`);
  const properties = await client.getProperties();
  return { client, metadata: { ...properties.metadata }, kid: kidOf(properties.metadata ?? {}) };
}

function kidOf(metadata: Record<string, string>): string {
  return (JSON.parse(metadata.encryptiondata ?? "{}") as { WrappedContentKey: { KeyId: string } })
    .WrappedContentKey.KeyId;
}

/** A TCP listener on 127.0.0.1 that only counts the connections made to it. */
async function listenCountingConnections(): Promise<{
  port: number;
  connections(): number;
  close(): Promise<void>;
}> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the listener has no port");
  return {
    port: address.port,
    connections: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function stat(name: string): number {
  return vault.stats()[name] ?? 0;
}

beforeAll(async () => {
  azurite = await startAzurite();
  vault = await startKeyVaultEmulator({
    stateFile: join(scratchDir("oabs-kv-"), "state.json"),
    managedIdentity: { header: "oabs-test-identity-header" },
  });
  vault.createKey(KEY);
});

afterAll(async () => {
  for (const orthanc of running) await orthanc.stop();
  await vault?.dispose();
  await azurite?.dispose();
});

describe("the old plugin's configuration, through Orthanc", () => {
  let orthanc: OrthancInstance;

  beforeAll(async () => {
    orthanc = await startWithVault("kv-seed", { KeyDecayCount: 10, KeyPoolSize: 100 });
  });

  it("stores and reads, with the tenant discovered from the vault's challenge", async () => {
    expect(orthanc.log()).toContain("Key Vault tenant discovered from its authentication challenge");
    const ct = generateCt({ seed: 900 });
    const { ID } = await uploadInstance(orthanc.url, ct.bytes);
    const { kid } = await blobOf(orthanc, ID, "kv-seed");
    expect(kid).toMatch(new RegExp(`^${vault.vaultUrl.replace(/[.]/g, "\\.")}/keys/${KEY}/[0-9a-f]{32}$`));
    expect(Buffer.compare((await readInstanceFile(orthanc, ID)).body, ct.bytes)).toBe(0);
    const tags = (await getJson(`${orthanc.url}/instances/${ID}/tags?simplify`)) as Record<string, string>;
    expect(tags.SOPInstanceUID).toBe(ct.sopInstanceUid);
  });

  it("makes no Key Vault call in the hot path once keys are cached (20 writes, 20 reads)", async () => {
    await uploadInstance(orthanc.url, generateMr({ seed: 901 }).bytes); // warm
    vault.resetStats();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push((await uploadInstance(orthanc.url, generateMr({ seed: 910 + i }).bytes)).ID);
    for (const id of ids) expect((await readInstanceFile(orthanc, id)).status).toBe(200);
    // RSA wraps run locally with the public key; unwrapped CEKs come from the pool.
    expect(stat("wrapkey")).toBe(0);
    expect(stat("unwrapkey")).toBe(0);
    expect(stat("token")).toBe(0);
  });
});

describe("startup", () => {
  it("stops Orthanc with a clear message when the client secret is wrong, without printing it", async () => {
    const wrong = "wrong-secret-value-4242";
    const result = await startOrthancExpectingFailure({
      plugins: [PLUGIN_PATH],
      azureBlobStorage: pluginSection(azurite.connectionString, {
        ContainerName: "kv-bad-secret",
        EncryptionEnabled: true,
        AzureKeyVault: keyVaultSection({ clientSecret: wrong }),
        MaxRetries: 0,
      }),
    });
    expect(result.code).not.toBe(0);
    expect(result.log).toMatch(/AzureBlobStorage: cannot start: .*cannot get a token for Key Vault/);
    expect(result.log).not.toContain(wrong);
  });
});

describe("call counts at the emulator", () => {
  it.each([
    { decay: 1, pool: 0, expectUnwraps: 12 },
    { decay: 1000, pool: 0, expectUnwraps: 12 },
    { decay: 4, pool: 1000, expectUnwraps: 0 },
  ])(
    "KeyDecayCount $decay, KeyPoolSize $pool: 12 writes, 12 reads",
    async ({ decay, pool, expectUnwraps }) => {
      const orthanc = await startWithVault(`kv-count-${decay}-${pool}`, {
        KeyDecayCount: decay,
        KeyPoolSize: pool,
      });
      try {
        vault.resetStats();
        const ids: string[] = [];
        for (let i = 0; i < 12; i++)
          ids.push((await uploadInstance(orthanc.url, generateMr({ seed: 950 + i }).bytes)).ID);
        for (const id of ids) expect((await readInstanceFile(orthanc, id)).status).toBe(200);
        expect(stat("wrapkey")).toBe(0);
        expect(stat("unwrapkey")).toBe(expectUnwraps);
        const status = (await getJson(`${orthanc.url}/azure-blob-storage/status`)) as {
          keys?: { wraps: number };
        };
        // CEKs made: one per KeyDecayCount blobs (plus at most one prepared ahead).
        expect(status.keys?.wraps).toBeLessThanOrEqual(Math.ceil(12 / decay) + 1);
      } finally {
        await orthanc.stop();
      }
    },
  );
});

describe("rotation", () => {
  it("picks up a new key version without a restart; old blobs read; a disabled version fails clearly", async () => {
    const orthanc = await startWithVault("kv-rotation", { KeyPoolSize: 0, KeyDecayCount: 1 });
    const v1 = generateMr({ seed: 1001 });
    const id1 = (await uploadInstance(orthanc.url, v1.bytes)).ID;
    const kid1 = (await blobOf(orthanc, id1, "kv-rotation")).kid;

    const rotated = vault.rotateKey(KEY);
    await orthanc.waitForLog(/Key Vault key rotated: new writes use/, 20_000);
    // A CEK prepared (and wrapped) just before the rotation may still serve one write.
    let v2 = generateMr({ seed: 1002 });
    let id2 = "";
    let kid2 = "";
    for (let attempt = 0; attempt < 3 && kid2 !== rotated.kid; attempt++) {
      v2 = generateMr({ seed: 1002 + attempt });
      id2 = (await uploadInstance(orthanc.url, v2.bytes)).ID;
      kid2 = (await blobOf(orthanc, id2, "kv-rotation")).kid;
    }
    expect(kid2).toBe(rotated.kid);
    expect(kid2).not.toBe(kid1);

    expect(Buffer.compare((await readInstanceFile(orthanc, id1)).body, v1.bytes)).toBe(0);
    expect(Buffer.compare((await readInstanceFile(orthanc, id2)).body, v2.bytes)).toBe(0);

    vault.setKeyAttributes(kid1, { enabled: false });
    try {
      const refused = await readInstanceFile(orthanc, id1);
      expect(refused.status).not.toBe(200);
      expect(refused.orthancStatus).toBe(ORTHANC_STORAGE_AREA_PLUGIN);
      await orthanc.waitForLog(new RegExp(`key ${kid1.replace(/[.]/g, "\\.")} is disabled`));
      expect(Buffer.compare((await readInstanceFile(orthanc, id2)).body, v2.bytes)).toBe(0);
    } finally {
      vault.setKeyAttributes(kid1, { enabled: true });
      await orthanc.stop();
    }
  });
});

describe("managed identity", () => {
  it("works through the emulated App Service identity endpoint, with no secret anywhere", async () => {
    vault.resetStats();
    const orthanc = await startWithVault(
      "kv-msi",
      { KeyPoolSize: 0 },
      { clientId: undefined, clientSecret: undefined, tenantId: undefined },
      { env: { IDENTITY_ENDPOINT: vault.identityEndpoint, IDENTITY_HEADER: vault.identityHeader } },
    );
    try {
      const ct = generateCt({ seed: 1100 });
      const { ID } = await uploadInstance(orthanc.url, ct.bytes);
      expect(Buffer.compare((await readInstanceFile(orthanc, ID)).body, ct.bytes)).toBe(0);
      // Tokens came from the identity endpoint, never from the client-credentials flow.
      expect(stat("msi")).toBeGreaterThan(0);
      expect(stat("token")).toBe(0);
    } finally {
      await orthanc.stop();
    }
  });
});

describe("allow-list", () => {
  it("refuses a blob whose metadata names a foreign vault, before any connection is made", async () => {
    // A real listener stands in for the foreign vault: the proof is that nobody ever connects
    // to it. Counting all of the emulator's requests would also count background work (the
    // key refresh every second), so the emulator is asked only about unwraps.
    const foreign = await listenCountingConnections();
    const orthanc = await startWithVault("kv-allow", { KeyPoolSize: 0 });
    try {
      const { ID } = await uploadInstance(orthanc.url, generateMr({ seed: 1200 }).bytes);
      const blob = await blobOf(orthanc, ID, "kv-allow");
      const data = JSON.parse(blob.metadata.encryptiondata ?? "{}") as {
        WrappedContentKey: { KeyId: string };
      };
      const foreignVault = `https://127.0.0.1:${foreign.port}`;
      data.WrappedContentKey.KeyId = `${foreignVault}/keys/${KEY}/0123456789abcdef0123456789abcdef`;
      const body = await blob.client.downloadToBuffer();
      await blob.client
        .getBlockBlobClient()
        .upload(body, body.length, { metadata: { ...blob.metadata, encryptiondata: JSON.stringify(data) } });
      const unwrapsBefore = stat("unwrapkey");
      const refused = await readInstanceFile(orthanc, ID);
      expect(refused.status).not.toBe(200);
      expect(refused.orthancStatus).toBe(ORTHANC_STORAGE_AREA_PLUGIN);
      await orthanc.waitForLog(
        /key id https:\/\/127\.0\.0\.1:\d+\/keys\/.* is not trusted.*no request was sent/,
      );
      expect(foreign.connections()).toBe(0);
      expect(stat("unwrapkey") - unwrapsBefore).toBe(0);
    } finally {
      await orthanc.stop();
      await foreign.close();
    }
  });
});

describe("outages", () => {
  it("keeps ingesting while the vault is down (local wraps, pooled keys); every acknowledged instance reads back", async () => {
    const orthanc = await startWithVault("kv-outage", { KeyDecayCount: 3, KeyPoolSize: 1000 });
    try {
      await uploadInstance(orthanc.url, generateMr({ seed: 1300 }).bytes);
      await vault.stop();
      const instances = Array.from({ length: 24 }, (_, i) => generateMr({ seed: 1310 + i }));
      const acknowledged = new Map<string, Buffer>();
      await Promise.all(
        Array.from({ length: 6 }, async (_, worker) => {
          for (let i = worker; i < instances.length; i += 6) {
            const bytes = instances[i]?.bytes ?? Buffer.alloc(0);
            const response = await fetch(`${orthanc.url}/instances`, { method: "POST", body: bytes });
            if (response.ok) acknowledged.set(((await response.json()) as { ID: string }).ID, bytes);
          }
        }),
      );
      expect(acknowledged.size).toBe(instances.length);
      for (const [id, bytes] of acknowledged)
        expect(Buffer.compare((await readInstanceFile(orthanc, id)).body, bytes)).toBe(0);
    } finally {
      await vault.restart();
      await orthanc.stop();
    }
  });

  it("fails reads that need the vault with a key-access error while it is down, and recovers by itself", async () => {
    const orthanc = await startWithVault("kv-outage-cold", {
      KeyPoolSize: 0,
      RequestTimeoutSeconds: 2,
      MaxRetries: 1,
    });
    try {
      const mr = generateMr({ seed: 1400 });
      const { ID } = await uploadInstance(orthanc.url, mr.bytes);
      await vault.stop();
      const refused = await readInstanceFile(orthanc, ID);
      expect(refused.orthancStatus).toBe(ORTHANC_STORAGE_AREA_PLUGIN);
      await orthanc.waitForLog(/cannot reach Key Vault/);
      await vault.restart();
      const back = await waitFor(async () => {
        const r = await readInstanceFile(orthanc, ID);
        return r.status === 200 ? r : undefined;
      }, 30_000);
      expect(Buffer.compare(back.body, mr.bytes)).toBe(0);
    } finally {
      await vault.restart().catch(() => undefined);
      await orthanc.stop();
    }
  });

  it("rides out 429 throttling with Retry-After during a parallel ingest and reads", async () => {
    const orthanc = await startWithVault("kv-throttle", { KeyPoolSize: 0 });
    try {
      const instances = Array.from({ length: 8 }, (_, i) => generateMr({ seed: 1500 + i }));
      const ids = await Promise.all(
        instances.map(async (m) => (await uploadInstance(orthanc.url, m.bytes)).ID),
      );
      vault.resetStats();
      vault.faults.throttle = { remaining: 3, retryAfterSeconds: 1 };
      const reads = await Promise.all(ids.map((id) => readInstanceFile(orthanc, id)));
      reads.forEach((r, i) => {
        expect(Buffer.compare(r.body, instances[i]?.bytes ?? Buffer.alloc(0))).toBe(0);
      });
      expect(stat("throttled")).toBe(3);
    } finally {
      vault.faults.throttle = { remaining: 0, retryAfterSeconds: 0 };
      await orthanc.stop();
    }
  });
});

describe("no secret in the log", () => {
  it("has no client secret, token or account key anywhere in Orthanc's verbose logs", () => {
    const client = vault.clients[0];
    const logs = running.map((o) => o.log()).join("\n");
    expect(logs.length).toBeGreaterThan(1000);
    expect(logs).not.toContain(client?.clientSecret ?? "<no secret>");
    expect(logs).not.toContain(azurite.accountKey);
    expect(logs).not.toMatch(/Bearer [A-Za-z0-9._-]{16,}/);
    expect(logs).not.toMatch(/access_token/);
    expect(logs).not.toContain(vault.identityHeader);
  });
});
