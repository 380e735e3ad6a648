/**
 * The Key Vault listener: challenge authentication, keys (get, create, rotate, update) and the
 * key operations (wrapkey, unwrapkey, encrypt, decrypt) with real node:crypto, plus faults.
 *
 * Order of checks for every request: added latency, bearer token (before the body is read, as
 * the SDK's first request has neither body nor token), throttling, api-version, route.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { normalizeResource } from "./entra.ts";
import {
  EmulatorError,
  type EmulatorState,
  KEY_TYPES,
  type KeyType,
  type KeyVersionRecord,
} from "./state.ts";
import { fromBase64Url, isRecord, nowSeconds, readBody, sendJson, sleep, toBase64Url } from "./util.ts";

export const VAULT_RESOURCE = "https://vault.azure.net";
export const KEY_OPS = ["wrapKey", "unwrapKey", "encrypt", "decrypt"] as const;
export const KEY_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** RFC 3394 default initial value. */
const AES_KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");

export interface VaultFaults {
  /** GET key answers 403 (a principal with wrapKey/unwrapKey but without keys/get). */
  forbidGet: boolean;
  /** Added to every vault response. */
  latencyMs: number;
  /** The next `remaining` authenticated vault requests answer 429 with Retry-After. */
  throttle: { remaining: number; retryAfterSeconds: number };
}

export interface VaultContext {
  readonly state: EmulatorState;
  readonly tenantId: string;
  readonly faults: VaultFaults;
  vaultUrl(): string;
  authorityHost(): string;
  count(label: string): void;
}

type Operation = "wrapkey" | "unwrapkey" | "encrypt" | "decrypt";
const OPERATIONS: readonly string[] = ["wrapkey", "unwrapkey", "encrypt", "decrypt"];
const OPERATION_NAMES: Record<Operation, string> = {
  wrapkey: "wrapKey",
  unwrapkey: "unwrapKey",
  encrypt: "encrypt",
  decrypt: "decrypt",
};

function keyId(vaultUrl: string, name: string, record: KeyVersionRecord): string {
  return `${vaultUrl}/keys/${name}/${record.version}`;
}

/** The key bundle as Key Vault returns it: public JWK parts only, attributes in epoch seconds. */
export function keyBundle(vaultUrl: string, name: string, record: KeyVersionRecord): Record<string, unknown> {
  const kid = keyId(vaultUrl, name, record);
  let key: Record<string, unknown> = { kid, kty: record.kty, key_ops: [...KEY_OPS] };
  if (record.privateKeyPem !== undefined) {
    const jwk = createPublicKey(record.privateKeyPem).export({ format: "jwk" });
    key = { ...key, n: jwk.n, e: jwk.e };
  }
  const { enabled, created, updated, exp, nbf } = record.attributes;
  return {
    key,
    attributes: {
      enabled,
      ...(nbf === undefined ? {} : { nbf }),
      ...(exp === undefined ? {} : { exp }),
      created,
      updated,
      recoveryLevel: "Recoverable+Purgeable",
      recoverableDays: 90,
    },
  };
}

