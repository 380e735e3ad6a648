/**
 * A local Azure Key Vault (keys) + Entra ID (client credentials) + App Service managed identity
 * emulator that the real, unmodified @azure/identity and @azure/keyvault-keys run against. Node
 * built-ins only, plus the `openssl` CLI for a throwaway CA. Listens on 127.0.0.1 only.
 * TEST USE ONLY: private keys are kept in clear in the state file.
 *
 * How a client must be configured (verified with @azure/identity 4.14.1, @azure/keyvault-keys
 * 4.10.2, @azure/core-rest-pipeline 1.24, by test/integration/keyvault-emulator.test.ts). Trust
 * is per client through the pipeline options, never NODE_EXTRA_CA_CERTS (read at process start
 * only, and not honoured by the runtime embedded in Orthanc):
 *
 *   const tlsOptions = { ca: emulator.caPem };           // or: const agent = new https.Agent({ ca })
 *   const credential = new ClientSecretCredential(emulator.tenantId, clientId, clientSecret, {
 *     authorityHost: emulator.authorityHost,              // https://127.0.0.1:<port>
 *     disableInstanceDiscovery: true,                     // else MSAL calls login.microsoftonline.com
 *     tlsOptions,                                         // or: agent
 *   });
 *   const keys = new KeyClient(emulator.vaultUrl, credential, {
 *     disableChallengeResourceVerification: true,         // 127.0.0.1 is not *.vault.azure.net
 *     tlsOptions,                                         // or: agent
 *   });
 *   const crypto = new CryptographyClient(versionedKid, credential, { same options as KeyClient });
 *
 * Both `tlsOptions: { ca }` and `agent: new https.Agent({ ca })` are PipelineOptions that the
 * credential (MSAL's network client is the identity pipeline) and the Key Vault clients accept.
 * An `agent` is used for every request of its pipeline, so never give an https.Agent to
 * ManagedIdentityCredential: its endpoint is plain http and every token request then fails with
 * MSAL's "network_error". It needs no TLS option at all.
 *
 * Managed identity trap (MSAL node 7.2): the App Service source (IDENTITY_ENDPOINT, IDENTITY_HEADER
 * and the HTTP client of the FIRST ManagedIdentityCredential that asks for a token) is a static
 * of ManagedIdentityClient, kept for the life of the process; its token cache is static too. A
 * later credential with other options or other environment variables still uses the first ones.
 *
 * Wrong client secret: @azure/identity 4.14 surfaces Entra's invalid_client (AADSTS7000215) as
 * AuthenticationRequiredError (cause: MSAL ServerError), not AuthenticationError. A CA the client
 * does not trust surfaces as CredentialUnavailableError "endpoints_resolution_error".
 *
 * `disableInstanceDiscovery` and `disableChallengeResourceVerification` are emulator-only
 * settings: never set them for a real vault. Run one emulator per state file at a time.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTlsMaterial } from "./ca.ts";
import { type ClientPrincipal, createAuthorityHandler, createManagedIdentityHandler } from "./entra.ts";
import { EmulatorError, EmulatorState } from "./state.ts";
import { BodyTooLargeError, randomHex, sendJson, sleep } from "./util.ts";
import { createVaultHandler, KEY_NAME, type VaultFaults } from "./vault.ts";

export interface KeyVaultEmulatorOptions {
  /** JSON state persisted on every change and loaded at start (keys survive restarts). */
  stateFile?: string;
  /** Default: DEFAULT_TENANT_ID. */
  tenantId?: string;
  /** Client-credentials principals; default one test client (DEFAULT_CLIENT). */
  clients?: Array<{ clientId: string; clientSecret: string }>;
  /** App-Service-style MI endpoint; `header` is required in X-IDENTITY-HEADER (default random). */
  managedIdentity?: { header?: string; clientIds?: string[] };
  /** Default: free ports (0), kept across stop()/restart(). */
  vaultPort?: number;
  authorityPort?: number;
  identityPort?: number;
  /** Where the CA files go (reused when valid); default a temp dir deleted by dispose(). */
  workDir?: string;
}

