/**
 * A dependency-free generator of realistic DICOM Part-10 files for tests and benchmarks.
 *
 * Encoding: explicit VR little endian (1.2.840.10008.1.2.1), 128-byte preamble + "DICM",
 * File Meta Information (group 0002) with its group length, data elements sorted by tag,
 * every value padded to an even length (UI with NUL, text with a space).
 *
 * Everything is derived from a seed: the same seed (and options) gives byte-identical files;
 * without a seed every call draws a random one, so UIDs are unique per call.
 * Pixel data is written straight into the final buffer through typed arrays, so even a
 * 300 MB multi-frame instance takes a second or two.
 */
import { createHash, randomInt } from "node:crypto";
import { endianness } from "node:os";

export interface GeneratedDicom {
  bytes: Buffer;
  sopInstanceUid: string;
  seriesInstanceUid: string;
  studyInstanceUid: string;
  patientId: string;
  /** Byte offset of the (7FE0,0010) Pixel Data element header (its tag, "E0 7F 10 00"). */
  pixelDataOffset: number;
}

export interface GenerateOptions {
  /** Same seed + same options = byte-identical output. Random when omitted. */
  seed?: number;
  patientId?: string;
  /** DICOM PN, e.g. "DOE^JANE". Derived from the seed when omitted. */
  patientName?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  /** (0020,0013); also moves the slice position. Default 1. */
  instanceNumber?: number;
}

export interface MultiFrameOptions extends GenerateOptions {
  /** Number of frames. Default 10. 600 frames of 512x512 is about 300 MB. */
  frames?: number;
  /** Default 512. */
  rows?: number;
  /** Default 512. */
  columns?: number;
}

export interface RadiographOptions extends GenerateOptions {
  /** Default 3000. */
  rows?: number;
  /** Default 2500. */
  columns?: number;
}

export const TransferSyntax = {
  ExplicitVrLittleEndian: "1.2.840.10008.1.2.1",
} as const;

export const SopClass = {
  CtImageStorage: "1.2.840.10008.5.1.4.1.1.2",
  MrImageStorage: "1.2.840.10008.5.1.4.1.1.4",
  MultiFrameGrayscaleWordSecondaryCapture: "1.2.840.10008.5.1.4.1.1.7.3",
  DigitalXRayForPresentation: "1.2.840.10008.5.1.4.1.1.1.1",
} as const;

// ---------------------------------------------------------------------------------------
// Low-level encoder
// ---------------------------------------------------------------------------------------

export type Vr =
  | "AE"
  | "AS"
  | "AT"
  | "CS"
  | "DA"
  | "DS"
  | "DT"
  | "FD"
  | "FL"
  | "IS"
  | "LO"
  | "LT"
  | "OB"
  | "OD"
  | "OF"
  | "OL"
  | "OV"
  | "OW"
  | "PN"
  | "SH"
  | "SL"
  | "SQ"
  | "SS"
  | "ST"
  | "SV"
  | "TM"
  | "UC"
  | "UI"
  | "UL"
  | "UN"
  | "UR"
  | "US"
  | "UT"
  | "UV";

export interface DicomElement {
  /** (group << 16) | element, e.g. 0x00100020 for PatientID. */
  tag: number;
  vr: Vr;
  /** The raw little-endian value, padded to an even length by the encoder if needed. */
  value: Buffer;
}

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length. */
const LONG_VRS: ReadonlySet<Vr> = new Set<Vr>([
  "OB",
  "OD",
  "OF",
  "OL",
  "OV",
  "OW",
  "SQ",
  "SV",
  "UC",
  "UN",
  "UR",
  "UT",
  "UV",
]);

const TEXT_VRS: ReadonlySet<Vr> = new Set<Vr>([
  "AE",
  "AS",
  "CS",
  "DA",
  "DS",
  "DT",
  "IS",
  "LO",
  "LT",
  "PN",
  "SH",
  "ST",
  "TM",
  "UC",
  "UR",
  "UT",
]);

function paddingByte(vr: Vr): number {
  return TEXT_VRS.has(vr) ? 0x20 : 0x00;
}

function headerLength(vr: Vr): number {
  return LONG_VRS.has(vr) ? 12 : 8;
}

function paddedLength(element: DicomElement): number {
  return element.value.length + (element.value.length % 2);
}

/** Encoded size of one element, header included. */
export function encodedLength(element: DicomElement): number {
  return headerLength(element.vr) + paddedLength(element);
}

