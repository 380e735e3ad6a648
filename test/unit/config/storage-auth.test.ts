import { describe, expect, it } from "vitest";
import {
  ACCOUNT_URL,
  CONNECTION_STRING,
  ENTRA_SECRET,
  expectErrorWithoutSecret,
  issuesOf,
  orthanc,
  orthancWithUrl,
  parseEnabled,
  SAS_TOKEN,
} from "../../support/config-fixtures.ts";

const ACCOUNT_URL_EXPECTATION = "an https URL (http only for 127.0.0.1, localhost or [::1])";
const SAS_EXPECTATION = "a SAS token (the query string of a SAS URL, with a sig= signature)";
const CLIENT_ID_EXPECTATION = "a client ID (a GUID such as 00000000-0000-0000-0000-000000000000)";

describe("authentication", () => {
  it("requires ConnectionString or AccountUrl", () => {
    expect(issuesOf(orthanc({ ConnectionString: undefined }))).toEqual([
      "Expected a value for exactly one of AzureBlobStorage.ConnectionString or AzureBlobStorage.AccountUrl but received neither",
    ]);
  });

  it("refuses both ConnectionString and AccountUrl", () => {
    expect(issuesOf(orthanc({ AccountUrl: ACCOUNT_URL }))).toEqual([
      "Expected a value for exactly one of AzureBlobStorage.ConnectionString or AzureBlobStorage.AccountUrl but received both",
    ]);
  });

  it("refuses SasToken or ManagedIdentityClientId without AccountUrl", () => {
    expect(issuesOf(orthanc({ SasToken: SAS_TOKEN }))).toEqual([
      "Expected AzureBlobStorage.SasToken only together with AzureBlobStorage.AccountUrl but received it without AzureBlobStorage.AccountUrl",
    ]);
    expect(
      issuesOf(
        orthanc({
          ConnectionString: undefined,
          ManagedIdentityClientId: "0f0e0d0c-0b0a-0908-0706-050403020100",
        }),
      ),
    ).toEqual([
      "Expected a value for exactly one of AzureBlobStorage.ConnectionString or AzureBlobStorage.AccountUrl but received neither",
      "Expected AzureBlobStorage.ManagedIdentityClientId only together with AzureBlobStorage.AccountUrl but received it without AzureBlobStorage.AccountUrl",
    ]);
  });

  it("refuses SasToken together with ManagedIdentityClientId", () => {
    expect(
      issuesOf(
        orthancWithUrl({
          SasToken: SAS_TOKEN,
          ManagedIdentityClientId: "0f0e0d0c-0b0a-0908-0706-050403020100",
        }),
      ),
    ).toEqual([
      "Expected at most one of AzureBlobStorage.SasToken or AzureBlobStorage.ManagedIdentityClientId but received both",
    ]);
  });

  it("maps AccountUrl alone to the credential chain", () => {
    expect(parseEnabled(orthancWithUrl()).storage.auth).toEqual({
      kind: "token-credential",
      accountUrl: ACCOUNT_URL,
    });
  });

  it("maps AccountUrl + ManagedIdentityClientId to a user-assigned identity", () => {
    const clientId = "0F0E0D0C-0B0A-0908-0706-050403020100";
    expect(parseEnabled(orthancWithUrl({ ManagedIdentityClientId: clientId })).storage.auth).toEqual({
      kind: "token-credential",
      accountUrl: ACCOUNT_URL,
      managedIdentityClientId: clientId,
    });
  });

  it("maps AccountUrl + SasToken to SAS, without the leading '?'", () => {
    for (const token of [SAS_TOKEN, `?${SAS_TOKEN}`]) {
      expect(parseEnabled(orthancWithUrl({ SasToken: token })).storage.auth).toEqual({
        kind: "sas",
        accountUrl: ACCOUNT_URL,
        sasToken: SAS_TOKEN,
      });
    }
  });

  it("refuses a ManagedIdentityClientId that is not a GUID, described by its shape only", () => {
    expect(issuesOf(orthancWithUrl({ ManagedIdentityClientId: "my-identity" }))).toEqual([
      `Expected ${CLIENT_ID_EXPECTATION} for AzureBlobStorage.ManagedIdentityClientId but received a string of 11 characters that is not a GUID`,
    ]);
    expect(issuesOf(orthancWithUrl({ ManagedIdentityClientId: "" }))).toEqual([
      `Expected ${CLIENT_ID_EXPECTATION} for AzureBlobStorage.ManagedIdentityClientId but received an empty string`,
    ]);
  });

  it("never shows a client secret pasted into ManagedIdentityClientId", () => {
    const configuration = orthancWithUrl({ ManagedIdentityClientId: ENTRA_SECRET });
    expect(issuesOf(configuration)).toEqual([
      `Expected ${CLIENT_ID_EXPECTATION} for AzureBlobStorage.ManagedIdentityClientId but received a string of ${ENTRA_SECRET.length} characters that is not a GUID`,
    ]);
    expectErrorWithoutSecret(configuration);
  });

  it.each([
    "http://127.0.0.1:10000/devstoreaccount1",
    "http://localhost:10000/devstoreaccount1",
    "http://[::1]:10000/devstoreaccount1",
    "https://myaccount.blob.core.windows.net/",
  ])("accepts AccountUrl %s", (url) => {
    expect(parseEnabled(orthanc({ AccountUrl: url }, {})).storage.auth).toEqual({
      kind: "token-credential",
      accountUrl: url,
    });
  });

  it.each<[unknown, string]>([
    ["http://myaccount.blob.core.windows.net", '"http://myaccount.blob.core.windows.net" (a string)'],
    ["http://127.0.0.2:10000", '"http://127.0.0.2:10000" (a string)'],
    ["myaccount.blob.core.windows.net", '"myaccount.blob.core.windows.net" (a string)'],
    ["ftp://myaccount.blob.core.windows.net", '"ftp://myaccount.blob.core.windows.net" (a string)'],
    ["", '"" (a string)'],
    [
      "https://user:password@myaccount.blob.core.windows.net",
      "a URL with a user name or password (not shown)",
    ],
  ])("refuses AccountUrl %j", (url, received) => {
    expect(issuesOf(orthancWithUrl({ AccountUrl: url }))).toEqual([
      `Expected ${ACCOUNT_URL_EXPECTATION} for AzureBlobStorage.AccountUrl but received ${received}`,
    ]);
  });

  it("refuses an AccountUrl with a query string, without echoing it", () => {
    for (const url of [
      `${ACCOUNT_URL}?${SAS_TOKEN}`,
      `${ACCOUNT_URL}/?comp=list`,
      `${ACCOUNT_URL}#${SAS_TOKEN}`,
    ]) {
      expect(issuesOf(orthancWithUrl({ AccountUrl: url }))).toEqual([
        `Expected ${ACCOUNT_URL_EXPECTATION} for AzureBlobStorage.AccountUrl but received a URL with a query string (not shown); put a SAS token in AzureBlobStorage.SasToken`,
      ]);
    }
    expect(issuesOf(orthancWithUrl({ AccountUrl: CONNECTION_STRING }))).toEqual([
      `Expected ${ACCOUNT_URL_EXPECTATION} for AzureBlobStorage.AccountUrl but received a string that looks like it contains a credential (not shown)`,
    ]);
  });

  it.each<[string, string]>([
    ["", "an empty string"],
    ["?", "an empty string"],
    ["sv=2022-11-02&sp=r", "a string without a sig= signature (not shown)"],
    ["sv=2022-11-02&sig=", "a string without a sig= signature (not shown)"],
    [
      `${ACCOUNT_URL}/?${SAS_TOKEN}`,
      "a whole URL (not shown); put the URL in AzureBlobStorage.AccountUrl and only its query string here",
    ],
  ])("refuses SasToken %j", (token, received) => {
    expect(issuesOf(orthancWithUrl({ SasToken: token }))).toEqual([
      `Expected ${SAS_EXPECTATION} for AzureBlobStorage.SasToken but received ${received}`,
    ]);
  });
});

describe("type errors", () => {
  it.each<[string, unknown, string]>([
    ["AccountUrl", 443, "Expected a string for AzureBlobStorage.AccountUrl but received 443"],
    ["SasToken", { sig: "x" }, "Expected a string for AzureBlobStorage.SasToken but received an object"],
    ["SasToken", 7, "Expected a string for AzureBlobStorage.SasToken but received a number"],
    [
      "ManagedIdentityClientId",
      false,
      "Expected a string for AzureBlobStorage.ManagedIdentityClientId but received false",
    ],
  ])("%s = %j (account URL auth)", (key, value, message) => {
    expect(issuesOf(orthancWithUrl({ [key]: value }))).toEqual([message]);
  });
});
