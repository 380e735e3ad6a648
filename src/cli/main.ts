/**
 * Operator CLI, built on the same modules as the plugin (dist/cli.cjs, run with Node >= 18).
 *
 *   node dist/cli.cjs check-config <orthanc.json>   validate the "AzureBlobStorage" section
 *   node dist/cli.cjs check-connection <orthanc.json>
 *                                                   also open the container (creating it if allowed)
 *                                                   and wrap/unwrap a test key with the configured KEK
 *   node dist/cli.cjs integrity-key-new <orthanc.json> [--file <path>]
 *                                                   make a deployment integrity key (envelope version 2):
 *                                                   wrapped by the configured KEK (printed as an
 *                                                   IntegrityKeys entry), or written to a new file (mode 600)
 *
 * Orthanc's ${VAR} substitution is applied the same way Orthanc does it, from the environment.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { describeConfiguration } from "../config/describe.ts";
import { ConfigurationError, parsePluginConfiguration } from "../config/parse.ts";
import type { PluginConfig } from "../config/types.ts";
import { zeroize } from "../crypto/data-key.ts";
import { INTEGRITY_KEY_LENGTH, integrityKeyId } from "../crypto/integrity-key.ts";
import { createKeyWrapper, selfTestKeyWrapper } from "../crypto/key-wrapper-factory.ts";
import { describeError } from "../errors.ts";
import { createLogger } from "../logging/logger.ts";
import { AzureBlobStore } from "../storage/azure-blob-store.ts";

const USAGE =
  "usage: cli.cjs check-config|check-connection <orthanc-configuration.json>\n" +
  "       cli.cjs integrity-key-new <orthanc-configuration.json> [--file <new key file>]";
const COMMANDS = ["check-config", "check-connection", "integrity-key-new"];

/** Orthanc accepts // and /* comments in its JSON files. */
function stripJsonComments(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const next = text[i + 1];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && next === "*") {
      i += 2;
      while (i < text.length && !(text[i] === "*" && text[i + 1] === "/")) i++;
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

function substituteEnvironment(text: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => process.env[name] ?? "");
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, file, ...rest] = argv;
  const keyFile = rest[0] === "--file" ? rest[1] : undefined;
  const restOk =
    rest.length === 0 || (command === "integrity-key-new" && rest.length === 2 && keyFile !== undefined);
  if (command === undefined || !COMMANDS.includes(command) || file === undefined || !restOk) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const parsed = parsePluginConfiguration(
    JSON.parse(substituteEnvironment(stripJsonComments(readFileSync(file, "utf8")))),
  );
  if (!parsed.enabled) {
    process.stdout.write("AzureBlobStorage.EnableStorage is not true: the plugin would stay inactive\n");
    return 0;
  }
  if (command === "integrity-key-new") return newIntegrityKey(parsed.config, keyFile);
  process.stdout.write(`configuration is valid: ${describeConfiguration(parsed.config)}\n`);
  if (command === "check-connection") {
    const { config } = parsed;
    const store = new AzureBlobStore({
      auth: config.storage.auth,
      containerName: config.storage.containerName,
      requests: config.requests,
      logger: createLogger("azure"),
    });
    try {
      await store.initialize({
        createContainerIfMissing: config.storage.createContainerIfNotExists,
        timeoutInMs: config.requests.operationTimeoutMs,
      });
      process.stdout.write(
        `container "${config.storage.containerName}" is reachable (${store.description})\n`,
      );
    } finally {
      await store.close();
    }
    const wrapper = await createKeyWrapper(config.encryption, config.requests, createLogger("keys"));
    if (wrapper !== undefined) {
      await selfTestKeyWrapper(wrapper, { timeoutInMs: config.requests.operationTimeoutMs });
      process.stdout.write(`key-encryption key wraps and unwraps: ${wrapper.description}\n`);
      (wrapper as { dispose?: () => void }).dispose?.();
    }
  }
  return 0;
}

/**
 * A new deployment integrity key (SECURITY.md): 32 random bytes, wrapped by the configured KEK and
 * printed as an IntegrityKeys entry, or written to a new file that only its owner can read.
 */
async function newIntegrityKey(config: PluginConfig, keyFile: string | undefined): Promise<number> {
  const key = randomBytes(INTEGRITY_KEY_LENGTH);
  try {
    const id = integrityKeyId(key);
    if (keyFile !== undefined) {
      // "wx": never overwrite an existing key file.
      writeFileSync(keyFile, `${key.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
      process.stdout.write(`${JSON.stringify({ Id: id, File: keyFile })}\n`);
      return 0;
    }
    const wrapper = await createKeyWrapper(config.encryption, config.requests, createLogger("keys"));
    if (wrapper === undefined) {
      process.stderr.write(
        "error: no key-encryption key is configured (AzureBlobStorage.AzureKeyVault or AzureBlobStorage.LocalKeyFile) to wrap the integrity key; configure one, or use --file\n",
      );
      return 1;
    }
    try {
      const wrapped = await wrapper.wrapKey(key, { timeoutInMs: config.requests.operationTimeoutMs });
      process.stdout.write(
        `${JSON.stringify({ Id: id, KeyId: wrapped.keyId, EncryptedKey: wrapped.encryptedKey.toString("base64"), Algorithm: wrapped.algorithm })}\n`,
      );
    } finally {
      (wrapper as { dispose?: () => void }).dispose?.();
    }
    return 0;
  } finally {
    zeroize(key);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof ConfigurationError ? error.message : `error: ${describeError(error)}`}\n`,
    );
    process.exitCode = 1;
  },
);
