/**
 * Entra ID as MSAL (inside @azure/identity) speaks it for the client-credentials flow, and the
 * App Service managed identity endpoint (IDENTITY_ENDPOINT / IDENTITY_HEADER). Tokens are opaque
 * random strings valid for one hour, remembered (with tenant and audience) in the state.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { EmulatorState } from "./state.ts";
import { randomHex, readBody, sendJson } from "./util.ts";

export const TOKEN_LIFETIME_SECONDS = 3600;
const MSI_API_VERSION = "2019-08-01";
/** Scopes MSAL may add to any request; they name no resource. */
const OIDC_SCOPES = new Set(["openid", "profile", "offline_access"]);

export interface ClientPrincipal {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface EntraContext {
  readonly state: EmulatorState;
  readonly tenantId: string;
  readonly clients: ReadonlyArray<ClientPrincipal>;
  /** https://127.0.0.1:<port> of the authority listener. */
  authorityHost(): string;
  count(label: string): void;
}

export interface ManagedIdentityContext {
  readonly state: EmulatorState;
  readonly tenantId: string;
  readonly header: string;
  /** When set, only these user-assigned client ids are known. */
  readonly clientIds: readonly string[] | undefined;
  count(label: string): void;
}

/** Strips "/.default" and trailing slashes: https://vault.azure.net/.default → https://vault.azure.net */
export function normalizeResource(value: string): string {
  return value.replace(/\/\.default$/, "").replace(/\/+$/, "");
}

function aadError(
  response: ServerResponse,
  status: number,
  error: string,
  code: number,
  description: string,
): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "Z");
  sendJson(response, status, {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

function unknownTenant(response: ServerResponse, tenant: string): void {
  aadError(
    response,
    400,
    "invalid_tenant",
    90002,
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
  );
}

function openIdConfiguration(origin: string, tenant: string): Record<string, unknown> {
  const base = `${origin}/${tenant}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${base}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
    tenant_region_scope: "EU",
    cloud_instance_name: "emulator.local",
  };
}

/** client_id / client_secret from the form, or from an HTTP Basic authorization header. */
function clientCredentials(
  request: IncomingMessage,
  form: URLSearchParams,
): { id?: string; secret?: string } {
  const header = request.headers.authorization;
  if (header?.startsWith("Basic ")) {
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      return {
        id: decodeURIComponent(decoded.slice(0, colon)),
        secret: decodeURIComponent(decoded.slice(colon + 1)),
      };
    }
  }
  const id = form.get("client_id") ?? undefined;
  const secret = form.get("client_secret") ?? undefined;
  return { ...(id === undefined ? {} : { id }), ...(secret === undefined ? {} : { secret }) };
}

async function token(
  context: EntraContext,
  request: IncomingMessage,
  response: ServerResponse,
  tenant: string,
): Promise<void> {
  const form = new URLSearchParams((await readBody(request)).toString("utf8"));
  const fail = (status: number, error: string, code: number, description: string): void => {
    context.count("token-error");
    aadError(response, status, error, code, description);
  };
  if (tenant.toLowerCase() !== context.tenantId.toLowerCase()) {
    context.count("token-error");
    unknownTenant(response, tenant);
    return;
  }
  const grantType = form.get("grant_type");
  if (grantType === null) {
    fail(
      400,
      "invalid_request",
      900144,
      "The request body must contain the following parameter: 'grant_type'.",
    );
    return;
  }
  if (grantType !== "client_credentials") {
    fail(400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`);
    return;
  }
  const { id, secret } = clientCredentials(request, form);
  if (id === undefined || id === "") {
    fail(
      400,
      "invalid_request",
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    );
    return;
  }
  const principal = context.clients.find((client) => client.clientId.toLowerCase() === id.toLowerCase());
  if (principal === undefined) {
    fail(
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${id}' was not found in the directory '${context.tenantId}'.`,
    );
    return;
  }
  if (secret === undefined || secret === "") {
    fail(
      401,
      "invalid_client",
      7000216,
      "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
    );
    return;
  }
  if (secret !== principal.clientSecret) {
    fail(
      401,
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${principal.clientId}'.`,
    );
    return;
  }
  const scopes = (form.get("scope") ?? "").split(/\s+/).filter((s) => s !== "" && !OIDC_SCOPES.has(s));
  if (scopes.length === 0) {
    fail(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.");
    return;
  }
  if (scopes.length > 1) {
    fail(
      400,
      "invalid_scope",
      28000,
      "Provided value for the input parameter scope is not valid because it contains more than one resource.",
    );
    return;
  }
  const scope = scopes[0] ?? "";
  if (!scope.endsWith("/.default")) {
    fail(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
    return;
  }
  context.count("token");
  const issued = context.state.issueToken(
    context.tenantId,
    normalizeResource(scope),
    principal.clientId,
    TOKEN_LIFETIME_SECONDS,
  );
  sendJson(response, 200, {
    token_type: "Bearer",
    expires_in: TOKEN_LIFETIME_SECONDS - 1,
    ext_expires_in: TOKEN_LIFETIME_SECONDS - 1,
    access_token: issued.token,
  });
}

/** The Entra listener: OpenID configuration, JWKS, instance discovery and the token endpoint. */
export function createAuthorityHandler(
  context: EntraContext,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const url = new URL(request.url ?? "/", context.authorityHost());
    const segments = url.pathname.split("/").slice(1);
    const [tenant = "", ...rest] = segments;
    const route = rest.join("/");
    const method = request.method ?? "GET";
    const knownTenant = tenant.toLowerCase() === context.tenantId.toLowerCase();

    if (method === "GET" && tenant === "common" && route === "discovery/instance") {
      context.count("instance-discovery");
      const host = new URL(context.authorityHost()).host;
      sendJson(response, 200, {
        tenant_discovery_endpoint: `${context.authorityHost()}/{tenant}/v2.0/.well-known/openid-configuration`,
        "api-version": "1.1",
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
      });
      return;
    }
    if (
      method === "GET" &&
      (route === "v2.0/.well-known/openid-configuration" || route === "discovery/v2.0/keys")
    ) {
      const label = route === "discovery/v2.0/keys" ? "jwks" : "openid-configuration";
      context.count(label);
      if (!knownTenant) {
        context.count("token-error");
        unknownTenant(response, tenant);
      } else if (label === "jwks") {
        sendJson(response, 200, { keys: [] });
      } else {
        sendJson(response, 200, openIdConfiguration(context.authorityHost(), context.tenantId));
      }
      return;
    }
    if (route === "oauth2/v2.0/token") {
      if (method !== "POST") {
        context.count("not-found");
        sendJson(response, 405, { error: "invalid_request", error_description: "Use POST." });
        return;
      }
      await token(context, request, response, tenant);
      return;
    }
    context.count("not-found");
    sendJson(response, 404, {
      error: "not_found",
      error_description: `No route for ${method} ${url.pathname}`,
    });
  };
}

function msiError(response: ServerResponse, status: number, error: string, message: string): void {
  sendJson(response, status, {
    statusCode: status,
    message,
    error,
    error_description: message,
    correlationId: randomHex(16),
  });
}

/** The App Service style managed identity listener (plain http): GET /msi/token. */
export function createManagedIdentityHandler(
  context: ManagedIdentityContext,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/msi/token" || request.method !== "GET") {
      context.count("not-found");
      msiError(response, 404, "not_found", `No route for ${request.method ?? ""} ${url.pathname}`);
      return;
    }
    context.count("msi");
    const fail = (status: number, error: string, message: string): void => {
      context.count("msi-error");
      msiError(response, status, error, message);
    };
    const header = request.headers["x-identity-header"];
    if (typeof header !== "string" || header !== context.header) {
      fail(401, "unauthorized", "The X-IDENTITY-HEADER header is missing or wrong.");
      return;
    }
    const apiVersion = url.searchParams.get("api-version");
    if (apiVersion !== MSI_API_VERSION) {
      fail(400, "invalid_request", `api-version must be ${MSI_API_VERSION} (got ${apiVersion ?? "none"}).`);
      return;
    }
    const resource = url.searchParams.get("resource");
    if (resource === null || resource === "") {
      fail(400, "invalid_request", "The resource query parameter is required.");
      return;
    }
    for (const unsupported of ["principal_id", "object_id", "mi_res_id"]) {
      if (url.searchParams.has(unsupported)) {
        fail(400, "invalid_request", `${unsupported} is not emulated; select identities by client_id.`);
        return;
      }
    }
    const clientId = url.searchParams.get("client_id");
    if (clientId !== null && context.clientIds !== undefined && !context.clientIds.includes(clientId)) {
      fail(
        400,
        "invalid_request",
        `No managed identity with client_id '${clientId}' is assigned to this app.`,
      );
      return;
    }
    const subject = clientId ?? "system-assigned";
    const issued = context.state.issueToken(
      context.tenantId,
      normalizeResource(resource),
      subject,
      TOKEN_LIFETIME_SECONDS,
    );
    sendJson(response, 200, {
      access_token: issued.token,
      expires_on: String(issued.expiresOn),
      resource,
      token_type: "Bearer",
      ...(clientId === null ? {} : { client_id: clientId }),
    });
  };
}
