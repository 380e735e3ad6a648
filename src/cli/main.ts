/**
 * Operator CLI, built on the same modules as the plugin (dist/cli.cjs, run with Node >= 18).
 *
 *   node dist/cli.cjs check-config <orthanc.json>   validate the "AzureBlobStorage" section
 *   node dist/cli.cjs check-connection <orthanc.json>
 *                                                   also open the container (creating it if allowed)
 *                                                   and wrap/unwrap a test key with the configured KEK
 *
 * Orthanc's ${VAR} substitution is applied the same way Orthanc does it, from the environment.
 */
import { readFileSync } from "node:fs";
import { describeConfiguration } from "../config/describe.ts";
import { ConfigurationError, parsePluginConfiguration } from "../config/parse.ts";
import { createKeyWrapper, selfTestKeyWrapper } from "../crypto/key-wrapper-factory.ts";
import { describeError } from "../errors.ts";
import { createLogger } from "../logging/logger.ts";
import { AzureBlobStore } from "../storage/azure-blob-store.ts";

const USAGE = "usage: cli.cjs check-config|check-connection <orthanc-configuration.json>";

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
  const [command, file] = argv;
  if ((command !== "check-config" && command !== "check-connection") || file === undefined) {
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
