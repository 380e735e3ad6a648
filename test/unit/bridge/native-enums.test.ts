/**
 * The C++ shim and the TypeScript side share two enums and a binding name, each written
 * once per language. These tests read the C++ headers as text and compare names and values,
 * so that a change on one side alone fails here instead of inside Orthanc.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NATIVE_BINDING_NAME, Operation } from "../../../src/bridge/native-binding.ts";
import { BridgeStatus } from "../../../src/bridge/status-codes.ts";

const NATIVE = join(import.meta.dirname, "../../../native");

function header(name: string): string {
  return readFileSync(join(NATIVE, name), "utf8");
}

function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}

/** `enum class Name : int { A = 0, B = 1 }` as {A: 0, B: 1}; every value must be explicit. */
function parseCppEnum(source: string, name: string): Record<string, number> {
  const match = new RegExp(`enum\\s+class\\s+${name}\\s*:\\s*int\\s*\\{([^}]*)\\}`).exec(
    withoutComments(source),
  );
  if (match?.[1] === undefined) throw new Error(`Expected "enum class ${name} : int { ... }" in the header`);
  const entries: Record<string, number> = {};
  for (const raw of match[1].split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const parts = /^([A-Za-z_]\w*)\s*=\s*(\d+)$/.exec(entry);
    if (parts?.[1] === undefined || parts[2] === undefined) {
      throw new Error(`Expected "Name = number" in enum class ${name} but received ${JSON.stringify(entry)}`);
    }
    entries[parts[1]] = Number(parts[2]);
  }
  return entries;
}

/** How often `case Enum::Name:` appears, per name. */
function caseCounts(source: string, enumName: string, names: readonly string[]): Record<string, number> {
  const text = withoutComments(source);
  return Object.fromEntries(names.map((name) => [name, text.split(`case ${enumName}::${name}:`).length - 1]));
}

describe("native/bridge_types.h and src/bridge agree", () => {
  const types = header("bridge_types.h");

  it("on the operation codes (Operation)", () => {
    expect(parseCppEnum(types, "Operation")).toEqual({ ...Operation });
  });

  it("on the status codes (BridgeStatus)", () => {
    expect(parseCppEnum(types, "BridgeStatus")).toEqual({ ...BridgeStatus });
  });

  it("on the binding's name (kBindingName)", () => {
    const match = /kBindingName\s*=\s*"([^"]*)"/.exec(withoutComments(header("bindings.h")));
    expect(match?.[1]).toBe(NATIVE_BINDING_NAME);
  });
});

describe("the C++ switches cover every value", () => {
  it("OperationName names every operation", () => {
    const names = Object.keys(Operation);
    expect(caseCounts(header("bridge_types.h"), "Operation", names)).toEqual(
      Object.fromEntries(names.map((name) => [name, 1])),
    );
  });

  it("error_map.h maps every status to Orthanc and reads every status back from JS", () => {
    const names = Object.keys(BridgeStatus);
    // Once in ToOrthancError, once in BridgeStatusFromInt.
    expect(caseCounts(header("error_map.h"), "BridgeStatus", names)).toEqual(
      Object.fromEntries(names.map((name) => [name, 2])),
    );
  });
});

describe("parseCppEnum", () => {
  it("reads explicit values and ignores comments", () => {
    const source =
      "// enum class X : int { Old = 9 }\nenum class X : int {\n  A = 0,  // first\n  /* B = 7, */ B = 1,\n};";
    expect(parseCppEnum(source, "X")).toEqual({ A: 0, B: 1 });
  });

  it("refuses implicit values and a missing enum", () => {
    expect(() => parseCppEnum("enum class X : int { A = 0, B };", "X")).toThrow(
      'Expected "Name = number" in enum class X but received "B"',
    );
    expect(() => parseCppEnum("enum class Y : int { A = 0 };", "X")).toThrow(
      'Expected "enum class X : int { ... }" in the header',
    );
  });
});