function writeElementHeader(target: Buffer, offset: number, tag: number, vr: Vr, length: number): number {
  let at = target.writeUInt16LE(tag >>> 16, offset);
  at = target.writeUInt16LE(tag & 0xffff, at);
  at += target.write(vr, at, 2, "latin1");
  if (LONG_VRS.has(vr)) {
    at = target.writeUInt16LE(0, at);
    at = target.writeUInt32LE(length, at);
  } else {
    if (length > 0xffff) throw new RangeError(`value of ${tagString(tag)} ${vr} is too long (${length})`);
    at = target.writeUInt16LE(length, at);
  }
  return at;
}

/** Writes one element at offset; returns the offset after it. */
export function writeElement(target: Buffer, offset: number, element: DicomElement): number {
  const length = paddedLength(element);
  let at = writeElementHeader(target, offset, element.tag, element.vr, length);
  at += element.value.copy(target, at);
  if (length !== element.value.length) at = target.writeUInt8(paddingByte(element.vr), at);
  return at;
}

export function tagString(tag: number): string {
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

function sortAndCheck(elements: readonly DicomElement[]): DicomElement[] {
  const sorted = [...elements].sort((a, b) => (a.tag >>> 0) - (b.tag >>> 0));
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1];
    const current = sorted[i];
    if (previous !== undefined && current !== undefined && previous.tag === current.tag) {
      throw new Error(`duplicate element ${tagString(current.tag)}`);
    }
  }
  return sorted;
}

// Value builders -------------------------------------------------------------------------

/** A text element; arrays become multi-valued (joined with a backslash). */
export function text(tag: number, vr: Vr, value: string | readonly string[]): DicomElement {
  const joined = typeof value === "string" ? value : value.join("\\");
  return { tag, vr, value: Buffer.from(joined, "latin1") };
}

export function ui(tag: number, uid: string): DicomElement {
  return { tag, vr: "UI", value: Buffer.from(uid, "latin1") };
}

/** Binary numeric elements: `width` bytes per value, written little-endian by `write`. */
function numeric(
  tag: number,
  vr: "US" | "SS" | "UL",
  width: number,
  write: (target: Buffer, value: number, offset: number) => unknown,
  values: readonly number[],
): DicomElement {
  const value = Buffer.alloc(values.length * width);
  values.forEach((v, i) => {
    write(value, v, i * width);
  });
  return { tag, vr, value };
}

export function us(tag: number, ...values: number[]): DicomElement {
  return numeric(tag, "US", 2, (b, v, o) => b.writeUInt16LE(v, o), values);
}

export function ss(tag: number, ...values: number[]): DicomElement {
  return numeric(tag, "SS", 2, (b, v, o) => b.writeInt16LE(v, o), values);
}

export function ul(tag: number, ...values: number[]): DicomElement {
  return numeric(tag, "UL", 4, (b, v, o) => b.writeUInt32LE(v, o), values);
}

/** Attribute Tag values: each is written as group then element. */
export function at(tag: number, ...tags: number[]): DicomElement {
  const value = Buffer.alloc(tags.length * 4);
  tags.forEach((t, i) => {
    value.writeUInt16LE(t >>> 16, i * 4);
    value.writeUInt16LE(t & 0xffff, i * 4 + 2);
  });
  return { tag, vr: "AT", value };
}

/** Decimal String values (each at most 16 characters). */
export function ds(tag: number, ...values: number[]): DicomElement {
  return text(tag, "DS", values.map(formatDs));
}

/** Integer String values. */
export function is(tag: number, ...values: number[]): DicomElement {
  return text(
    tag,
    "IS",
    values.map((v) => String(Math.trunc(v))),
  );
}

export function formatDs(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`DS cannot hold ${value}`);
  let s = Number.isInteger(value) ? String(value) : String(Number(value.toFixed(6)));
  if (s.length > 16) s = value.toPrecision(10).replace(/\.?0+(e|$)/, "$1");
  if (s.length > 16) throw new RangeError(`DS value ${value} does not fit in 16 characters`);
  return s;
}

// Part-10 assembly -----------------------------------------------------------------------

export const IMPLEMENTATION_CLASS_UID = uidFromLabel("OrthancAzureBlobStorage test DICOM generator v1");
export const IMPLEMENTATION_VERSION_NAME = "OABS_TESTGEN_1";

function fileMetaElements(
  sopClassUid: string,
  sopInstanceUid: string,
  transferSyntax: string,
): DicomElement[] {
  const rest: DicomElement[] = [
    { tag: 0x00020001, vr: "OB", value: Buffer.from([0x00, 0x01]) },
    ui(0x00020002, sopClassUid),
    ui(0x00020003, sopInstanceUid),
    ui(0x00020010, transferSyntax),
    ui(0x00020012, IMPLEMENTATION_CLASS_UID),
    text(0x00020013, "SH", IMPLEMENTATION_VERSION_NAME),
  ];
  const groupLength = rest.reduce((sum, e) => sum + encodedLength(e), 0);
  return [ul(0x00020000, groupLength), ...rest];
}

