import { Agent } from "node:https";
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import {
  AggregateAuthenticationError,
  AuthenticationError,
  AuthenticationRequiredError,
  CredentialUnavailableError,
} from "@azure/identity";
import { describe, expect, it } from "vitest";
import { redactSecrets } from "../../../src/azure/sdk-errors.ts";
import { emulatorClientOptions, mapKeyVaultError } from "../../../src/crypto/keyvault-clients.ts";
import { StorageError } from "../../../src/errors.ts";

const KID = "https://myvault.vault.azure.net/keys/orthanc-kek/0123456789abcdef0123456789abcdef";
const ORIGIN = "https://myvault.vault.azure.net";
const TOKEN =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL3ZhdWx0LmF6dXJlLm5ldCJ9.c2lnbmF0dXJl";
const SECRET = "Sup3r~Secret.Value_123";

/** A RestError shaped like the ones @azure/keyvault-keys throws for a Key Vault error body. */
function restError(status: number, code: string | undefined, message: string): RestError {
  const request = createPipelineRequest({
    url: `${KID}/unwrapkey?api-version=2025-07-01`,
    headers: createHttpHeaders({ authorization: `Bearer ${TOKEN}` }),
  });
  return new RestError(message, {
    statusCode: status,
    ...(code === undefined ? {} : { code }),
    request,
    response: { status, headers: createHttpHeaders(), request },
  });
}

function networkError(code: string, message: string): RestError {
  return new RestError(message, { code });
}

function expectClean(error: StorageError): void {
  expect(error.message).not.toMatch(/[\r\n]/);
  expect(error.message).not.toContain(TOKEN);
  expect(error.message).not.toContain(SECRET);
  expect(error.message).not.toContain("eyJ");
}

describe("mapKeyVaultError: HTTP answers", () => {
  it.each([401, 403])("maps %i to access denied with the permissions needed", (status) => {
    const error = mapKeyVaultError(
      restError(
        status,
        "Forbidden",
        "The user, group or application 'appid=x' does not have keys unwrapKey permission",
      ),
      "unwrapKey",
      KID,
    );
    expect(error).toBeInstanceOf(StorageError);
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `unwrapKey with key ${KID}: access denied (HTTP ${status}, Forbidden): the identity needs the keys/get, keys/wrapKey and keys/unwrapKey permissions (RBAC: Key Vault Crypto Service Encryption User)`,
    );
  });

  it.each([
    ["Operation unwrapKey is not allowed on a disabled key.", "is disabled"],
    ["Operation wrapKey is not allowed on an expired key.", "has expired"],
    ["Operation wrapKey is not allowed on a not yet valid key.", "is not yet valid"],
  ])("maps a 403 %j to the key's state", (message, state) => {
    const error = mapKeyVaultError(restError(403, "Forbidden", message), "wrapKey", KID);
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(`wrapKey: key ${KID} ${state} (HTTP 403, Forbidden)`);
  });

  it("reads the key state from the error code too", () => {
    const error = mapKeyVaultError(restError(403, "KeyDisabled", "Forbidden"), "unwrapKey", KID);
    expect(error.message).toContain(`key ${KID} is disabled`);
  });

  it("maps 404 to a missing key", () => {
    const error = mapKeyVaultError(
      restError(404, "KeyNotFound", "A key with (name/id) orthanc-kek was not found in this key vault."),
      "getKey",
      KID,
    );
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(`getKey: key ${KID} was not found (HTTP 404, KeyNotFound)`);
  });

  it("maps 429 (after the SDK's retries) to throttling", () => {
    const error = mapKeyVaultError(
      restError(429, "Throttled", "Request was not processed"),
      "unwrapKey",
      KID,
    );
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(`unwrapKey with key ${KID}: Key Vault is throttling requests (HTTP 429)`);
  });

  it("maps 400 on unwrap to an integrity error, elsewhere to internal", () => {
    const unwrap = mapKeyVaultError(
      restError(400, "BadParameter", "The parameter is incorrect."),
      "unwrapKey",
      KID,
    );
    expect(unwrap.code).toBe("integrity");
    expect(unwrap.message).toBe(`unwrapKey: the wrapped content key does not unwrap with key ${KID}`);
    const wrap = mapKeyVaultError(restError(400, "BadParameter", "Unsupported algorithm"), "wrapKey", KID);
    expect(wrap.code).toBe("internal");
    expect(wrap.message).toContain("HTTP 400, BadParameter");
  });

  it.each([500, 502, 503, 504, 408])("maps HTTP %i to an unreachable vault", (status) => {
    const error = mapKeyVaultError(restError(status, "ServiceUnavailable", "try later"), "getKey", KID);
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `getKey with key ${KID}: cannot reach Key Vault at ${ORIGIN}: it answered HTTP ${status} (ServiceUnavailable)`,
    );
  });
});

