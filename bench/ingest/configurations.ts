/**
 * The configurations the ingest benchmark compares: Orthanc's filesystem storage and the plugin
 * on the in-memory store or Azurite, plain or encrypted (local RSA key or the Key Vault
 * emulator); what they share across runs (the key file, the vault); and how one starts.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AzuriteInstance, startAzurite } from "../../test/support/azurite.ts";
import { type OrthancInstance, startOrthanc } from "../../test/support/orthanc.ts";
import { PLUGIN_PATH, pluginSection } from "../../test/support/plugin.ts";
import { type KeyVaultEmulator, startKeyVaultEmulator } from "../../tools/keyvault-emulator/emulator.ts";
import type { ConfigName } from "../schema.ts";

const KEY_NAME = "orthanc-kek";

/** What every run of every configuration shares: the local key file and the Key Vault emulator. */
export interface SharedEnvironment {
  vault: KeyVaultEmulator;
  localKeyFile: string;
  /** A deployment integrity key (IntegrityKeys, envelope version 2). */
  integrityKeyFile: string;
  dispose(): Promise<void>;
}

export interface ConfigSpec {
  name: ConfigName;
  description: string;
  plugin: boolean;
  azurite: boolean;
  keyVault: boolean;
  /** The "AzureBlobStorage" section; undefined for the filesystem baseline. */
  section?: (env: SharedEnvironment, azurite: AzuriteInstance | undefined) => Record<string, unknown>;
}

type Section = Record<string, unknown>;

/** The in-memory store still needs a valid connection string; it is never used. */
export function memorySection(overrides: Section = {}): Section {
  return pluginSection("UseDevelopmentStorage=true", { InMemoryStoreForTesting: true, ...overrides });
}

function azuriteSection(azurite: AzuriteInstance | undefined, overrides: Section = {}): Section {
  if (azurite === undefined) throw new Error("this configuration needs Azurite");
  return pluginSection(azurite.connectionString, overrides);
}

/** Encryption with the local RSA key (LocalKeyFile). */
function localKey(env: SharedEnvironment): Section {
  return { EncryptionEnabled: true, LocalKeyFile: env.localKeyFile };
}

/** As localKey, sealed with a deployment integrity key (envelope version 2, StrictIntegrity). */
function integrityV2(env: SharedEnvironment): Section {
  return { ...localKey(env), IntegrityKeys: [{ File: env.integrityKeyFile }] };
}

/** Encryption with the key of the Key Vault emulator. */
function keyVault(env: SharedEnvironment): Section {
  const client = env.vault.clients[0];
  if (client === undefined) throw new Error("the Key Vault emulator has no client principal");
  return {
    EncryptionEnabled: true,
    AzureKeyVault: {
      kid: `${env.vault.vaultUrl}/keys/${KEY_NAME}`,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      emulator: { caFile: env.vault.caFile, authorityHost: env.vault.authorityHost },
    },
  };
}

