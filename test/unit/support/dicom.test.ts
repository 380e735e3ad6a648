import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type GeneratedDicom,
  generateCt,
  generateMr,
  generateMultiFrame,
  generateRadiograph,
  generateStudy,
  isValidUid,
} from "../../support/dicom.ts";

const tempDir = mkdtempSync(join(tmpdir(), "dicom-generator-test-"));
afterAll(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

let fileCounter = 0;

/** Writes the file and runs `dcmdump +L` on it (-M: pixel data is summarised, not printed). */
function dcmdump(dicom: GeneratedDicom): string {
  const file = join(tempDir, `f${++fileCounter}.dcm`);
  writeFileSync(file, dicom.bytes);
  const run = spawnSync("dcmdump", ["+L", "-M", file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  expect(run.error).toBeUndefined();
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  // dcmftest checks the Part-10 structure (preamble + "DICM" + meta header).
  const check = spawnSync("dcmftest", [file], { encoding: "utf8" });
  expect(check.stdout).toContain(`yes: ${file}`);
  return run.stdout;
}

function expectPixelDataHeader(dicom: GeneratedDicom, valueLength: number): void {
  const at = dicom.pixelDataOffset;
  expect([...dicom.bytes.subarray(at, at + 4)]).toEqual([0xe0, 0x7f, 0x10, 0x00]);
  expect(dicom.bytes.subarray(at + 4, at + 6).toString("latin1")).toBe("OW");
  expect(dicom.bytes.readUInt16LE(at + 6)).toBe(0);
  expect(dicom.bytes.readUInt32LE(at + 8)).toBe(valueLength);
  // Pixel data is the last element.
  expect(dicom.bytes.length).toBe(at + 12 + valueLength);
}

function expectValidUids(dicom: GeneratedDicom): void {
  for (const uid of [dicom.sopInstanceUid, dicom.seriesInstanceUid, dicom.studyInstanceUid]) {
    expect(uid.length).toBeLessThanOrEqual(64);
    expect(isValidUid(uid), uid).toBe(true);
  }
}

describe("Part-10 structure", () => {
  it("starts with a zero preamble and DICM, then group 0002 with a correct group length", () => {
    const { bytes } = generateCt({ seed: 3 });
    expect(bytes.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(128, 132).toString("latin1")).toBe("DICM");
    // (0002,0000) UL 4 <group length>
    expect([...bytes.subarray(132, 136)]).toEqual([0x02, 0x00, 0x00, 0x00]);
    expect(bytes.subarray(136, 138).toString("latin1")).toBe("UL");
    const groupLength = bytes.readUInt32LE(140);
    const afterMeta = 144 + groupLength;
    expect(bytes.readUInt16LE(afterMeta)).toBe(0x0008); // the dataset starts right after group 0002
  });

  it("pads odd-length values: UI with NUL, text with a space", () => {
    const dicom = generateCt({
      seed: 5,
      patientId: "ODD",
      studyInstanceUid: "1.2.3",
      seriesInstanceUid: "1.2.34",
    });
    const idAt = dicom.bytes.indexOf(Buffer.from("ODD"));
    expect(dicom.bytes.readUInt16LE(idAt - 2)).toBe(4);
    expect(dicom.bytes[idAt + 3]).toBe(0x20);
    const uidAt = dicom.bytes.indexOf(Buffer.from([0x20, 0x00, 0x0d, 0x00, 0x55, 0x49]));
    expect(dicom.bytes.readUInt16LE(uidAt + 6)).toBe(6);
    expect(dicom.bytes.subarray(uidAt + 8, uidAt + 14).toString("latin1")).toBe("1.2.3\0");
    expect(dcmdump(dicom)).toContain("(0020,000d) UI [1.2.3]");
  });
});

describe("generateCt", () => {
  it("is a 512x512 signed 16-bit CT that dcmdump parses", () => {
    const ct = generateCt({ seed: 1, instanceNumber: 7 });
    const dump = dcmdump(ct);
    for (const line of [
      "(0002,0010) UI =LittleEndianExplicit",
      "(0002,0002) UI =CTImageStorage",
      "(0008,0016) UI =CTImageStorage",
      `(0008,0018) UI [${ct.sopInstanceUid}]`,
      "(0008,0060) CS [CT]",
      `(0010,0020) LO [${ct.patientId}]`,
      `(0020,000d) UI [${ct.studyInstanceUid}]`,
      `(0020,000e) UI [${ct.seriesInstanceUid}]`,
      "(0020,0013) IS [7]",
      "(0028,0002) US 1",
      "(0028,0004) CS [MONOCHROME2]",
      "(0028,0010) US 512",
      "(0028,0011) US 512",
      "(0028,0100) US 16",
      "(0028,0101) US 16",
      "(0028,0102) US 15",
      "(0028,0103) US 1",
      "(0028,1052) DS [-1024]",
      "(0028,1053) DS [1]",
    ]) {
      expect(dump).toContain(line);
    }
    for (const tag of [
      "(0010,0010) PN [",
      "(0010,0030) DA [",
      "(0010,0040) CS [",
      "(0008,0020) DA [",
      "(0028,0030) DS [",
    ]) {
      expect(dump).toContain(tag);
    }
    expect(dump).toMatch(/\(0028,1050\) DS \[40\]/);
    expect(dump).toMatch(/\(0020,0032\) DS \[[-0-9.]+\\[-0-9.]+\\[-0-9.]+\]/);
    expect(dump).toMatch(/\(0020,0037\) DS \[1\\0\\0\\0\\1\\0\]/);
    expect(dump).toMatch(/\(7fe0,0010\) OW .*# 524288, 1 PixelData/);
    expectPixelDataHeader(ct, 512 * 512 * 2);
    expectValidUids(ct);
  });

  it("has the size of its pixels plus a small header", () => {
    const { bytes } = generateCt();
    expect(bytes.length).toBeGreaterThan(512 * 512 * 2);
    expect(bytes.length).toBeLessThan(512 * 512 * 2 + 4096);
  });

  it("has image-like pixels: padding, air, tissue, bone and noise", () => {
    const ct = generateCt({ seed: 11 });
    const start = ct.pixelDataOffset + 12;
    const pixels = new Int16Array(
      ct.bytes.buffer.slice(ct.bytes.byteOffset + start, ct.bytes.byteOffset + start + 512 * 512 * 2),
    );
    expect(pixels[0]).toBe(-2000); // corner: outside the reconstruction circle
    const distinct = new Set(pixels);
    expect(distinct.size).toBeGreaterThan(200);
    expect(pixels.reduce((max, v) => Math.max(max, v), -32768)).toBeGreaterThan(1024 + 500); // bone
    expect(pixels.some((v) => v > 0 && v < 300)).toBe(true); // air / lung
  });
});

describe("generateMr", () => {
  it("is a 256x256 unsigned MR that dcmdump parses", () => {
    const mr = generateMr({ seed: 2, patientId: "MR-PATIENT" });
    const dump = dcmdump(mr);
    for (const line of [
      "(0008,0016) UI =MRImageStorage",
      "(0008,0060) CS [MR]",
      "(0010,0020) LO [MR-PATIENT]",
      "(0028,0010) US 256",
      "(0028,0011) US 256",
      "(0028,0100) US 16",
      "(0028,0101) US 12",
      "(0028,0102) US 11",
      "(0028,0103) US 0",
      "(0018,0087) DS [1.5]",
    ]) {
      expect(dump).toContain(line);
    }
    expect(mr.patientId).toBe("MR-PATIENT");
    expectPixelDataHeader(mr, 256 * 256 * 2);
    expectValidUids(mr);
  });
});

describe("generateMultiFrame", () => {
  it("is a multi-frame grayscale word secondary capture that dcmdump parses", () => {
    const mf = generateMultiFrame({ seed: 4, frames: 3, rows: 64, columns: 80 });
    const dump = dcmdump(mf);
    for (const line of [
      "(0008,0016) UI =MultiframeGrayscaleWordSecondaryCaptureImageStorage",
      "(0028,0008) IS [3]",
      "(0028,0009) AT (0018,1063)",
      "(0028,0010) US 64",
      "(0028,0011) US 80",
      "(0028,0100) US 16",
    ]) {
      expect(dump).toContain(line);
    }
    expectPixelDataHeader(mf, 3 * 64 * 80 * 2);
  });

  it("generates ~300 MB in a few seconds", () => {
    const started = performance.now();
    const big = generateMultiFrame({ seed: 9, frames: 600 });
    const elapsed = performance.now() - started;
    expect(big.bytes.length).toBeGreaterThan(600 * 512 * 512 * 2);
    expectPixelDataHeader(big, 600 * 512 * 512 * 2);
    // Frames differ (drift + noise) and values stay within 12 bits.
    const firstFrame = big.bytes.subarray(big.pixelDataOffset + 12, big.pixelDataOffset + 12 + 512 * 512 * 2);
    const lastFrame = big.bytes.subarray(big.bytes.length - 512 * 512 * 2);
    expect(firstFrame.equals(lastFrame)).toBe(false);
    let max = 0;
    for (let i = 0; i < lastFrame.length; i += 2) max = Math.max(max, lastFrame.readUInt16LE(i));
    expect(max).toBeLessThan(4096);
    expect(elapsed).toBeLessThan(10_000);
  }, 60_000);
});

describe("generateRadiograph", () => {
  it("is a ~15 MB DX for presentation that dcmdump parses", () => {
    const dx = generateRadiograph({ seed: 6 });
    const dump = dcmdump(dx);
    for (const line of [
      "(0008,0016) UI =DigitalXRayImageStorageForPresentation",
      "(0008,0060) CS [DX]",
      "(0008,0068) CS [FOR PRESENTATION]",
      "(0028,0010) US 3000",
      "(0028,0011) US 2500",
      "(2050,0020) CS [IDENTITY]",
    ]) {
      expect(dump).toContain(line);
    }
    expectPixelDataHeader(dx, 3000 * 2500 * 2);
    expect(dx.bytes.length).toBeGreaterThan(15_000_000);
    expect(dx.bytes.length).toBeLessThan(15_010_000);
  });
});

describe("determinism and uniqueness", () => {
  it("gives byte-identical files for the same seed and options", () => {
    expect(generateCt({ seed: 42 }).bytes.equals(generateCt({ seed: 42 }).bytes)).toBe(true);
    expect(generateMr({ seed: 42 }).bytes.equals(generateMr({ seed: 42 }).bytes)).toBe(true);
    const a = generateMultiFrame({ seed: 42, frames: 2 });
    expect(a.bytes.equals(generateMultiFrame({ seed: 42, frames: 2 }).bytes)).toBe(true);
  });

  it("gives different files and UIDs for different seeds", () => {
    const a = generateCt({ seed: 1 });
    const b = generateCt({ seed: 2 });
    expect(a.bytes.equals(b.bytes)).toBe(false);
    expect(a.sopInstanceUid).not.toBe(b.sopInstanceUid);
    expect(a.studyInstanceUid).not.toBe(b.studyInstanceUid);
  });

  it("gives distinct UIDs on every call without a seed", () => {
    const generated = [
      generateCt(),
      generateCt(),
      generateMr(),
      generateMr(),
      generateMultiFrame({ frames: 1 }),
    ];
    for (const kind of ["sopInstanceUid", "seriesInstanceUid", "studyInstanceUid"] as const) {
      expect(new Set(generated.map((g) => g[kind])).size).toBe(generated.length);
    }
    for (const g of generated) expectValidUids(g);
  });

  it("uses the UIDs and patient it is given", () => {
    const ct = generateCt({ studyInstanceUid: "1.2.3.4", seriesInstanceUid: "1.2.3.4.5", patientId: "P1" });
    expect(ct.studyInstanceUid).toBe("1.2.3.4");
    expect(ct.seriesInstanceUid).toBe("1.2.3.4.5");
    expect(ct.patientId).toBe("P1");
    const dump = dcmdump(ct);
    expect(dump).toContain("(0020,000d) UI [1.2.3.4]");
    expect(dump).toContain("(0020,000e) UI [1.2.3.4.5]");
  });
});

describe("generateStudy", () => {
  it("returns instances of one series with distinct SOP UIDs and instance numbers", () => {
    const study = generateStudy({ kind: "mr", count: 4, seed: 77 });
    expect(study).toHaveLength(4);
    const first = study[0];
    if (first === undefined) throw new Error("empty study");
    for (const instance of study) {
      expect(instance.studyInstanceUid).toBe(first.studyInstanceUid);
      expect(instance.seriesInstanceUid).toBe(first.seriesInstanceUid);
      expect(instance.patientId).toBe(first.patientId);
    }
    expect(new Set(study.map((i) => i.sopInstanceUid)).size).toBe(4);
    study.forEach((instance, index) => {
      const dump = dcmdump(instance);
      expect(dump).toContain(`(0020,0013) IS [${index + 1}]`);
      expect(dump).toContain("(0008,0060) CS [MR]");
    });
    // Deterministic by seed.
    const again = generateStudy({ kind: "mr", count: 4, seed: 77 });
    expect(again.map((i) => i.sopInstanceUid)).toEqual(study.map((i) => i.sopInstanceUid));
  });

  it("makes CT series with a random seed when none is given", () => {
    const a = generateStudy({ kind: "ct", count: 2 });
    const b = generateStudy({ kind: "ct", count: 2 });
    expect(a[0]?.seriesInstanceUid).toBe(a[1]?.seriesInstanceUid);
    expect(a[0]?.seriesInstanceUid).not.toBe(b[0]?.seriesInstanceUid);
    for (const instance of [...a, ...b]) expect(instance.bytes.length).toBeGreaterThan(512 * 512 * 2);
  });
});