export interface PixelDataSpec {
  /** Length of the pixel data value in bytes (must be even). */
  byteLength: number;
  /**
   * Fills the pixel data value in place. `byteOffset` is 2-byte aligned, so the region can be
   * viewed as an Int16Array / Uint16Array over `buffer`.
   */
  fill(buffer: ArrayBuffer, byteOffset: number, byteLength: number): void;
  /** Default "OW". */
  vr?: "OB" | "OW";
}

/**
 * Encodes a complete Part-10 file. The SOP Class / Instance UIDs of the File Meta Information
 * come from (0008,0016) and (0008,0018) in the dataset. Pixel data, if given, is written
 * last, directly into the output buffer.
 */
export function encodePart10(
  dataset: readonly DicomElement[],
  pixelData?: PixelDataSpec,
): { bytes: Buffer; pixelDataOffset: number } {
  const sopClassUid = findText(dataset, 0x00080016);
  const sopInstanceUid = findText(dataset, 0x00080018);
  if (sopClassUid === undefined || sopInstanceUid === undefined) {
    throw new Error("the dataset needs (0008,0016) SOPClassUID and (0008,0018) SOPInstanceUID");
  }
  const elements = sortAndCheck(dataset);
  if (elements.some((e) => e.tag >>> 16 === 0x0002)) throw new Error("group 0002 belongs to the file meta");
  if (pixelData !== undefined && elements.some((e) => e.tag >>> 0 >= 0x7fe00010)) {
    throw new Error("the dataset must not contain elements at or after (7FE0,0010) when pixelData is given");
  }
  const meta = fileMetaElements(sopClassUid, sopInstanceUid, TransferSyntax.ExplicitVrLittleEndian);

  const headerBytes =
    132 +
    meta.reduce((sum, e) => sum + encodedLength(e), 0) +
    elements.reduce((sum, e) => sum + encodedLength(e), 0);
  const pixelBytes = pixelData === undefined ? 0 : 12 + pixelData.byteLength;
  if (pixelData !== undefined && (pixelData.byteLength % 2 !== 0 || pixelData.byteLength > 0xfffffffe)) {
    throw new RangeError(`invalid pixel data length ${pixelData.byteLength}`);
  }

  // allocUnsafeSlow: never a slice of the shared pool, so typed-array views are aligned.
  const bytes = Buffer.allocUnsafeSlow(headerBytes + pixelBytes);
  bytes.fill(0, 0, 128);
  let offset = 128 + bytes.write("DICM", 128, "latin1");
  for (const element of meta) offset = writeElement(bytes, offset, element);
  for (const element of elements) offset = writeElement(bytes, offset, element);
  if (offset !== headerBytes) throw new Error(`internal: header size ${offset} != ${headerBytes}`);

  const pixelDataOffset = offset;
  if (pixelData !== undefined) {
    offset = writeElementHeader(bytes, offset, 0x7fe00010, pixelData.vr ?? "OW", pixelData.byteLength);
    const valueOffset = bytes.byteOffset + offset;
    if (valueOffset % 2 !== 0) throw new Error("internal: pixel data is not 2-byte aligned");
    pixelData.fill(bytes.buffer as ArrayBuffer, valueOffset, pixelData.byteLength);
  }
  return { bytes, pixelDataOffset };
}

function findText(elements: readonly DicomElement[], tag: number): string | undefined {
  const element = elements.find((e) => e.tag === tag);
  return element?.value.toString("latin1").replace(/[\0 ]+$/, "");
}

// ---------------------------------------------------------------------------------------
// Deterministic helpers
// ---------------------------------------------------------------------------------------

function digest(...parts: ReadonlyArray<string | number>): Buffer {
  return createHash("sha256").update(parts.join("|")).digest();
}

/** A "2.25." UID from a UUID (version 4 layout) derived from the label: at most 44 characters. */
export function uidFromLabel(label: string): string {
  const bytes = digest("uid", label).subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${bytes.toString("hex")}`).toString(10)}`;
}

/** Deterministic 32-bit value from the parts. */
function hash32(...parts: ReadonlyArray<string | number>): number {
  return digest(...parts).readUInt32LE(0);
}