export interface KeyVaultEmulator {
  /** https://127.0.0.1:<port>; kids are `${vaultUrl}/keys/<name>/<version>`. */
  readonly vaultUrl: string;
  /** https://127.0.0.1:<port> (Entra). */
  readonly authorityHost: string;
  /** http://127.0.0.1:<port>/msi/token (IDENTITY_ENDPOINT). */
  readonly identityEndpoint: string;
  /** IDENTITY_HEADER. */
  readonly identityHeader: string;
  readonly tenantId: string;
  /** PEM file of the throwaway CA. */
  readonly caFile: string;
  readonly caPem: string;
  readonly clients: ReadonlyArray<{ clientId: string; clientSecret: string }>;
  /** A new version (a new key when the name is new); RSA 2048 by default. */
  createKey(name: string, options?: { kty?: "RSA" | "oct-HSM"; size?: number }): { kid: string };
  /** A new version of an existing key, same type and size as the latest. */
  rotateKey(name: string): { kid: string };
  /** The versioned kid of the latest version of `name`, or undefined when there is no such key. */
  latestKid(name: string): string | undefined;
  /** `kid` versioned (unversioned: the latest version); null clears expiresOn/notBefore. */
  setKeyAttributes(
    kid: string,
    attributes: { enabled?: boolean; expiresOn?: Date | null; notBefore?: Date | null },
  ): void;
  /** Mutable fault knobs, read on every vault request. */
  readonly faults: VaultFaults;
  /**
   * Request counts by label. Vault: "challenge" (no token: 401 + WWW-Authenticate),
   * "unauthorized" (bad/expired token), "throttled" (429), else the route ("get-key", "create",
   * "rotate", "update", "wrapkey", "unwrapkey", "encrypt", "decrypt") plus, for failures,
   * "forbidden", "not-found" or "bad-request". Entra: "openid-configuration", "jwks",
   * "instance-discovery", "token" (issued) or "token-error". MI: "msi" (+ "msi-error").
   */
  stats(): Record<string, number>;
  resetStats(): void;
  /** Stops listening (state kept), dropping open connections: clients see connection refused. */
  stop(): Promise<void>;
  /** Listens again on the same ports with the same state. */
  restart(): Promise<void>;
  /** stop() + delete the temporary work directory (a caller-provided workDir and stateFile stay). */
  dispose(): Promise<void>;
}

/** Fixed defaults, so a dev configuration can name them. Test values, not secrets. */
export const DEFAULT_TENANT_ID = "5c1b7a52-8a0e-4f3c-9d41-0e6b2f7d9a13";
export const DEFAULT_CLIENT: Readonly<ClientPrincipal> = {
  clientId: "0b5e8f3a-6c2d-4e71-a9f4-3d8c1e27b650",
  clientSecret: "keyvault-emulator-test-secret",
};

const HOST = "127.0.0.1";
const STOP_SETTLE_MS = 20;

type Handler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

function guard(handler: Handler): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    handler(request, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      if (error instanceof BodyTooLargeError) {
        sendJson(response, 413, { error: { code: "RequestTooLarge", message: error.message } });
        return;
      }
      sendJson(response, 500, {
        error: { code: "InternalError", message: `emulator error: ${String(error)}` },
      });
    });
  };
}

/** A server on a fixed port (0 = a free one, kept once chosen) plus its open sockets. */
class Listener {
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(public port: number) {}

  attach(server: Server): void {
    this.server = server;
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
  }

  listen(): Promise<void> {
    const server = this.server;
    if (server === undefined || server.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        server.off("listening", onListening);
        reject(error);
      };
      const onListening = (): void => {
        server.off("error", onError);
        this.port = (server.address() as AddressInfo).port;
        resolve();
      };
      server.once("error", onError);
      server.once("listening", onListening);
      server.listen({ host: HOST, port: this.port, exclusive: true });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (server === undefined || !server.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      server.close((error) => (error === undefined ? resolve() : reject(error)));
      for (const socket of this.sockets) socket.destroy();
      this.sockets.clear();
    });
  }
}

function epochSeconds(value: Date | null | undefined): number | null | undefined {
  if (value === undefined || value === null) return value;
  const ms = value.getTime();
  if (Number.isNaN(ms)) throw new Error("invalid Date");
  return Math.floor(ms / 1000);
}

/** name and version ("" when absent) of `https://<host>/keys/<name>[/<version>]`. */
function parseKid(kid: string): { name: string; version: string } {
  const parts = new URL(kid).pathname.split("/");
  const [root, collection, name, version = "", ...rest] = parts;
  if (root !== "" || collection !== "keys" || name === undefined || rest.length > 0 || !KEY_NAME.test(name)) {
    throw new Error(`not a key id: ${kid}`);
  }
  return { name, version };
}

