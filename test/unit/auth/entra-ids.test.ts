import { describe, expect, it } from "vitest";
import { GUID_PATTERN, TENANT_ID_PATTERN } from "../../../src/auth/entra-ids.ts";

describe("Entra ID patterns", () => {
  it.each(["0f0e0d0c-0b0a-0908-0706-050403020100", "0F0E0D0C-0B0A-0908-0706-050403020100"])(
    "GUID_PATTERN accepts %s",
    (id) => {
      expect(GUID_PATTERN.test(id)).toBe(true);
      expect(TENANT_ID_PATTERN.test(id)).toBe(true);
    },
  );

  it.each(["", "app", "0f0e0d0c0b0a09080706050403020100", "{0f0e0d0c-0b0a-0908-0706-050403020100}"])(
    "GUID_PATTERN refuses %j",
    (id) => {
      expect(GUID_PATTERN.test(id)).toBe(false);
    },
  );

  it.each(["contoso.onmicrosoft.com", "contoso.com", "72f988bf-86f1-41af-91ab-2d7cd011db47"])(
    "TENANT_ID_PATTERN accepts %s",
    (tenant) => {
      expect(TENANT_ID_PATTERN.test(tenant)).toBe(true);
    },
  );

  it.each(["", "-contoso.com", ".contoso.com", "a/b", "not a tenant!", "Xq8Q~secret", "x".repeat(254)])(
    "TENANT_ID_PATTERN refuses %j",
    (tenant) => {
      expect(TENANT_ID_PATTERN.test(tenant)).toBe(false);
    },
  );
});
