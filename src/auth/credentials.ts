/**
 * Entra ID credentials shared by Key Vault and Blob Storage.
 *
 * - "client-secret": a service principal (AzureBlobStorage.AzureKeyVault clientId/clientSecret).
 *   The old plugin's configuration had no tenant id; when it is missing, the tenant is read from
 *   the vault's authentication challenge (one unauthenticated GET).
 * - "chain": environment (service principal from AZURE_* variables), workload identity (only when
 *   AZURE_FEDERATED_TOKEN_FILE is set), managed identity. Deliberately not DefaultAzureCredential:
 *   its developer-tool credentials (Azure CLI, PowerShell, azd) spawn child processes, which the
 *   embedding host forbids.
 *
 * Emulator mode (tests only) points the credential at a local authority (authorityHost, with
 * instance discovery off) and trusts the emulator's CA through an https.Agent passed as the
 * pipeline `agent` option: inside Orthanc, NODE_EXTRA_CA_CERTS is not honoured.
 */
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import {
  ChainedTokenCredential,
  ClientSecretCredential,
  type ClientSecretCredentialOptions,
  EnvironmentCredential,
  ManagedIdentityCredential,
  type TokenCredential,
  WorkloadIdentityCredential,
} from "@azure/identity";
import { firstLine, oneLine, safeUrl } from "../azure/sdk-errors.ts";
import { describeError, StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { describeStringShape, TENANT_ID_PATTERN } from "./entra-ids.ts";

export type CredentialSettings =
  | { kind: "client-secret"; tenantId?: string; clientId: string; clientSecret: string }
  | { kind: "chain"; managedIdentityClientId?: string };

export interface EmulatorAuth {
  /** https URL of the emulated Entra authority, e.g. https://127.0.0.1:8443 */
  authorityHost: string;
  /** PEM of the CA that signed the emulators' certificates. */
  caPem: string;
}

export interface CreateTokenCredentialOptions {
  /** Where to read the tenant from when a client-secret setting has none. */
  vaultUrlForTenantDiscovery?: string;
  /** Tests only. */
  emulator?: EmulatorAuth;
  logger?: Logger;
}

export interface DiscoverTenantOptions {
  /** Trust this CA (PEM) instead of the system's (emulator only). */
  caPem?: string;
  /** Whole request, default 10 s. */
  timeoutMs?: number;
}

const DEFAULT_DISCOVERY_TIMEOUT_MS = 10_000;
const DISCOVERY_API_VERSION = "7.4";
const TENANT_HINT = "set AzureBlobStorage.AzureKeyVault.tenantId to the directory (tenant) id";

/** Builds the credential. Only a missing tenant id costs a request (the challenge). */
export async function createTokenCredential(
  settings: CredentialSettings,
  options: CreateTokenCredentialOptions = {},
): Promise<TokenCredential> {
  const { emulator, logger } = options;
  if (emulator !== undefined && !isHttpsUrl(emulator.authorityHost)) {
    throw new StorageError(
      "invalid-argument",
      `the emulator's authority host must be an https URL but received ${JSON.stringify(safeUrl(emulator.authorityHost))}`,
    );
  }
  const agent = emulator === undefined ? undefined : new HttpsAgent({ keepAlive: true, ca: emulator.caPem });

  if (settings.kind === "client-secret") {
    let tenantId = settings.tenantId;
    if (tenantId === undefined || tenantId === "") {
      const vaultUrl = options.vaultUrlForTenantDiscovery;
      if (vaultUrl === undefined) {
        throw new StorageError(
          "invalid-argument",
          `a client secret credential needs a tenant id and there is no vault to discover it from: ${TENANT_HINT}`,
        );
      }
      tenantId = await discoverTenantFromChallenge(
        vaultUrl,
        emulator === undefined ? {} : { caPem: emulator.caPem },
      );
      logger?.info(`Key Vault tenant discovered from its authentication challenge: ${tenantId}`);
    } else if (!TENANT_ID_PATTERN.test(tenantId)) {
      throw new StorageError(
        "invalid-argument",
        `Expected a tenant id (a GUID or a domain name) but received ${describeStringShape(tenantId, "a GUID or a domain name")}`,
      );
    }
    const credentialOptions: ClientSecretCredentialOptions =
      emulator === undefined || agent === undefined
        ? {}
        : { authorityHost: emulator.authorityHost, disableInstanceDiscovery: true, agent };
    try {
      return new ClientSecretCredential(
        tenantId,
        settings.clientId,
        settings.clientSecret,
        credentialOptions,
      );
    } catch (error) {
      // The SDK's messages name the argument, never its value; keep to the first line anyway.
      throw new StorageError(
        "invalid-argument",
        `cannot create the client secret credential: ${firstLine(describeError(error))}`,
      );
    }
  }

  return createChainCredential(settings.managedIdentityClientId, logger, agent);
}

/**
 * The "chain" credential: environment (service principal from AZURE_* variables), workload
 * identity (only when AZURE_FEDERATED_TOKEN_FILE is set), managed identity. Sends nothing.
 * `agent` (emulator only) carries the CA trusted by the environment and workload credentials.
 */
export function createChainCredential(
  managedIdentityClientId?: string,
  logger?: Logger,
  agent?: HttpsAgent,
): TokenCredential {
  const tlsOptions = agent === undefined ? {} : { agent };
  const credentials: TokenCredential[] = [new EnvironmentCredential(tlsOptions)];
  if (process.env.AZURE_FEDERATED_TOKEN_FILE) {
    try {
      credentials.push(new WorkloadIdentityCredential(tlsOptions));
    } catch (error) {
      logger?.warning(`Workload identity is not usable: ${oneLine(describeError(error))}`);
    }
  }
  // No agent here: the managed identity endpoint (IMDS, App Service) is plain http.
  credentials.push(
    managedIdentityClientId === undefined
      ? new ManagedIdentityCredential()
      : new ManagedIdentityCredential({ clientId: managedIdentityClientId }),
  );
  return new ChainedTokenCredential(...credentials);
}

/**
 * Reads the vault's tenant from its authentication challenge: an unauthenticated
 * `GET <vault>/keys?api-version=7.4` must answer 401 with
 * `WWW-Authenticate: Bearer authorization="https://login.windows.net/<tenant>", ...`
 * (or `authorization_uri=`). The tenant is the last path segment of that URL.
 */
export async function discoverTenantFromChallenge(
  vaultUrl: string,
  options: DiscoverTenantOptions = {},
): Promise<string> {
  let url: URL;
  try {
    url = new URL(vaultUrl);
  } catch {
    throw new StorageError(
      "invalid-argument",
      `cannot discover the Key Vault tenant: ${JSON.stringify(safeUrl(vaultUrl))} is not a URL`,
    );
  }
  if (url.protocol !== "https:" || url.username !== "" || url.password !== "") {
    throw new StorageError(
      "invalid-argument",
      `cannot discover the Key Vault tenant: the vault URL must be https without credentials but received ${JSON.stringify(safeUrl(vaultUrl))}`,
    );
  }
  const target = new URL(`${url.origin}/keys`);
  target.searchParams.set("api-version", DISCOVERY_API_VERSION);
  const timeoutMs = options.timeoutMs ?? DEFAULT_DISCOVERY_TIMEOUT_MS;
  const where = url.origin;
  const unavailable = (reason: string): StorageError =>
    new StorageError(
      "unavailable",
      `cannot discover the Key Vault tenant from ${where}: ${reason}; ${TENANT_HINT}`,
    );

  return await new Promise<string>((resolve, reject) => {
    let settled = false;
    const finish = (error: StorageError | undefined, tenant?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) reject(error);
      else resolve(tenant ?? "");
    };
    const req = httpsRequest(
      target,
      {
        method: "GET",
        headers: { Accept: "application/json" },
        ...(options.caPem === undefined ? {} : { ca: options.caPem }),
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("error", () => {});
        const status = res.statusCode ?? 0;
        if (status !== 401) {
          finish(
            unavailable(`expected HTTP 401 with an authentication challenge but received HTTP ${status}`),
          );
          return;
        }
        const header = res.headers["www-authenticate"];
        const challenge = Array.isArray(header) ? header.join(", ") : header;
        if (challenge === undefined || challenge === "") {
          finish(unavailable("the HTTP 401 answer has no WWW-Authenticate challenge"));
          return;
        }
        const tenant = tenantFromChallenge(challenge);
        if (tenant === undefined) {
          finish(
            unavailable(
              `the challenge has no authorization URL ending in a tenant id (${JSON.stringify(challenge.slice(0, 200))})`,
            ),
          );
          return;
        }
        finish(undefined, tenant);
      },
    );
    const timer = setTimeout(() => {
      finish(unavailable(`no answer within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on("error", (error: NodeJS.ErrnoException) => {
      finish(unavailable(`${error.code ?? "request failed"}: ${firstLine(error.message)}`));
    });
    req.end();
  });
}

/**
 * The tenant named by a Bearer challenge's `authorization` (or `authorization_uri`) parameter:
 * the last non-empty path segment of that URL. Undefined when there is none.
 */
export function tenantFromChallenge(challenge: string): string | undefined {
  const match = /(?:^|[\s,])(authorization|authorization_uri)\s*=\s*(?:"([^"]*)"|([^\s,]+))/i.exec(challenge);
  const value = match?.[2] ?? match?.[3];
  if (value === undefined || value === "") return undefined;
  let authority: URL;
  try {
    authority = new URL(value);
  } catch {
    return undefined;
  }
  if (authority.protocol !== "https:") return undefined;
  const segments = authority.pathname.split("/").filter((segment) => segment.length > 0);
  const tenant = segments[segments.length - 1];
  if (tenant === undefined || !TENANT_ID_PATTERN.test(tenant)) return undefined;
  return tenant;
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}