export async function startKeyVaultEmulator(
  options: KeyVaultEmulatorOptions = {},
): Promise<KeyVaultEmulator> {
  const ownWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), "keyvault-emulator-"));
  const tls = ensureTlsMaterial(workDir);
  const state = new EmulatorState(options.stateFile);
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const clients: ReadonlyArray<ClientPrincipal> = (options.clients ?? [DEFAULT_CLIENT]).map((client) => ({
    clientId: client.clientId,
    clientSecret: client.clientSecret,
  }));
  const identityHeader = options.managedIdentity?.header ?? randomHex(16);
  const faults: VaultFaults = {
    forbidGet: false,
    latencyMs: 0,
    throttle: { remaining: 0, retryAfterSeconds: 1 },
  };
  const counts = new Map<string, number>();
  const count = (label: string): void => {
    counts.set(label, (counts.get(label) ?? 0) + 1);
  };

  const vault = new Listener(options.vaultPort ?? 0);
  const authority = new Listener(options.authorityPort ?? 0);
  const identity = new Listener(options.identityPort ?? 0);
  const vaultUrl = (): string => `https://${HOST}:${vault.port}`;
  const authorityHost = (): string => `https://${HOST}:${authority.port}`;
  const serverTls = { key: tls.keyPem, cert: tls.certPem };
  vault.attach(
    createHttpsServer(
      serverTls,
      guard(createVaultHandler({ state, tenantId, faults, vaultUrl, authorityHost, count })),
    ),
  );
  authority.attach(
    createHttpsServer(
      serverTls,
      guard(createAuthorityHandler({ state, tenantId, clients, authorityHost, count })),
    ),
  );
  identity.attach(
    createHttpServer(
      guard(
        createManagedIdentityHandler({
          state,
          tenantId,
          header: identityHeader,
          clientIds: options.managedIdentity?.clientIds,
          count,
        }),
      ),
    ),
  );
  const listeners = [vault, authority, identity];

  const stop = async (): Promise<void> => {
    await Promise.all(listeners.map((listener) => listener.close()));
    // Let in-process clients see their pooled keep-alive sockets close, so their next request
    // gets a fresh "connection refused" rather than a reset on a stale socket.
    await sleep(STOP_SETTLE_MS);
  };
  const restart = async (): Promise<void> => {
    try {
      await Promise.all(listeners.map((listener) => listener.listen()));
    } catch (error) {
      await stop();
      throw error;
    }
  };
  try {
    await restart();
  } catch (error) {
    if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
    throw error;
  }

  const kidOf = (name: string, version: string): string => `${vaultUrl()}/keys/${name}/${version}`;
  const checkName = (name: string): void => {
    if (!KEY_NAME.test(name)) throw new Error(`invalid key name ${JSON.stringify(name)}`);
  };

  return {
    vaultUrl: vaultUrl(),
    authorityHost: authorityHost(),
    identityEndpoint: `http://${HOST}:${identity.port}/msi/token`,
    identityHeader,
    tenantId,
    caFile: tls.caFile,
    caPem: tls.caPem,
    clients,
    faults,
    createKey(name, keyOptions = {}) {
      checkName(name);
      const record = state.createVersion(name, keyOptions.kty ?? "RSA", keyOptions.size);
      return { kid: kidOf(name, record.version) };
    },
    rotateKey(name) {
      checkName(name);
      try {
        return { kid: kidOf(name, state.rotate(name).version) };
      } catch (error) {
        throw error instanceof EmulatorError ? new Error(`rotateKey: ${error.message}`) : error;
      }
    },
    latestKid(name) {
      const record = state.findKey(name);
      return record === undefined ? undefined : kidOf(name, record.version);
    },
    setKeyAttributes(kid, attributes) {
      const { name, version } = parseKid(kid);
      const record = state.findKey(name, version);
      if (record === undefined) throw new Error(`setKeyAttributes: no key ${kid}`);
      const exp = epochSeconds(attributes.expiresOn);
      const nbf = epochSeconds(attributes.notBefore);
      state.updateAttributes(record, {
        ...(attributes.enabled === undefined ? {} : { enabled: attributes.enabled }),
        ...(exp === undefined ? {} : { exp }),
        ...(nbf === undefined ? {} : { nbf }),
      });
    },
    stats: () => Object.fromEntries(counts),
    resetStats: () => counts.clear(),
    stop,
    restart,
    async dispose() {
      await stop();
      if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
    },
  };
}
