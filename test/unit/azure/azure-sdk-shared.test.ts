import {
  createHttpHeaders,
  createPipelineRequest,
  type PipelineResponse,
  type SendRequest,
} from "@azure/core-rest-pipeline";
import { ChainedTokenCredential } from "@azure/identity";
import { describe, expect, it } from "vitest";
import { createChainCredential } from "../../../src/auth/credentials.ts";
import { perTryTimeoutPolicy } from "../../../src/azure/per-try-timeout-policy.ts";
import {
  classifyTransportCode,
  firstLine,
  isCredentialError,
  oneLine,
  redactSecrets,
  safeUrl,
} from "../../../src/azure/sdk-errors.ts";

const BLOB = { socketTimeout: "timeout", timeoutCodes: ["TIMEOUT"] } as const;
const KEY_VAULT = { socketTimeout: "unreachable" } as const;

describe("classifyTransportCode", () => {
  it.each(["ETIMEDOUT", "ESOCKETTIMEDOUT", "ERR_SOCKET_CONNECTION_TIMEOUT"])(
    "lets each adapter decide what the socket timeout %s is",
    (code) => {
      expect(classifyTransportCode(code, BLOB)).toBe("timeout");
      expect(classifyTransportCode(code, KEY_VAULT)).toBe("unreachable");
    },
  );

  it("counts the extra timeout codes only where they are given", () => {
    expect(classifyTransportCode("TIMEOUT", BLOB)).toBe("timeout");
    expect(classifyTransportCode("TIMEOUT", KEY_VAULT)).toBeUndefined();
  });

  it.each(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "REQUEST_SEND_ERROR", "SELF_SIGNED_CERT_IN_CHAIN"])(
    "calls %s unreachable for both adapters",
    (code) => {
      expect(classifyTransportCode(code, BLOB)).toBe("unreachable");
      expect(classifyTransportCode(code, KEY_VAULT)).toBe("unreachable");
    },
  );

  it("leaves service codes and a missing code alone", () => {
    expect(classifyTransportCode("BlobNotFound", BLOB)).toBeUndefined();
    expect(classifyTransportCode("Forbidden", KEY_VAULT)).toBeUndefined();
    expect(classifyTransportCode(undefined, BLOB)).toBeUndefined();
  });
});

describe("isCredentialError", () => {
  it("recognises @azure/identity errors by name", () => {
    const error = Object.assign(new Error("no token"), { name: "CredentialUnavailableError" });
    expect(isCredentialError(error)).toBe(true);
    expect(isCredentialError(new Error("no token"))).toBe(false);
    expect(isCredentialError(undefined)).toBe(false);
  });
});

describe("redactSecrets covers the rules of both adapters", () => {
  const TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln";
  it.each([
    ["GET https://a.blob.core.windows.net/c/b?sv=1&sig=SECRET1 failed", "SECRET1"],
    ["AccountName=a;AccountKey=SECRET2;BlobEndpoint=x", "SECRET2"],
    ['authorization="SharedKey acct:SECRET3"', "SECRET3"],
    ["Ocp-Apim-Subscription-Key: SECRET4", "SECRET4"],
    [`{"access_token":"${TOKEN}"}`, TOKEN],
    ["client_secret=SECRET5&grant_type=client_credentials", "SECRET5"],
    [`token ${TOKEN} rejected`, TOKEN],
    ["bearer SECRET6", "SECRET6"],
  ])("%s", (text, secret) => {
    expect(redactSecrets(text)).not.toContain(secret);
  });
});

describe("oneLine, firstLine, safeUrl", () => {
  it("oneLine joins the lines without secrets; firstLine keeps the first line as it is", () => {
    expect(oneLine(" a \n\n b?x \r\n c ")).toBe("a b?x c");
    expect(oneLine("Authorization: Bearer abc\nnext")).toBe("Authorization: <redacted> next");
    expect(firstLine("\n  first \nsecond")).toBe("first");
    expect(oneLine("x".repeat(400))).toBe(`${"x".repeat(300)}...`);
  });

  it("safeUrl keeps the fallback each caller chose", () => {
    expect(safeUrl("https://u:p@host:1/p?q#f")).toBe("https://host:1/p");
    expect(safeUrl("nope")).toBe("<invalid url>");
    expect(safeUrl(42, "<not a URL>")).toBe("<not a URL>");
  });
});

describe("perTryTimeoutPolicy", () => {
  const hang: SendRequest = (request) =>
    new Promise((_, reject) => {
      request.abortSignal?.addEventListener("abort", () => reject(new Error("aborted below")));
    });

  it.each(["TIMEOUT", "ETIMEDOUT"])(
    "throws a RestError with code %s when a try has no answer",
    async (code) => {
      const policy = perTryTimeoutPolicy({ name: "test", timeoutMs: 20, errorCode: code });
      const request = createPipelineRequest({ url: "https://example.invalid/" });
      await expect(policy.sendRequest(request, hang)).rejects.toMatchObject({
        name: "RestError",
        code,
        message: "no response within 20 ms",
      });
      expect(request.abortSignal).toBeUndefined();
    },
  );

  it("lets the caller's abort through unchanged and restores its signal", async () => {
    const policy = perTryTimeoutPolicy({ name: "test", timeoutMs: 10_000, errorCode: "TIMEOUT" });
    const caller = new AbortController();
    const request = createPipelineRequest({ url: "https://example.invalid/", abortSignal: caller.signal });
    const sent = policy.sendRequest(request, hang);
    caller.abort();
    await expect(sent).rejects.toThrow("aborted below");
    expect(request.abortSignal).toBe(caller.signal);
  });

  it("returns the response of a try that answers in time", async () => {
    const policy = perTryTimeoutPolicy({ name: "test", timeoutMs: 10_000, errorCode: "ETIMEDOUT" });
    const request = createPipelineRequest({ url: "https://example.invalid/" });
    const response: PipelineResponse = { request, status: 200, headers: createHttpHeaders() };
    await expect(policy.sendRequest(request, async () => response)).resolves.toBe(response);
  });
});

describe("createChainCredential", () => {
  it("builds the chain synchronously, without a request", () => {
    expect(createChainCredential()).toBeInstanceOf(ChainedTokenCredential);
    expect(createChainCredential("mi-client-id")).toBeInstanceOf(ChainedTokenCredential);
  });
});
