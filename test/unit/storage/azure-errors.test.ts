import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { redactSecrets, safeUrl } from "../../../src/azure/sdk-errors.ts";
import { StorageError } from "../../../src/errors.ts";
import { isBlobNotFound, isRangeNotSatisfiable, mapAzureError } from "../../../src/storage/azure-errors.ts";

const BLOB = "orthanc/0a1b2c3d-4e5f-6789-abcd-ef0123456789.dcm";

/** A RestError shaped like the ones @azure/storage-blob throws for an HTTP error answer. */
function httpError(
  status: number,
  errorCode: string | undefined,
  message = "The service said no.\nRequestId:1",
): RestError {
  const request = createPipelineRequest({ url: `https://acct.blob.core.windows.net/c/${BLOB}` });
  const headers = createHttpHeaders(errorCode === undefined ? {} : { "x-ms-error-code": errorCode });
  const error = new RestError(message, {
    statusCode: status,
    request,
    response: { status, headers, request },
    ...(errorCode !== undefined && { code: errorCode }),
  });
  error.details = errorCode === undefined ? {} : { errorCode };
  return error;
}

describe("mapAzureError", () => {
  it("maps 404 BlobNotFound to not-found with the one-line format", () => {
    const error = mapAzureError(httpError(404, "BlobNotFound"), "read", BLOB);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.code).toBe("not-found");
    expect(error.message).toBe(`read ${BLOB}: blob not found (HTTP 404, BlobNotFound)`);
  });

  it("maps a 404 without body (HEAD) to not-found using the x-ms-error-code header", () => {
    const error = httpError(404, undefined);
    error.response?.headers.set("x-ms-error-code", "BlobNotFound");
    const mapped = mapAzureError(error, "getProperties", BLOB);
    expect(mapped.code).toBe("not-found");
    expect(mapped.message).toContain("(HTTP 404, BlobNotFound)");
  });

  it("maps 404 ContainerNotFound to unavailable naming the container", () => {
    const error = mapAzureError(httpError(404, "ContainerNotFound"), "create", BLOB, "orthanc-data");
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `create ${BLOB}: container "orthanc-data" does not exist (it was deleted or never created) (HTTP 404, ContainerNotFound)`,
    );
  });

  it("maps 409 BlobAlreadyExists and 412 on create to already-exists", () => {
    expect(mapAzureError(httpError(409, "BlobAlreadyExists"), "create", BLOB).code).toBe("already-exists");
    const precondition = mapAzureError(httpError(412, "ConditionNotMet"), "create", BLOB);
    expect(precondition.code).toBe("already-exists");
    expect(precondition.message).toContain("(HTTP 412, ConditionNotMet)");
  });

  it("calls a 412 outside create a changed blob (a conditional write on a stale ETag), not already-exists", () => {
    const error = mapAzureError(httpError(412, "ConditionNotMet"), "setMetadata", BLOB);
    expect(error.code).toBe("changed");
    expect(error.message).toBe(
      `setMetadata ${BLOB}: the blob changed since it was read (its ETag is not the one expected) (HTTP 412, ConditionNotMet)`,
    );
  });

  it("maps other 409s to internal with the service's first line", () => {
    const error = mapAzureError(
      httpError(409, "LeaseIdMissing", "There is a lease.\nRequestId:abc"),
      "delete",
      BLOB,
    );
    expect(error.code).toBe("internal");
    expect(error.message).toBe(
      `delete ${BLOB}: unexpected answer from the storage service: There is a lease. RequestId:abc (HTTP 409, LeaseIdMissing)`,
    );
  });

  it.each([401, 403])("maps %i to unavailable with access-denied wording", (status) => {
    const error = mapAzureError(httpError(status, "AuthenticationFailed"), "read", BLOB);
    expect(error.code).toBe("unavailable");
    expect(error.message).toMatch(/^read .*: access denied by the storage service/);
    expect(error.message).toContain(`(HTTP ${status}, AuthenticationFailed)`);
  });

  it.each([500, 502, 503])("maps %i to unavailable", (status) => {
    const error = mapAzureError(httpError(status, "ServerBusy"), "create", BLOB);
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain(`(HTTP ${status}, ServerBusy)`);
  });

  it.each(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "REQUEST_SEND_ERROR", "EAI_AGAIN"])(
    "maps the network error %s to unavailable",
    (code) => {
      const error = new RestError(`connect ${code} 127.0.0.1:10000`, { code });
      const mapped = mapAzureError(error, "read", BLOB);
      expect(mapped.code).toBe("unavailable");
      expect(mapped.message).toBe(
        `read ${BLOB}: cannot reach the storage service: connect ${code} 127.0.0.1:10000 (${code})`,
      );
    },
  );

  it("maps AbortError and timeout codes to timeout", () => {
    const abort = new Error("The operation was aborted.");
    abort.name = "AbortError";
    expect(mapAzureError(abort, "read", BLOB).code).toBe("timeout");
    expect(
      mapAzureError(new RestError("no response within 100 ms", { code: "TIMEOUT" }), "read", BLOB).code,
    ).toBe("timeout");
    expect(mapAzureError(new RestError("socket timeout", { code: "ETIMEDOUT" }), "read", BLOB).code).toBe(
      "timeout",
    );
  });

  it("maps credential failures to unavailable", () => {
    const error = new Error("ManagedIdentityCredential: no endpoint\nmore");
    error.name = "CredentialUnavailableError";
    const mapped = mapAzureError(error, "read", BLOB);
    expect(mapped.code).toBe("unavailable");
    expect(mapped.message).toBe(
      `read ${BLOB}: could not get an access token: ManagedIdentityCredential: no endpoint more`,
    );
  });

  it("maps anything else to internal and keeps plain objects working", () => {
    expect(mapAzureError(new TypeError("x is not a function"), "read", BLOB).message).toBe(
      `read ${BLOB}: unexpected error: x is not a function`,
    );
    expect(
      mapAzureError({ statusCode: 404, details: { errorCode: "BlobNotFound" } }, "read", BLOB).code,
    ).toBe("not-found");
    expect(mapAzureError("a string", "read", BLOB).code).toBe("internal");
    expect(mapAzureError(undefined, "read", BLOB).code).toBe("internal");
  });

  it("returns a StorageError unchanged", () => {
    const original = new StorageError("integrity", "bad");
    expect(mapAzureError(original, "read", BLOB)).toBe(original);
  });

  it("never lets a SAS token, account key or Authorization header reach the message", () => {
    const secrets = ["SECRETSIG123", "SECRETKEY456", "SECRETBEARER789", "SECRETSHAREDKEY0"];
    const message = [
      `Cannot connect to https://acct.blob.core.windows.net/c/${BLOB}?sv=2024-01-01&se=2030&sp=rw&sig=${secrets[0]}`,
      `with DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${secrets[1]};EndpointSuffix=core.windows.net`,
      `Authorization: Bearer ${secrets[2]}`,
      `authorization="SharedKey acct:${secrets[3]}"`,
    ].join("\n");
    const mappedNetwork = mapAzureError(new RestError(message, { code: "REQUEST_SEND_ERROR" }), "read", BLOB);
    const mappedHttp = mapAzureError(httpError(400, "InvalidQueryParameterValue", message), "read", BLOB);
    const mappedOther = mapAzureError(new Error(message), "read", BLOB);
    for (const mapped of [mappedNetwork, mappedHttp, mappedOther]) {
      for (const secret of secrets) expect(mapped.message).not.toContain(secret);
      expect(mapped.message).not.toContain("\n");
      expect(mapped.message).toContain("acct.blob.core.windows.net");
    }
  });

  it("bounds the message length", () => {
    const mapped = mapAzureError(new Error("x".repeat(10_000)), "read", BLOB);
    expect(mapped.message.length).toBeLessThan(500);
  });
});