/** A small, fast seeded PRNG (mulberry32) for the few per-file random choices. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function formatDate(date: Date): string {
  const y = date.getUTCFullYear().toString().padStart(4, "0");
  const m = (date.getUTCMonth() + 1).toString().padStart(2, "0");
  const d = date.getUTCDate().toString().padStart(2, "0");
  return `${y}${m}${d}`;
}

function formatTime(secondsOfDay: number): string {
  const whole = Math.floor(secondsOfDay);
  const h = Math.floor(whole / 3600)
    .toString()
    .padStart(2, "0");
  const m = Math.floor((whole % 3600) / 60)
    .toString()
    .padStart(2, "0");
  const s = (whole % 60).toString().padStart(2, "0");
  const fraction = Math.round((secondsOfDay - whole) * 1e6)
    .toString()
    .padStart(6, "0")
    .slice(0, 6);
  return `${h}${m}${s}.${fraction}`;
}

const FAMILY_NAMES = [
  "DOE",
  "SMITH",
  "MARTIN",
  "GARCIA",
  "NGUYEN",
  "DUBOIS",
  "ROSSI",
  "JANSSENS",
  "KOWALSKI",
];
const GIVEN_NAMES = ["JANE", "JOHN", "ALEX", "MARIE", "PAUL", "SOFIA", "LUCAS", "EMMA", "NOAH", "LEA"];
const INSTITUTIONS = ["Test General Hospital", "Synthetic Imaging Center", "Example University Clinic"];

type Modality = "CT" | "MR" | "OT" | "DX";

interface Common {
  seed: number;
  random: () => number;
  patientId: string;
  patientName: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  frameOfReferenceUid: string;
  instanceNumber: number;
  /** Elements shared by every generated instance (patient, study, series, SOP common). */
  elements: DicomElement[];
}

function randomSeed(): number {
  return randomInt(0, 2 ** 47);
}

function pick<T>(values: readonly T[], random: () => number): T {
  const value = values[Math.floor(random() * values.length)];
  if (value === undefined) throw new Error("pick from an empty list");
  return value;
}

function common(
  options: GenerateOptions,
  modality: Modality,
  sopClassUid: string,
  descriptions: { study: string; series: string },
): Common {
  const seed = options.seed ?? randomSeed();
  const instanceNumber = options.instanceNumber ?? 1;
  if (!Number.isInteger(instanceNumber) || instanceNumber < 0) {
    throw new RangeError(`invalid instanceNumber ${instanceNumber}`);
  }

  // Study-level values depend on the seed only, so generateCt({ seed }) and
  // generateMr({ seed }) describe the same patient and study.
  const studyRandom = createRandom(hash32("study", seed));
  const patientId =
    options.patientId ?? `PAT${(hash32("patient", seed) % 1_000_000).toString().padStart(6, "0")}`;
  const patientName =
    options.patientName ?? `${pick(FAMILY_NAMES, studyRandom)}^${pick(GIVEN_NAMES, studyRandom)}`;
  const patientSex = studyRandom() < 0.5 ? "F" : "M";
  const studyDay = new Date(Date.UTC(2012, 0, 1) + Math.floor(studyRandom() * 4500) * 86_400_000);
  const birthDay = new Date(studyDay.getTime() - Math.floor((20 + studyRandom() * 65) * 365.25) * 86_400_000);
  const studyTime = 7 * 3600 + studyRandom() * 11 * 3600;
  const accession = `ACC${(hash32("accession", seed) % 100_000_000).toString().padStart(8, "0")}`;
  const studyId = String(1 + (hash32("study-id", seed) % 99_999));
  const institution = pick(INSTITUTIONS, studyRandom);

  const studyInstanceUid = options.studyInstanceUid ?? uidFromLabel(`${seed}|study`);
  const seriesInstanceUid = options.seriesInstanceUid ?? uidFromLabel(`${seed}|series|${modality}`);
  const sopInstanceUid =
    options.sopInstanceUid ??
    uidFromLabel(`${seed}|sop|${sopClassUid}|${instanceNumber}|${seriesInstanceUid}`);
  const frameOfReferenceUid = uidFromLabel(`${seed}|frame-of-reference|${modality}`);
  for (const uid of [studyInstanceUid, seriesInstanceUid, sopInstanceUid]) assertValidUid(uid);

  const random = createRandom(hash32("instance", seed, modality, instanceNumber));
  const seriesTime = studyTime + 60 + (hash32("series-time", seed, modality) % 600);
  const contentTime = seriesTime + instanceNumber * 0.25;
  const seriesNumber = 1 + (hash32("series-number", seed, modality) % 20);

  const elements: DicomElement[] = [
    text(0x00080005, "CS", "ISO_IR 100"),
    ui(0x00080016, sopClassUid),
    ui(0x00080018, sopInstanceUid),
    text(0x00080012, "DA", formatDate(studyDay)),
    text(0x00080013, "TM", formatTime(contentTime)),
    text(0x00080020, "DA", formatDate(studyDay)),
    text(0x00080021, "DA", formatDate(studyDay)),
    text(0x00080023, "DA", formatDate(studyDay)),
    text(0x00080030, "TM", formatTime(studyTime)),
    text(0x00080031, "TM", formatTime(seriesTime)),
    text(0x00080033, "TM", formatTime(contentTime)),
    text(0x00080050, "SH", accession),
    text(0x00080060, "CS", modality),
    text(0x00080070, "LO", "OrthancAzureBlobStorage Tests"),
    text(0x00080080, "LO", institution),
    text(0x00080090, "PN", ""),
    text(0x00081030, "LO", descriptions.study),
    text(0x0008103e, "LO", descriptions.series),
    text(0x00081090, "LO", "Synthetic Scanner"),
    text(0x00100010, "PN", patientName),
    text(0x00100020, "LO", patientId),
    text(0x00100030, "DA", formatDate(birthDay)),
    text(0x00100040, "CS", patientSex),
    text(0x00181020, "LO", "1.0.0"),
    ui(0x0020000d, studyInstanceUid),
    ui(0x0020000e, seriesInstanceUid),
    text(0x00200010, "SH", studyId),
    is(0x00200011, seriesNumber),
    is(0x00200013, instanceNumber),
  ];
  return {
    seed,
    random,
    patientId,
    patientName,
    studyInstanceUid,
    seriesInstanceUid,
    sopInstanceUid,
    frameOfReferenceUid,
    instanceNumber,
    elements,
  };
}

