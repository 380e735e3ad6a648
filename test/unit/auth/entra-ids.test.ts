import { describe, expect, it } from "vitest";
import { describeStringShape, GUID_PATTERN, TENANT_ID_PATTERN } from "../../../src/auth/entra-ids.ts";

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

describe("describeStringShape", () => {
  it("gives the length and what the string is not, never a character of it", () => {
    const secret = "Xq8Q~abcDEFghiJKLmnoPQRstuVWXyz012345678";
    const described = describeStringShape(secret, "a GUID");
    expect(described).toBe("a string of 40 characters that is not a GUID");
    for (let start = 0; start + 4 <= secret.length; start++) {
      expect(described).not.toContain(secret.slice(start, start + 4));
    }
  });

  it("says an empty string, and one character, as such", () => {
    expect(describeStringShape("", "a GUID")).toBe("an empty string");
    expect(describeStringShape("x", "a GUID or a domain name")).toBe(
      "a string of 1 character that is not a GUID or a domain name",
    );
  });
});