describe("isBlobNotFound (delete's missing blob)", () => {
  it("is true for a 404 about the blob, from the details or the header", () => {
    expect(isBlobNotFound(httpError(404, "BlobNotFound"))).toBe(true);
    expect(isBlobNotFound(httpError(404, undefined))).toBe(true);
    expect(isBlobNotFound({ statusCode: 404, details: { errorCode: "BlobNotFound" } })).toBe(true);
  });

  it("is false for a missing container and anything that is not a 404", () => {
    expect(isBlobNotFound(httpError(404, "ContainerNotFound"))).toBe(false);
    expect(isBlobNotFound(httpError(403, "AuthenticationFailed"))).toBe(false);
    expect(isBlobNotFound(new RestError("connect ECONNREFUSED", { code: "ECONNREFUSED" }))).toBe(false);
    expect(isBlobNotFound(undefined)).toBe(false);
  });
});

describe("isRangeNotSatisfiable (readRange from the end of the blob on)", () => {
  it("is true for HTTP 416 only", () => {
    expect(isRangeNotSatisfiable(httpError(416, "InvalidRange"))).toBe(true);
    expect(isRangeNotSatisfiable({ statusCode: 416 })).toBe(true);
    expect(isRangeNotSatisfiable(httpError(404, "BlobNotFound"))).toBe(false);
    expect(isRangeNotSatisfiable(new RestError("socket closed", { code: "ECONNRESET" }))).toBe(false);
  });
});

describe("redactSecrets and safeUrl", () => {
  it("removes query strings and key values but keeps the rest", () => {
    expect(redactSecrets("GET http://127.0.0.1:1/acct/c/b?sig=abc&sv=1 failed")).toBe(
      "GET http://127.0.0.1:1/acct/c/b?<redacted> failed",
    );
    expect(redactSecrets("AccountName=a;AccountKey=k==;BlobEndpoint=x")).toBe(
      "AccountName=a;AccountKey=<redacted>;BlobEndpoint=x",
    );
  });

  it("safeUrl drops query and credentials", () => {
    expect(safeUrl("https://user:pw@acct.blob.core.windows.net/?sv=1&sig=s")).toBe(
      "https://acct.blob.core.windows.net/",
    );
    expect(safeUrl("not a url")).toBe("<invalid url>");
  });
});