const UID_PATTERN = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/;

export function isValidUid(uid: string): boolean {
  return uid.length <= 64 && UID_PATTERN.test(uid);
}

function assertValidUid(uid: string): void {
  if (!isValidUid(uid)) throw new RangeError(`invalid DICOM UID: ${JSON.stringify(uid)}`);
}

function imagePixelElements(p: {
  rows: number;
  columns: number;
  bitsStored: number;
  signed: boolean;
  windowCenter: number;
  windowWidth: number;
}): DicomElement[] {
  return [
    us(0x00280002, 1),
    text(0x00280004, "CS", "MONOCHROME2"),
    us(0x00280010, p.rows),
    us(0x00280011, p.columns),
    us(0x00280100, 16),
    us(0x00280101, p.bitsStored),
    us(0x00280102, p.bitsStored - 1),
    us(0x00280103, p.signed ? 1 : 0),
    ds(0x00281050, p.windowCenter),
    ds(0x00281051, p.windowWidth),
  ];
}

function checkDimension(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 0xffff)
    throw new RangeError(`invalid ${name} ${value}`);
  return value;
}

function result(c: Common, encoded: { bytes: Buffer; pixelDataOffset: number }): GeneratedDicom {
  return {
    bytes: encoded.bytes,
    sopInstanceUid: c.sopInstanceUid,
    seriesInstanceUid: c.seriesInstanceUid,
    studyInstanceUid: c.studyInstanceUid,
    patientId: c.patientId,
    pixelDataOffset: encoded.pixelDataOffset,
  };
}

function assertLittleEndianHost(): void {
  if (endianness() !== "LE")
    throw new Error("the DICOM generator writes pixels through typed arrays: LE hosts only");
}