describe("mapKeyVaultError: network and deadlines", () => {
  it.each([
    ["ECONNREFUSED", "connect ECONNREFUSED 10.0.0.1:443"],
    ["ENOTFOUND", "getaddrinfo ENOTFOUND myvault.vault.azure.net"],
    ["ECONNRESET", "socket hang up"],
    ["ETIMEDOUT", "no response within 30000 ms"],
    ["REQUEST_SEND_ERROR", "Error sending request"],
    ["SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"],
    ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"],
  ])("maps %s to an unreachable vault", (code, message) => {
    const error = mapKeyVaultError(networkError(code, message), "unwrapKey", KID);
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(`unwrapKey with key ${KID}: cannot reach Key Vault at ${ORIGIN}: ${message}`);
  });

  it("maps an abort to a timeout", () => {
    const abort = Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
    const error = mapKeyVaultError(abort, "getKey", KID);
    expect(error.code).toBe("timeout");
  });

  it("maps a refused authentication challenge", () => {
    const error = mapKeyVaultError(
      new Error(
        "The challenge resource 'vault.azure.net' does not match the requested domain. Set disableChallengeResourceVerification to true in your client options to disable.",
      ),
      "getKey",
      KID,
    );
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("authentication challenge was refused");
  });

  it("maps the SDK's local key checks", () => {
    expect(
      mapKeyVaultError(new Error(`Key ${KID} expired at 2024-01-01T00:00:00.000Z`), "unwrapKey", KID).message,
    ).toBe(`unwrapKey: key ${KID} has expired`);
    expect(
      mapKeyVaultError(new Error(`Operation wrapKey is not supported on key ${KID}`), "wrapKey", KID).message,
    ).toBe(`wrapKey: key ${KID} does not permit the wrapKey operation`);
  });

  it("returns StorageErrors unchanged and maps anything else to internal", () => {
    const original = new StorageError("timeout", "deadline passed");
    expect(mapKeyVaultError(original, "getKey", KID)).toBe(original);
    const unknown = mapKeyVaultError("weird", "getKey", KID);
    expect(unknown.code).toBe("internal");
    expect(unknown.message).toBe(`getKey with key ${KID}: unexpected error: weird`);
  });
});

