/**
 * Writes DICOM Part-10 files made by the test generators (test/support/dicom.ts) to a directory,
 * for trying the plugin by hand (storescu, POST /instances) with realistic data.
 *
 *   npm run gen:dicom -- --kind ct --count 20 --seed 7 /tmp/dicom
 *
 * The script bundles this file with esbuild to build/tools/generate-dicom.cjs (the host's Node
 * 20 does not run TypeScript) and runs it.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type GeneratedDicom,
  generateMultiFrame,
  generateRadiograph,
  generateStudy,
} from "../test/support/dicom.ts";

const KINDS = ["ct", "mr", "multiframe", "radiograph"] as const;
type Kind = (typeof KINDS)[number];

const USAGE = `Usage: npm run gen:dicom -- [options] <directory>

Writes generated DICOM files (explicit VR little endian) to <directory>, created if missing,
as <kind>-0001.dcm, <kind>-0002.dcm, ...

Options:
  --kind KIND     ct (default; 512x512 slices, ~0.5 MB), mr (256x256 slices),
                  multiframe (512x512 frames, 0.5 MB a frame) or radiograph (~15 MB)
  --count N       how many instances (default 10); ct and mr make one series of N slices
  --frames N      frames of each multiframe instance (default 10)
  --seed N        same seed, same files; random UIDs when omitted
  --help          this text
`;

function integer(name: string, raw: string | undefined, fallback: number | undefined): number | undefined {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Expected a non-negative integer for --${name} but received ${JSON.stringify(raw)}`);
  }
  return value;
}

function generate(kind: Kind, count: number, frames: number, seed: number | undefined): GeneratedDicom[] {
  if (kind === "ct" || kind === "mr") {
    return generateStudy({ kind, count, ...(seed === undefined ? {} : { seed }) });
  }
  // Each instance its own seed, so that a seeded run still gives distinct UIDs.
  return Array.from({ length: count }, (_, i) => {
    const options = seed === undefined ? {} : { seed: seed + i };
    return kind === "multiframe" ? generateMultiFrame({ ...options, frames }) : generateRadiograph(options);
  });
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kind: { type: "string", default: "ct" },
      count: { type: "string" },
      frames: { type: "string" },
      seed: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const kind = KINDS.find((k) => k === values.kind);
  if (kind === undefined) {
    throw new Error(`Expected --kind ${KINDS.join(", ")} but received ${JSON.stringify(values.kind)}`);
  }
  const [directory, ...extra] = positionals;
  if (directory === undefined || extra.length > 0) throw new Error(`Expected one directory\n\n${USAGE}`);
  const count = integer("count", values.count, 10) ?? 10;
  const frames = integer("frames", values.frames, 10) ?? 10;
  const seed = integer("seed", values.seed, undefined);

  mkdirSync(directory, { recursive: true });
  let bytes = 0;
  for (const [i, instance] of generate(kind, count, frames, seed).entries()) {
    writeFileSync(join(directory, `${kind}-${String(i + 1).padStart(4, "0")}.dcm`), instance.bytes);
    bytes += instance.bytes.length;
  }
  process.stdout.write(`wrote ${count} ${kind} file(s), ${(bytes / 1e6).toFixed(1)} MB, to ${directory}\n`);
}

try {
  main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