/** Per-pixel noise: xorshift32 on a plain int32, inlined by the callers for speed. */
function noiseSeed(c: Common, label: string): number {
  return hash32("noise", c.seed, label, c.instanceNumber) | 1;
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/** CT Image Storage, 512x512, 16-bit signed (GE-like: intercept -1024, padding -2000). */
export function generateCt(options: GenerateOptions = {}): GeneratedDicom {
  assertLittleEndianHost();
  const c = common(options, "CT", SopClass.CtImageStorage, { study: "CT CHEST", series: "Axial 2.5mm" });
  const rows = 512;
  const columns = 512;
  const spacing = 0.703125;
  const thickness = 2.5;
  const z = -100 - c.instanceNumber * thickness;
  const halfFov = (columns * spacing) / 2;

  const elements = [
    ...c.elements,
    text(0x00080008, "CS", ["ORIGINAL", "PRIMARY", "AXIAL"]),
    text(0x00180015, "CS", "CHEST"),
    text(0x00180022, "CS", "HELICAL MODE"),
    ds(0x00180050, thickness),
    ds(0x00180060, 120),
    ds(0x00180090, 500),
    ds(0x00181100, columns * spacing),
    ds(0x00181120, 0),
    is(0x00181151, 250),
    text(0x00181210, "SH", "STANDARD"),
    text(0x00185100, "CS", "HFS"),
    ds(0x00200032, -halfFov, -halfFov, z),
    ds(0x00200037, 1, 0, 0, 0, 1, 0),
    ui(0x00200052, c.frameOfReferenceUid),
    ds(0x00201041, z),
    ...imagePixelElements({
      rows,
      columns,
      bitsStored: 16,
      signed: true,
      windowCenter: 40,
      windowWidth: 400,
    }),
    ds(0x00280030, spacing, spacing),
    ss(0x00280120, -2000),
    ds(0x00281052, -1024),
    ds(0x00281053, 1),
    text(0x00281054, "LO", "HU"),
  ];

  // Body outline, lungs and spine, slowly changing with the slice position.
  const r = c.random;
  const phase = c.instanceNumber * 0.05;
  const bodyA = 200 + r() * 20 + 6 * Math.sin(phase);
  const bodyB = 140 + r() * 15 + 4 * Math.sin(phase);
  const lungA = 62 + r() * 10 + 8 * Math.sin(phase * 1.3);
  const lungB = 95 + r() * 10;
  const cx = 256 + (r() - 0.5) * 10;
  const cy = 260 + (r() - 0.5) * 10;
  const seed = noiseSeed(c, "ct");

  const encoded = encodePart10(elements, {
    byteLength: rows * columns * 2,
    fill(buffer, byteOffset) {
      const out = new Int16Array(buffer, byteOffset, rows * columns);
      let s = seed;
      let i = 0;
      for (let y = 0; y < rows; y++) {
        const dy = y - cy;
        for (let x = 0; x < columns; x++) {
          s ^= s << 13;
          s ^= s >>> 17;
          s ^= s << 5;
          const noise = ((s & 31) + ((s >>> 8) & 31) - 31) | 0; // roughly triangular, +-31
          const dx = x - cx;
          const fx = x - 256;
          const fy = y - 256;
          let hu: number;
          if (fx * fx + fy * fy > 256 * 256) {
            out[i++] = -2000; // outside the reconstruction circle: padding
            continue;
          }
          const body = (dx * dx) / (bodyA * bodyA) + (dy * dy) / (bodyB * bodyB);
          if (body > 1) {
            hu = -1000 + (noise >> 2);
          } else {
            const lx = Math.abs(dx) - bodyA * 0.45;
            const lungs = (lx * lx) / (lungA * lungA) + ((dy + 10) * (dy + 10)) / (lungB * lungB);
            const sy = dy - bodyB * 0.72;
            if (dx * dx + sy * sy < 22 * 22) hu = 700 + 3 * noise;
            else if (lungs < 1) hu = -820 + 30 * lungs + noise;
            else if (body > 0.86)
              hu = -90 + noise; // subcutaneous fat
            else hu = 45 + 10 * Math.sin(x / 23 + phase) + noise;
          }
          out[i++] = (hu + 1024) | 0;
        }
      }
    },
  });
  return result(c, encoded);
}

/** MR Image Storage, 256x256, 16-bit unsigned, 12 bits stored (a head-like phantom). */
export function generateMr(options: GenerateOptions = {}): GeneratedDicom {
  assertLittleEndianHost();
  const c = common(options, "MR", SopClass.MrImageStorage, { study: "MR BRAIN", series: "T2 TSE AX" });
  const rows = 256;
  const columns = 256;
  const spacing = 0.9375;
  const thickness = 5;
  const z = -40 + c.instanceNumber * (thickness + 1);
  const half = (columns * spacing) / 2;

  const elements = [
    ...c.elements,
    text(0x00080008, "CS", ["ORIGINAL", "PRIMARY", "M", "ND"]),
    text(0x00180015, "CS", "HEAD"),
    text(0x00180020, "CS", "SE"),
    text(0x00180021, "CS", ["SK", "SP"]),
    text(0x00180022, "CS", "SAT1"),
    text(0x00180023, "CS", "2D"),
    ds(0x00180050, thickness),
    ds(0x00180080, 4000),
    ds(0x00180081, 96),
    ds(0x00180083, 1),
    ds(0x00180087, 1.5),
    ds(0x00180088, thickness + 1),
    is(0x00180091, 15),
    ds(0x00181314, 150),
    text(0x00185100, "CS", "HFS"),
    ds(0x00200032, -half, -half, z),
    ds(0x00200037, 1, 0, 0, 0, 1, 0),
    ui(0x00200052, c.frameOfReferenceUid),
    ds(0x00201041, z),
    ...imagePixelElements({
      rows,
      columns,
      bitsStored: 12,
      signed: false,
      windowCenter: 600,
      windowWidth: 1200,
    }),
    ds(0x00280030, spacing, spacing),
  ];

  const r = c.random;
  const a = 95 + r() * 8;
  const b = 115 + r() * 8;
  const cx = 128 + (r() - 0.5) * 6;
  const cy = 128 + (r() - 0.5) * 6;
  const phase = c.instanceNumber * 0.2;
  const seed = noiseSeed(c, "mr");

  const encoded = encodePart10(elements, {
    byteLength: rows * columns * 2,
    fill(buffer, byteOffset) {
      const out = new Uint16Array(buffer, byteOffset, rows * columns);
      let s = seed;
      let i = 0;
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < columns; x++) {
          s ^= s << 13;
          s ^= s >>> 17;
          s ^= s << 5;
          const noise = s & 63;
          const dx = x - cx;
          const dy = y - cy;
          const d = (dx * dx) / (a * a) + (dy * dy) / (b * b);
          let v: number;
          if (d > 1)
            v = noise >> 2; // background
          else if (d > 0.86)
            v = 300 + noise; // skull
          else if (d > 0.78)
            v = 1400 + 2 * noise; // CSF, bright on T2
          else {
            const folds = Math.sin(x / 6 + phase) * Math.cos(y / 7 - phase);
            v = 700 + 250 * folds + noise;
            const vx = Math.abs(dx) - 14;
            if (vx * vx + dy * dy * 0.25 < 60) v = 1700 + noise; // ventricles
          }
          out[i++] = v > 4095 ? 4095 : v | 0;
        }
      }
    },
  });
  return result(c, encoded);
}