describe("mapKeyVaultError: credentials", () => {
  it("maps CredentialUnavailableError to its first line", () => {
    const error = mapKeyVaultError(
      new CredentialUnavailableError(
        "ManagedIdentityCredential: Authentication failed. Message Attempted to use the IMDS endpoint, but it is not available.\nTo troubleshoot, visit https://aka.ms/azsdk/js/identity/managedidentitycredential/troubleshoot.",
      ),
      "getKey",
      KID,
    );
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `getKey with key ${KID}: cannot get a token for Key Vault: ManagedIdentityCredential: Authentication failed. Message Attempted to use the IMDS endpoint, but it is not available.`,
    );
  });

  it("maps AuthenticationError to the OAuth error and its description, without the secret", () => {
    const error = mapKeyVaultError(
      new AuthenticationError(401, {
        error: "invalid_client",
        error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. client_secret=${SECRET}\r\nTrace ID: 1\r\nCorrelation ID: 2`,
      }),
      "unwrapKey",
      KID,
    );
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(
      /^unwrapKey with key \S+: cannot get a token for Key Vault: invalid_client, HTTP 401: AADSTS7000215: Invalid client secret provided\./,
    );
    expectClean(error);
  });

  it("strips MSAL's formatting from AuthenticationRequiredError", () => {
    const error = mapKeyVaultError(
      new AuthenticationRequiredError({
        scopes: ["https://vault.azure.net/.default"],
        message:
          "invalid_client: Error(s): 7000215 - Timestamp: 2025-01-01 - Description: AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x - Correlation ID: y - Trace ID: z",
      }),
      "getKey",
      KID,
    );
    expect(error.message).toBe(
      `getKey with key ${KID}: cannot get a token for Key Vault: invalid_client: AADSTS7000215: Invalid client secret provided.`,
    );
  });

  it("summarises every credential of a chain on one line", () => {
    const error = mapKeyVaultError(
      new AggregateAuthenticationError(
        [
          new CredentialUnavailableError(
            "EnvironmentCredential is unavailable. No underlying credential could be used.\nMore",
          ),
          new CredentialUnavailableError("ManagedIdentityCredential: no managed identity endpoint"),
        ],
        "ChainedTokenCredential authentication failed.",
      ),
      "getKey",
      KID,
    );
    expect(error.message).toBe(
      `getKey with key ${KID}: cannot get a token for Key Vault: EnvironmentCredential is unavailable. No underlying credential could be used.; ManagedIdentityCredential: no managed identity endpoint`,
    );
  });
});

describe("secrets never reach a message", () => {
  const leaky = [
    `Request failed: Authorization: Bearer ${TOKEN}`,
    `{"access_token":"${TOKEN}","token_type":"Bearer"}`,
    `POST body client_secret=${SECRET}&grant_type=client_credentials`,
    `token ${TOKEN} rejected`,
    `${ORIGIN}/keys/k?client_secret=${SECRET}`,
  ];

  it.each(leaky)("redacts %s", (text) => {
    const redacted = redactSecrets(text);
    expect(redacted).not.toContain(TOKEN);
    expect(redacted).not.toContain(SECRET);
  });

  it.each(leaky)("in every mapping of %s", (text) => {
    const errors: unknown[] = [
      restError(400, "BadParameter", text),
      restError(409, "Conflict", text),
      networkError("ECONNRESET", text),
      new Error(text),
      new Error(`challenge: ${text}`),
      new CredentialUnavailableError(text),
      new AuthenticationError(400, { error: "invalid_request", error_description: text }),
      new AuthenticationError(500, text),
    ];
    for (const thrown of errors) {
      for (const operation of ["getKey", "wrapKey", "unwrapKey"]) {
        expectClean(mapKeyVaultError(thrown, operation, KID));
      }
    }
  });
});

describe("emulator mode in the Key Vault clients", () => {
  it("relaxes the challenge check and uses the emulator's CA for loopback vaults only", () => {
    const agent = new Agent();
    for (const origin of ["https://127.0.0.1:8443", "https://localhost:9000", "https://[::1]:8443"]) {
      expect(emulatorClientOptions(origin, agent)).toEqual({
        disableChallengeResourceVerification: true,
        agent,
      });
    }
    for (const origin of [
      "https://myvault.vault.azure.net",
      "https://127.0.0.1.attacker.example",
      "not a url",
    ]) {
      expect(emulatorClientOptions(origin, agent)).toEqual({});
    }
    expect(emulatorClientOptions("https://127.0.0.1:8443", undefined)).toEqual({});
    agent.destroy();
  });
});
