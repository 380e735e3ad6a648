import { describe, expect, it } from "vitest";
import {
  ACCOUNT_KEY,
  ACCOUNT_URL,
  CLIENT_SECRET,
  CONNECTION_STRING,
  CONNECTION_STRING_EXPECTATION,
  issuesOf,
  orthanc,
  parseEnabled,
  SAS_TOKEN,
} from "../../support/config-fixtures.ts";

describe("connection strings", () => {
  it.each<[string, string]>([
    ["UseDevelopmentStorage=true", "UseDevelopmentStorage=true"],
    [
      "usedevelopmentstorage=TRUE;DevelopmentStorageProxyUri=http://127.0.0.1:8888",
      "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://127.0.0.1:8888",
    ],
    [CONNECTION_STRING, CONNECTION_STRING],
    [
      ` accountname=myaccount ; ACCOUNTKEY=${ACCOUNT_KEY} ;`,
      `DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.windows.net`,
    ],
    [
      `AccountName=devstoreaccount1;AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1`,
      `DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1`,
    ],
    [
      `DefaultEndpointsProtocol=http;AccountName=a;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.chinacloudapi.cn`,
      `DefaultEndpointsProtocol=http;AccountName=a;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.chinacloudapi.cn`,
    ],
    [
      `BlobEndpoint=${ACCOUNT_URL}/;QueueEndpoint=https://myaccount.queue.core.windows.net/;SharedAccessSignature=${SAS_TOKEN}`,
      `BlobEndpoint=${ACCOUNT_URL}/;QueueEndpoint=https://myaccount.queue.core.windows.net/;SharedAccessSignature=${SAS_TOKEN}`,
    ],
  ])("accepts %s", (connectionString, canonical) => {
    expect(parseEnabled(orthanc({ ConnectionString: connectionString })).storage.auth).toEqual({
      kind: "connection-string",
      connectionString: canonical,
    });
  });

  it.each<[string, string]>([
    ["", "an empty string"],
    [" ; ", "a blank string"],
    ["AccountName=myaccount;justtext", "a string whose part 2 is not Key=Value"],
    [`AccountName=myaccount;${ACCOUNT_KEY}`, "a string with an unknown part (part 2)"],
    [`AccountName=myaccount;=${ACCOUNT_KEY}`, "a string whose part 2 is not Key=Value"],
    [
      `AccountName=a;AccountKey=${ACCOUNT_KEY};EndpointSufix=core.windows.net`,
      "a string with an unknown part EndpointSufix (did you mean EndpointSuffix?)",
    ],
    [`AccountName=a;Account_Key=${ACCOUNT_KEY}`, "a string with an unknown part (part 2)"],
    [
      `AccountName=a;AccountKey=${ACCOUNT_KEY};accountkey=${ACCOUNT_KEY}`,
      "a string with AccountKey given twice",
    ],
    [`AccountName=a;AccountKey=`, "a string with an empty AccountKey"],
    ["AccountName=myaccount", "a string with AccountName but no AccountKey"],
    [`AccountKey=${ACCOUNT_KEY}`, "a string with AccountKey but no AccountName"],
    [`AccountName=a;AccountKey=${CLIENT_SECRET}!`, "a string whose AccountKey is not base64"],
    [`AccountName=a;AccountKey=${ACCOUNT_KEY.slice(0, -2)}`, "a string whose AccountKey is not base64"],
    [
      `DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=${ACCOUNT_KEY}`,
      "a string whose DefaultEndpointsProtocol is neither http nor https",
    ],
    [
      `AccountName=a;AccountKey=${ACCOUNT_KEY};SharedAccessSignature=${SAS_TOKEN}`,
      "a string with both AccountKey and SharedAccessSignature",
    ],
    [`BlobEndpoint=${ACCOUNT_URL}`, "a string with BlobEndpoint but no AccountKey or SharedAccessSignature"],
    [`SharedAccessSignature=${SAS_TOKEN}`, "a string with SharedAccessSignature but no BlobEndpoint"],
    [
      `BlobEndpoint=${ACCOUNT_URL};SharedAccessSignature=sv=2022-11-02&sp=r`,
      "a string whose SharedAccessSignature has no sig= signature",
    ],
    [
      `BlobEndpoint=myaccount;SharedAccessSignature=${SAS_TOKEN}`,
      "a string whose BlobEndpoint is not an http(s) URL",
    ],
    ["UseDevelopmentStorage=false", "a string with UseDevelopmentStorage set to something other than true"],
    [
      `UseDevelopmentStorage=true;AccountName=a;AccountKey=${ACCOUNT_KEY}`,
      "a string with UseDevelopmentStorage=true and also AccountName, AccountKey",
    ],
    [
      `DevelopmentStorageProxyUri=http://127.0.0.1:8888;AccountName=a;AccountKey=${ACCOUNT_KEY}`,
      "a string with DevelopmentStorageProxyUri but without UseDevelopmentStorage=true",
    ],
    [
      "DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net",
      "a string with none of AccountName, AccountKey, BlobEndpoint, SharedAccessSignature or UseDevelopmentStorage",
    ],
  ])("refuses %j", (connectionString, received) => {
    expect(issuesOf(orthanc({ ConnectionString: connectionString }))).toEqual([
      `Expected ${CONNECTION_STRING_EXPECTATION} for AzureBlobStorage.ConnectionString but received ${received}`,
    ]);
  });
});