/**
 * Multi-frame Grayscale Word Secondary Capture (16 bits allocated, 12 stored), default
 * 10 frames of 512x512. Large sizes are cheap: 600 frames (~300 MB) take about a second.
 */
export function generateMultiFrame(options: MultiFrameOptions = {}): GeneratedDicom {
  assertLittleEndianHost();
  const frames = options.frames ?? 10;
  if (!Number.isInteger(frames) || frames < 1) throw new RangeError(`invalid frames ${frames}`);
  const rows = checkDimension("rows", options.rows ?? 512);
  const columns = checkDimension("columns", options.columns ?? 512);
  const c = common(options, "OT", SopClass.MultiFrameGrayscaleWordSecondaryCapture, {
    study: "SECONDARY CAPTURE",
    series: `Multi-frame ${frames}`,
  });

  const elements = [
    ...c.elements,
    text(0x00080008, "CS", ["DERIVED", "SECONDARY"]),
    text(0x00080064, "CS", "WSD"),
    ds(0x00181063, 40),
    text(0x00181016, "LO", "OrthancAzureBlobStorage Tests"),
    text(0x00181018, "LO", "Synthetic Workstation"),
    text(0x00200020, "CS", ""),
    is(0x00280008, frames),
    at(0x00280009, 0x00181063),
    ...imagePixelElements({
      rows,
      columns,
      bitsStored: 12,
      signed: false,
      windowCenter: 2048,
      windowWidth: 4096,
    }),
    ds(0x00280030, 0.5, 0.5),
    text(0x00280301, "CS", "NO"),
    ds(0x00281052, 0),
    ds(0x00281053, 1),
    text(0x00281054, "LO", "US"),
  ];

  // Smooth separable pattern (row term + column term + per-frame drift) plus seeded noise:
  // one add per pixel, so 150 M pixels fill in well under a few seconds.
  const r = c.random;
  const rowTerm = new Int32Array(rows);
  const columnTerm = new Int32Array(columns);
  const fy = 2 + r() * 4;
  const fx = 2 + r() * 4;
  for (let y = 0; y < rows; y++) rowTerm[y] = Math.round(700 + 700 * Math.sin((y / rows) * Math.PI * fy));
  for (let x = 0; x < columns; x++) {
    columnTerm[x] = Math.round(700 + 700 * Math.cos((x / columns) * Math.PI * fx));
  }
  const seed = noiseSeed(c, "multi-frame");
  const framePixels = rows * columns;

  const encoded = encodePart10(elements, {
    byteLength: framePixels * frames * 2,
    fill(buffer, byteOffset) {
      const out = new Uint16Array(buffer, byteOffset, framePixels * frames);
      let s = seed;
      let i = 0;
      for (let f = 0; f < frames; f++) {
        const drift = 200 + Math.round(250 + 250 * Math.sin(f / 7));
        for (let y = 0; y < rows; y++) {
          const base = drift + (rowTerm[y] ?? 0);
          for (let x = 0; x < columns; x++) {
            s ^= s << 13;
            s ^= s >>> 17;
            s ^= s << 5;
            out[i++] = base + (columnTerm[x] ?? 0) + (s & 127); // max 200+500+1400+1400+127 < 4096
          }
        }
      }
    },
  });
  return result(c, encoded);
}

