/**
 * Standalone runner of the Key Vault / Entra emulator for the dev loop (bundled by esbuild to
 * dist/keyvault-emulator.cjs). Prints one line of JSON on stdout once listening:
 *   {vaultUrl, authorityHost, identityEndpoint, identityHeader, tenantId, caFile, clientId,
 *    clientSecret, kid}
 * then runs until SIGINT/SIGTERM. Test use only (keys are stored in clear in the state file).
 */
import { type KeyVaultEmulatorOptions, startKeyVaultEmulator } from "./emulator.ts";

const USAGE = `usage: keyvault-emulator [options]
  --state <file>            JSON state (keys, tokens), loaded at start and saved on every change
  --work-dir <dir>          where the throwaway CA goes (reused when valid; default a temp dir)
  --vault-port <n>          Key Vault HTTPS port (default: a free port)
  --authority-port <n>      Entra HTTPS port (default: a free port)
  --identity-port <n>       managed identity HTTP port (default: a free port)
  --identity-header <value> X-IDENTITY-HEADER value (default: random)
  --tenant-id <guid>        tenant (default: a fixed test GUID)
  --ensure-key <name>       create the RSA key <name> when missing; its latest kid is printed
  --help                    this text
Prints one JSON line {vaultUrl, authorityHost, identityEndpoint, identityHeader, tenantId, caFile,
clientId, clientSecret, kid} when ready, then serves until SIGINT/SIGTERM.`;

class UsageError extends Error {}

interface CliOptions {
  readonly emulator: KeyVaultEmulatorOptions;
  readonly ensureKey?: string;
}

function parsePort(flag: string, value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new UsageError(`${flag} expects a port number, got ${value}`);
  return port;
}

function parseArguments(argv: readonly string[]): CliOptions {
  const emulator: KeyVaultEmulatorOptions = {};
  let ensureKey: string | undefined;
  let identityHeader: string | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index] ?? "";
    const value = argv[index + 1];
    if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} expects a value`);
    index += 1;
    switch (flag) {
      case "--state":
        emulator.stateFile = value;
        break;
      case "--work-dir":
        emulator.workDir = value;
        break;
      case "--vault-port":
        emulator.vaultPort = parsePort(flag, value);
        break;
      case "--authority-port":
        emulator.authorityPort = parsePort(flag, value);
        break;
      case "--identity-port":
        emulator.identityPort = parsePort(flag, value);
        break;
      case "--identity-header":
        identityHeader = value;
        break;
      case "--tenant-id":
        emulator.tenantId = value;
        break;
      case "--ensure-key":
        ensureKey = value;
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (identityHeader !== undefined) emulator.managedIdentity = { header: identityHeader };
  return { emulator, ...(ensureKey === undefined ? {} : { ensureKey }) };
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let options: CliOptions;
  try {
    options = parseArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`keyvault-emulator: ${error.message}\n${USAGE}\n`);
    return 2;
  }
  // Handlers first: a supervisor may signal as soon as it reads the ready line.
  let stopRequested = false;
  let wake: (() => void) | undefined;
  const onSignal = (): void => {
    stopRequested = true;
    wake?.();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const emulator = await startKeyVaultEmulator(options.emulator);
  try {
    let kid: string | null = null;
    if (options.ensureKey !== undefined) {
      kid = emulator.latestKid(options.ensureKey) ?? emulator.createKey(options.ensureKey).kid;
    }
    const client = emulator.clients[0];
    const ready = {
      vaultUrl: emulator.vaultUrl,
      authorityHost: emulator.authorityHost,
      identityEndpoint: emulator.identityEndpoint,
      identityHeader: emulator.identityHeader,
      tenantId: emulator.tenantId,
      caFile: emulator.caFile,
      clientId: client?.clientId ?? null,
      clientSecret: client?.clientSecret ?? null,
      kid,
    };
    if (!stopRequested) {
      process.stdout.write(`${JSON.stringify(ready)}\n`);
      // The listeners keep the process alive until a signal arrives.
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    await emulator.dispose();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    // Every listener is closed by now: the process ends on its own once stdout is flushed.
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`keyvault-emulator: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