/** Every configuration, in the order of the tables. */
export const ALL_CONFIGS: readonly ConfigSpec[] = [
  {
    name: "filesystem",
    description: "Orthanc's own filesystem storage, no plugin (the baseline)",
    plugin: false,
    azurite: false,
    keyVault: false,
  },
  {
    name: "plugin-memory",
    description: "plugin, InMemoryStoreForTesting (no network, no encryption)",
    plugin: true,
    azurite: false,
    keyVault: false,
    section: () => memorySection(),
  },
  {
    name: "memory-local-key",
    description:
      "plugin, InMemoryStoreForTesting, EncryptionEnabled + LocalKeyFile: the plugin's own cost of encryption, without Azurite",
    plugin: true,
    azurite: false,
    keyVault: false,
    section: (env) => memorySection(localKey(env)),
  },
  {
    name: "memory-integrity-v2",
    description:
      "as memory-local-key, sealed with a deployment integrity key (envelope version 2, StrictIntegrity)",
    plugin: true,
    azurite: false,
    keyVault: false,
    section: (env) => memorySection(integrityV2(env)),
  },
  {
    name: "azurite-plain",
    description: "plugin, Azurite, no encryption",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (_env, azurite) => azuriteSection(azurite),
  },
  {
    name: "azurite-local-key",
    description: "plugin, Azurite, EncryptionEnabled + LocalKeyFile (RSA 2048, defaults)",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (env, azurite) => azuriteSection(azurite, localKey(env)),
  },
  {
    name: "azurite-integrity-v2",
    description:
      "as azurite-local-key, sealed with a deployment integrity key (envelope version 2, StrictIntegrity)",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (env, azurite) => azuriteSection(azurite, integrityV2(env)),
  },
  {
    name: "local-key-inline",
    description: "as azurite-local-key, with CryptoThreads 0 (crypto on the JS thread, no worker threads)",
    plugin: true,
    azurite: true,
    keyVault: false,
    section: (env, azurite) => azuriteSection(azurite, { ...localKey(env), CryptoThreads: 0 }),
  },
  {
    name: "azurite-keyvault",
    description: "plugin, Azurite, Key Vault emulator (KeyDecayCount/KeyPoolSize defaults: 1000/1000)",
    plugin: true,
    azurite: true,
    keyVault: true,
    section: (env, azurite) => azuriteSection(azurite, keyVault(env)),
  },
  {
    name: "kv-decay1-pool1",
    description: "as azurite-keyvault, with KeyDecayCount 1 and KeyPoolSize 1 (a key per blob)",
    plugin: true,
    azurite: true,
    keyVault: true,
    section: (env, azurite) =>
      azuriteSection(azurite, { ...keyVault(env), KeyDecayCount: 1, KeyPoolSize: 1 }),
  },
];

/** BENCH_CONFIGS=a,b narrows a run to some configurations (experiments); the baseline always runs. */
export const CONFIGS: readonly ConfigSpec[] = ((): readonly ConfigSpec[] => {
  const wanted = process.env.BENCH_CONFIGS?.split(",").map((name) => name.trim());
  if (wanted === undefined || wanted.length === 0) return ALL_CONFIGS;
  const unknown = wanted.filter((name) => !ALL_CONFIGS.some((spec) => spec.name === name));
  if (unknown.length > 0)
    throw new Error(`Expected configuration names in BENCH_CONFIGS but received ${unknown.join(", ")}`);
  return ALL_CONFIGS.filter((spec) => spec.name === "filesystem" || wanted.includes(spec.name));
})();

/** A selected configuration by name. */
export function selectedConfig(name: ConfigName): ConfigSpec {
  const spec = CONFIGS.find((c) => c.name === name);
  if (spec === undefined) throw new Error(`unknown configuration ${name}`);
  return spec;
}

/** A fresh RSA 2048 key file and a Key Vault emulator holding the key of the Key Vault configurations. */
export async function startSharedEnvironment(): Promise<SharedEnvironment> {
  const keyDir = mkdtempSync(join(tmpdir(), "oabs-bench-kek-"));
  const localKeyFile = join(keyDir, "kek.pem");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(localKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  const integrityKeyFile = join(keyDir, "integrity.key");
  writeFileSync(integrityKeyFile, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  const vault = await startKeyVaultEmulator({ stateFile: join(keyDir, "vault-state.json") }).catch(
    (error: unknown) => {
      rmSync(keyDir, { recursive: true, force: true });
      throw error;
    },
  );
  vault.createKey(KEY_NAME);
  return {
    vault,
    localKeyFile,
    integrityKeyFile,
    async dispose() {
      await vault.dispose();
      rmSync(keyDir, { recursive: true, force: true });
    },
  };
}

/** One configuration running: a fresh Orthanc, and a fresh Azurite where it uses one. */
export interface RunningConfiguration {
  orthanc: OrthancInstance;
  azurite: AzuriteInstance | undefined;
  /** Stops Orthanc, then Azurite. */
  stop(): Promise<void>;
}

export async function startConfiguration(
  spec: ConfigSpec,
  shared: SharedEnvironment,
): Promise<RunningConfiguration> {
  const azurite = spec.azurite ? await startAzurite() : undefined;
  try {
    const orthanc = await startOrthanc({
      ...(spec.plugin ? { plugins: [PLUGIN_PATH] } : {}),
      azureBlobStorage: spec.section?.(shared, azurite),
    });
    return {
      orthanc,
      azurite,
      async stop() {
        await orthanc.stop();
        await azurite?.dispose();
      },
    };
  } catch (error) {
    await azurite?.dispose();
    throw error;
  }
}