function notFound(name: string, version: string | undefined): EmulatorError {
  const id = version === undefined || version === "" ? name : `${name}/${version}`;
  return new EmulatorError(
    404,
    "KeyNotFound",
    `A key with (name/id) ${id} was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );
}

function badParameter(message: string): EmulatorError {
  return new EmulatorError(400, "BadParameter", message);
}

/**
 * 403 for an operation on a disabled version, and for wrap/encrypt outside its nbf/exp window.
 * As in Azure, unwrap and decrypt keep working outside the window, so that data protected
 * before a key expired stays readable; only disabling a version stops them.
 */
function checkUsable(record: KeyVersionRecord, operation: Operation): void {
  const { enabled, exp, nbf } = record.attributes;
  const name = OPERATION_NAMES[operation];
  const now = nowSeconds();
  if (!enabled) {
    throw new EmulatorError(
      403,
      "Forbidden",
      `Operation ${name} is not allowed on a disabled key.`,
      "KeyDisabled",
    );
  }
  const protecting = operation === "wrapkey" || operation === "encrypt";
  if (protecting && exp !== undefined && now >= exp) {
    throw new EmulatorError(
      403,
      "Forbidden",
      `Operation ${name} is not allowed on an expired key.`,
      "KeyExpired",
    );
  }
  if (protecting && nbf !== undefined && now < nbf) {
    throw new EmulatorError(
      403,
      "Forbidden",
      `Operation ${name} is not allowed on a key that is not yet valid.`,
      "KeyNotYetValid",
    );
  }
}

function rsaOperation(privateKey: KeyObject, operation: Operation, alg: string, value: Buffer): Buffer {
  if (alg === "RSA1_5") {
    throw badParameter("RSA1_5 is not supported by this emulator (Node refuses PKCS#1 v1.5 decryption).");
  }
  if (alg !== "RSA-OAEP" && alg !== "RSA-OAEP-256") {
    throw badParameter(`Algorithm ${alg} is not valid for an RSA key.`);
  }
  const options = {
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: alg === "RSA-OAEP" ? "sha1" : "sha256",
  };
  try {
    if (operation === "wrapkey" || operation === "encrypt") {
      return publicEncrypt({ key: createPublicKey(privateKey), ...options }, value);
    }
    return privateDecrypt({ key: privateKey, ...options }, value);
  } catch {
    throw badParameter(`The ${OPERATION_NAMES[operation]} input is not valid for ${alg} with this key.`);
  }
}

function aesKeyWrap(key: Buffer, operation: Operation, alg: string, value: Buffer): Buffer {
  const bits = key.length * 8;
  if (operation === "encrypt" || operation === "decrypt") {
    throw badParameter("encrypt/decrypt with oct-HSM keys is not supported by this emulator; use wrapkey.");
  }
  if (!/^A(128|192|256)KW$/.test(alg))
    throw badParameter(`Algorithm ${alg} is not valid for an oct-HSM key.`);
  if (alg !== `A${bits}KW`) throw badParameter(`Algorithm ${alg} does not match the ${bits}-bit key.`);
  const minimum = operation === "wrapkey" ? 16 : 24;
  if (value.length < minimum || value.length % 8 !== 0) {
    throw badParameter(`${alg} input must be a multiple of 8 bytes and at least ${minimum} bytes.`);
  }
  const cipher = `id-aes${bits}-wrap`;
  try {
    const transform =
      operation === "wrapkey"
        ? createCipheriv(cipher, key, AES_KW_IV)
        : createDecipheriv(cipher, key, AES_KW_IV);
    return Buffer.concat([transform.update(value), transform.final()]);
  } catch {
    throw badParameter(`The ${OPERATION_NAMES[operation]} input failed the ${alg} integrity check.`);
  }
}

function cryptoOperation(record: KeyVersionRecord, operation: Operation, body: unknown): Buffer {
  if (!isRecord(body)) throw badParameter("The request body must be a JSON object with alg and value.");
  const { alg } = body;
  if (typeof alg !== "string" || alg === "") throw badParameter("alg is required.");
  const value = fromBase64Url(body.value);
  if (value === undefined) throw badParameter("value is required, in base64url.");
  if (record.octHex !== undefined)
    return aesKeyWrap(Buffer.from(record.octHex, "hex"), operation, alg, value);
  return rsaOperation(createPrivateKey(record.privateKeyPem ?? ""), operation, alg, value);
}

/** exp/nbf from an attributes object: number = set, null = clear, absent = unchanged. */
function attributeChanges(value: unknown): { enabled?: boolean; exp?: number | null; nbf?: number | null } {
  if (value === undefined) return {};
  if (!isRecord(value)) throw badParameter("attributes must be an object.");
  const changes: { enabled?: boolean; exp?: number | null; nbf?: number | null } = {};
  if (value.enabled !== undefined) {
    if (typeof value.enabled !== "boolean") throw badParameter("attributes.enabled must be a boolean.");
    changes.enabled = value.enabled;
  }
  for (const field of ["exp", "nbf"] as const) {
    const item = value[field];
    if (item === undefined) continue;
    if (item !== null && (typeof item !== "number" || !Number.isInteger(item))) {
      throw badParameter(`attributes.${field} must be epoch seconds.`);
    }
    changes[field] = item;
  }
  return changes;
}

async function jsonBody(request: IncomingMessage): Promise<unknown> {
  const raw = (await readBody(request)).toString("utf8");
  if (raw.trim() === "") return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw badParameter("The request body is not valid JSON.");
  }
}

function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

export function createVaultHandler(
  context: VaultContext,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const challengeHeader = (): Record<string, string> => ({
    "www-authenticate": `Bearer authorization="${context.authorityHost()}/${context.tenantId}", resource="${VAULT_RESOURCE}"`,
  });

  async function route(
    request: IncomingMessage,
    response: ServerResponse,
    segments: readonly string[],
  ): Promise<void> {
    const method = request.method ?? "GET";
    // segments of "/keys/name/version/op": "", "keys", name, version, op (empty segments kept)
    const [root, collection, name, second, third, ...extra] = segments;
    if (root !== "" || collection !== "keys" || name === undefined || extra.length > 0) {
      context.count("not-found");
      throw new EmulatorError(404, "NotFound", `No route for ${method} ${segments.join("/")}.`);
    }
    if (!KEY_NAME.test(name)) {
      throw badParameter(`Key name ${JSON.stringify(name)} is invalid: 1-127 letters, digits and dashes.`);
    }
    const vaultUrl = context.vaultUrl();

    if ((method === "GET" || method === "PATCH") && third === undefined) {
      const version = second ?? "";
      if (method === "GET") {
        context.count("get-key");
        if (context.faults.forbidGet) {
          throw new EmulatorError(
            403,
            "Forbidden",
            `The user, group or application does not have keys get permission on key vault '${new URL(vaultUrl).host}'.`,
            "ForbiddenByPolicy",
          );
        }
        const record = context.state.findKey(name, version);
        if (record === undefined) throw notFound(name, version);
        sendJson(response, 200, keyBundle(vaultUrl, name, record));
        return;
      }
      context.count("update");
      const body = await jsonBody(request);
      const record = context.state.findKey(name, version);
      if (record === undefined) throw notFound(name, version);
      context.state.updateAttributes(record, attributeChanges(isRecord(body) ? body.attributes : undefined));
      sendJson(response, 200, keyBundle(vaultUrl, name, record));
      return;
    }

    if (method === "POST" && third === undefined && (second === "create" || second === "rotate")) {
      context.count(second);
      const body = await jsonBody(request);
      if (second === "rotate") {
        sendJson(response, 200, keyBundle(vaultUrl, name, context.state.rotate(name)));
        return;
      }
      if (!isRecord(body)) throw badParameter("The request body must be a JSON object.");
      const { kty, key_size: size } = body;
      if (!KEY_TYPES.includes(kty as KeyType)) {
        throw badParameter(
          `Key type ${String(kty)} is not supported by this emulator (RSA, RSA-HSM, oct-HSM).`,
        );
      }
      if (size !== undefined && (typeof size !== "number" || !Number.isInteger(size))) {
        throw badParameter("key_size must be an integer.");
      }
      const changes = attributeChanges(body.attributes);
      const record = context.state.createVersion(name, kty as KeyType, size, {
        ...(changes.enabled === undefined ? {} : { enabled: changes.enabled }),
        ...(typeof changes.exp === "number" ? { exp: changes.exp } : {}),
        ...(typeof changes.nbf === "number" ? { nbf: changes.nbf } : {}),
      });
      sendJson(response, 200, keyBundle(vaultUrl, name, record));
      return;
    }

    if (method === "POST" && second !== undefined && third !== undefined && OPERATIONS.includes(third)) {
      const operation = third as Operation;
      context.count(operation);
      const body = await jsonBody(request);
      const record = context.state.findKey(name, second);
      if (record === undefined) throw notFound(name, second);
      checkUsable(record, operation);
      const value = cryptoOperation(record, operation, body);
      sendJson(response, 200, { kid: keyId(vaultUrl, name, record), value: toBase64Url(value) });
      return;
    }

    context.count("not-found");
    throw new EmulatorError(405, "MethodNotAllowed", `No route for ${method} ${segments.join("/")}.`);
  }

  return async (request, response) => {
    if (context.faults.latencyMs > 0) await sleep(context.faults.latencyMs);
    const url = new URL(request.url ?? "/", context.vaultUrl());
    try {
      const token = bearerToken(request);
      if (token === undefined) {
        context.count("challenge");
        throw new EmulatorError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
      }
      const record = context.state.validToken(token);
      if (record === undefined) {
        context.count("unauthorized");
        throw new EmulatorError(401, "Unauthorized", "AKV10022: Invalid audience or expired token.");
      }
      if (record.tenantId.toLowerCase() !== context.tenantId.toLowerCase()) {
        context.count("unauthorized");
        throw new EmulatorError(401, "Unauthorized", "AKV10032: Invalid issuer (token from another tenant).");
      }
      if (normalizeResource(record.audience) !== VAULT_RESOURCE) {
        context.count("unauthorized");
        throw new EmulatorError(401, "Unauthorized", `AKV10022: Invalid audience ${record.audience}.`);
      }
      const { throttle } = context.faults;
      if (throttle.remaining > 0) {
        throttle.remaining -= 1;
        context.count("throttled");
        sendJson(
          response,
          429,
          {
            error: {
              code: "Throttled",
              message: "Request was not processed because too many requests were received. (emulated)",
            },
          },
          { "retry-after": String(throttle.retryAfterSeconds) },
        );
        return;
      }
      if (!url.searchParams.get("api-version")) {
        throw badParameter("The api-version query parameter is required.");
      }
      await route(request, response, url.pathname.split("/"));
    } catch (error) {
      if (!(error instanceof EmulatorError)) throw error;
      if (error.status === 403) context.count("forbidden");
      if (error.status === 404 && error.code === "KeyNotFound") context.count("not-found");
      if (error.status === 400 && error.code === "BadParameter") context.count("bad-request");
      const headers = error.status === 401 ? challengeHeader() : {};
      const body: Record<string, unknown> = { code: error.code, message: error.message };
      if (error.innerCode !== undefined) body.innererror = { code: error.innerCode };
      sendJson(response, error.status, { error: body }, headers);
    }
  };
}