/** Digital X-Ray (For Presentation), default 3000 rows x 2500 columns, 12 bits stored (~15 MB). */
export function generateRadiograph(options: RadiographOptions = {}): GeneratedDicom {
  assertLittleEndianHost();
  const rows = checkDimension("rows", options.rows ?? 3000);
  const columns = checkDimension("columns", options.columns ?? 2500);
  const c = common(options, "DX", SopClass.DigitalXRayForPresentation, { study: "XR CHEST", series: "PA" });
  const spacing = 0.143;

  const elements = [
    ...c.elements,
    text(0x00080008, "CS", ["ORIGINAL", "PRIMARY"]),
    text(0x00080068, "CS", "FOR PRESENTATION"),
    text(0x00180015, "CS", "CHEST"),
    ds(0x00180060, 125),
    ds(0x00181164, spacing, spacing),
    is(0x00181150, 12),
    is(0x00181151, 320),
    text(0x00185101, "CS", "PA"),
    text(0x00200020, "CS", ["L", "F"]),
    text(0x00280301, "CS", "NO"),
    ...imagePixelElements({
      rows,
      columns,
      bitsStored: 12,
      signed: false,
      windowCenter: 2048,
      windowWidth: 4096,
    }),
    ds(0x00280030, spacing, spacing),
    text(0x00281040, "CS", "LOG"),
    ss(0x00281041, 1),
    ds(0x00281052, 0),
    ds(0x00281053, 1),
    text(0x00281054, "LO", "US"),
    text(0x00282110, "CS", "00"),
    text(0x20500020, "CS", "IDENTITY"),
  ];

  const r = c.random;
  const cx = columns / 2 + (r() - 0.5) * columns * 0.04;
  const cy = rows * 0.52;
  const bodyA = columns * (0.4 + r() * 0.05);
  const bodyB = rows * 0.55;
  const lungA = columns * 0.16;
  const lungB = rows * 0.3;
  const lungDx = columns * 0.19;
  const seed = noiseSeed(c, "dx");

  const encoded = encodePart10(elements, {
    byteLength: rows * columns * 2,
    fill(buffer, byteOffset) {
      const out = new Uint16Array(buffer, byteOffset, rows * columns);
      let s = seed;
      let i = 0;
      for (let y = 0; y < rows; y++) {
        const dy = (y - cy) / bodyB;
        const ly = (y - cy + rows * 0.04) / lungB;
        const rib = 120 * Math.max(0, Math.sin(y / 45));
        for (let x = 0; x < columns; x++) {
          s ^= s << 13;
          s ^= s >>> 17;
          s ^= s << 5;
          const noise = s & 63;
          const dx = (x - cx) / bodyA;
          const body = dx * dx + dy * dy;
          let v: number;
          if (body > 1)
            v = 150 + noise; // direct exposure
          else {
            const lx = (Math.abs(x - cx) - lungDx) / lungA;
            const lung = lx * lx + ly * ly;
            v = lung < 1 ? 900 + 500 * lung + rib + noise : 2600 - 900 * body + noise;
          }
          out[i++] = v | 0;
        }
      }
    },
  });
  return result(c, encoded);
}

/** `count` instances of one series (same patient, study and series; instance numbers 1..count). */
export function generateStudy(options: {
  kind: "ct" | "mr";
  count: number;
  seed?: number;
  patientId?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
}): GeneratedDicom[] {
  if (!Number.isInteger(options.count) || options.count < 0)
    throw new RangeError(`invalid count ${options.count}`);
  const seed = options.seed ?? randomSeed();
  const generate = options.kind === "ct" ? generateCt : generateMr;
  const first: GenerateOptions = { seed };
  if (options.patientId !== undefined) first.patientId = options.patientId;
  if (options.studyInstanceUid !== undefined) first.studyInstanceUid = options.studyInstanceUid;
  if (options.seriesInstanceUid !== undefined) first.seriesInstanceUid = options.seriesInstanceUid;
  const instances: GeneratedDicom[] = [];
  for (let n = 1; n <= options.count; n++) {
    const previous = instances[0];
    instances.push(
      generate({
        ...first,
        instanceNumber: n,
        ...(previous === undefined
          ? {}
          : { studyInstanceUid: previous.studyInstanceUid, seriesInstanceUid: previous.seriesInstanceUid }),
      }),
    );
  }
  return instances;
}
