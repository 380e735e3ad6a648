/**
 * Turns build/bench/ingest.json (bench/ingest.ts) and, when present, build/bench/crypto.json
 * (bench/crypto.ts) and build/bench/hop.json (bench/hop.ts) into BENCHMARKS.md at the
 * repository root and bench/results/throughput.svg.
 *
 *   node tools/build-bench.mjs && node build/bench/ingest.cjs && node build/bench/report.cjs
 *
 * Run from the repository root. Only the measured numbers are used; nothing is estimated. The
 * shapes of the three JSON files are declared in bench/schema.ts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Aggregate, CryptoReport, HopReport, IngestReport, Target } from "./schema.ts";
import type { Spread } from "./stats.ts";

const ROOT = process.cwd();
const INGEST_FILE = join(ROOT, "build", "bench", "ingest.json");
const CRYPTO_FILE = join(ROOT, "build", "bench", "crypto.json");
const HOP_FILE = join(ROOT, "build", "bench", "hop.json");
const OUTPUT = join(ROOT, "BENCHMARKS.md");
const SVG_DIR = join(ROOT, "bench", "results");
const SVG_FILE = join(SVG_DIR, "throughput.svg");
const SVG_LINK = "bench/results/throughput.svg";

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as T) : undefined;
}

// ---------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------

function fmt(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value.toFixed(digits);
}

/** "median (min–max)", or just the value when the range is a single point. */
function range(summary: Spread | null | undefined, digits = 1): string {
  if (summary === null || summary === undefined) return "–";
  if (summary.min === summary.max) return fmt(summary.median, digits);
  return `${fmt(summary.median, digits)} (${fmt(summary.min, digits)}–${fmt(summary.max, digits)})`;
}

function times(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined ? "–" : `${ratio.toFixed(2)}×`;
}

function perRound(values: number[] | undefined): string {
  return values === undefined || values.length === 0
    ? ""
    : ` (per round: ${values.map((v) => v.toFixed(2)).join(", ")})`;
}

/** A Markdown table; the first `textColumns` columns are left-aligned, the others (numbers) right-aligned. */
function table(header: string[], rows: string[][], textColumns = 1): string {
  // Padded the way biome formats Markdown tables, so the generated file passes `biome ci`.
  const width = (text: string): number => [...text].length;
  const widths = header.map((h, i) => Math.max(3, width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const cell = (text: string, i: number): string => {
    const pad = " ".repeat((widths[i] ?? 0) - width(text));
    return i < textColumns ? `${text}${pad}` : `${pad}${text}`;
  };
  const line = (cells: string[]): string =>
    `| ${header.map((_, i) => cell(cells[i] ?? "", i)).join(" | ")} |`;
  const rule = header.map((_, i) =>
    i < textColumns ? "-".repeat(widths[i] ?? 3) : `${"-".repeat((widths[i] ?? 3) - 1)}:`,
  );
  return [line(header), `| ${rule.join(" | ")} |`, ...rows.map(line)].join("\n");
}

function thresholdText(target: Target): string {
  if (target.thresholdText !== undefined) return target.thresholdText;
  if (target.threshold === null) return "–";
  switch (target.comparison ?? ">=") {
    case "<=":
      return `≤ ${target.threshold}×`;
    case "<":
      return target.threshold < 1 ? `< ${target.threshold * 100} %` : `< ${target.threshold}`;
    case "==":
      return `= ${target.threshold}`;
    default:
      return `≥ ${target.threshold}×`;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function statusOf(target: Target): string {
  if (target.status !== undefined) return target.status;
  if (target.met === null || target.ratio === null) return "NOT MEASURED";
  return target.met ? "MET" : "MISSED";
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// ---------------------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------------------

function niceStep(max: number): number {
  const rough = max / 6;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= rough) return m * power;
  return 10 * power;
}

function throughputSvg(report: IngestReport): string {
  const series = [
    { workload: "ingest-1", label: "1 client", color: "#4e79a7" },
    { workload: "ingest-4", label: "4 clients", color: "#f28e2b" },
    { workload: "ingest-16", label: "16 clients", color: "#59a14f" },
  ];
  const configs = report.configurations.map((c) => c.name);
  const get = (config: string, workload: string): Spread | null =>
    report.results.find((r) => r.config === config && r.workload === workload)?.metrics.instancesPerSecond ??
    null;
  const maxValue = Math.max(1, ...configs.flatMap((c) => series.map((s) => get(c, s.workload)?.max ?? 0)));
  const step = niceStep(maxValue);
  const top = Math.ceil((maxValue * 1.08) / step) * step;

  const width = 900;
  const height = 440;
  const left = 64;
  const right = 16;
  const plotTop = 56;
  const plotBottom = height - 70;
  const plotHeight = plotBottom - plotTop;
  const groupWidth = (width - left - right) / configs.length;
  const barWidth = Math.min(34, (groupWidth - 24) / series.length);
  const y = (v: number): number => plotBottom - (v / top) * plotHeight;
  const parts: string[] = [];

  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img" aria-label="REST ingest instances per second by configuration and client count">`,
    "<title>REST ingest throughput (instances/s) per configuration, 1, 4 and 16 clients</title>",
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">REST ingest of ${report.parameters.instances} CT instances (${(report.parameters.ctInstanceBytes / 1e6).toFixed(2)} MB each): instances/s</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">bar = median of ${plural(report.parameters.rounds, "interleaved round")}, whisker = min–max; ${escapeXml(report.startedAt.slice(0, 10))}, ${report.machine.nproc} cores, Orthanc ${escapeXml(report.versions.orthanc)}</text>`,
  );
  for (let v = 0; v <= top + 1e-9; v += step) {
    const yy = y(v).toFixed(1);
    parts.push(
      `<line x1="${left}" y1="${yy}" x2="${width - right}" y2="${yy}" stroke="#e3e3e3"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${Number(v.toFixed(6))}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" y1="${plotBottom}" x2="${width - right}" y2="${plotBottom}" stroke="#333"/>`,
    `<text x="16" y="${(plotTop + plotBottom) / 2}" transform="rotate(-90 16 ${(plotTop + plotBottom) / 2})" text-anchor="middle" fill="#333">instances/s</text>`,
  );

  configs.forEach((config, g) => {
    const groupLeft = left + g * groupWidth;
    const barsLeft = groupLeft + (groupWidth - barWidth * series.length) / 2;
    series.forEach((s, i) => {
      const summary = get(config, s.workload);
      if (summary === null) return;
      const x = barsLeft + i * barWidth;
      const cx = x + barWidth / 2;
      parts.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${y(summary.median).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(plotBottom - y(summary.median)).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${config}, ${s.label}: median ${fmt(summary.median)} inst/s (min ${fmt(summary.min)}, max ${fmt(summary.max)})`)}</title></rect>`,
        `<line x1="${cx.toFixed(1)}" y1="${y(summary.min).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(summary.max).toFixed(1)}" stroke="#222"/>`,
        `<line x1="${(cx - 5).toFixed(1)}" y1="${y(summary.min).toFixed(1)}" x2="${(cx + 5).toFixed(1)}" y2="${y(summary.min).toFixed(1)}" stroke="#222"/>`,
        `<line x1="${(cx - 5).toFixed(1)}" y1="${y(summary.max).toFixed(1)}" x2="${(cx + 5).toFixed(1)}" y2="${y(summary.max).toFixed(1)}" stroke="#222"/>`,
        `<text x="${cx.toFixed(1)}" y="${(y(summary.max) - 5).toFixed(1)}" text-anchor="middle" font-size="10" fill="#222">${Math.round(summary.median)}</text>`,
      );
    });
    parts.push(
      `<text x="${(groupLeft + groupWidth / 2).toFixed(1)}" y="${plotBottom + 18}" text-anchor="middle" fill="#222">${escapeXml(config)}</text>`,
    );
  });

  const legendY = height - 24;
  let legendX = width / 2 - (series.length * 110) / 2;
  for (const s of series) {
    parts.push(
      `<rect x="${legendX}" y="${legendY - 10}" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${legendX + 18}" y="${legendY}" fill="#222">${escapeXml(s.label)}</text>`,
    );
    legendX += 110;
  }
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------

/**
 * The profile behind T2 (encrypted vs plain ingest): CPU per instance of each process, from the
 * same run, and the ratio that CPU alone predicts when both cores are saturated.
 */
function encryptionOverheadSection(ingest: IngestReport): string {
  const cpu = (config: string, process: "orthancCpuMsPerInstance" | "azuriteCpuMsPerInstance") =>
    ingest.results.find((r) => r.config === config && r.workload === "ingest-4")?.metrics[process]?.median ??
    null;
  const plain = {
    orthanc: cpu("azurite-plain", "orthancCpuMsPerInstance"),
    azurite: cpu("azurite-plain", "azuriteCpuMsPerInstance"),
  };
  const local = {
    orthanc: cpu("azurite-local-key", "orthancCpuMsPerInstance"),
    azurite: cpu("azurite-local-key", "azuriteCpuMsPerInstance"),
  };
  const memory = {
    plain: cpu("plugin-memory", "orthancCpuMsPerInstance"),
    encrypted: cpu("memory-local-key", "orthancCpuMsPerInstance"),
  };
  const t2 = ingest.targets.find((t) => t.id === "T2");
  if (
    plain.orthanc === null ||
    plain.azurite === null ||
    local.orthanc === null ||
    local.azurite === null ||
    t2 === undefined
  ) {
    return "";
  }
  const plainTotal = plain.orthanc + plain.azurite;
  const localTotal = local.orthanc + local.azurite;
  const memoryDelta =
    memory.plain === null || memory.encrypted === null ? null : memory.encrypted - memory.plain;
  return [
    "### The profile behind T2",
    "",
    `ingest-4, CPU ms per instance (medians, see "CPU per instance" below): azurite-plain ${fmt(plain.orthanc, 2)} (Orthanc with the plugin) + ${fmt(plain.azurite, 2)} (Azurite) = ${fmt(plainTotal, 2)}; azurite-local-key ${fmt(local.orthanc, 2)} + ${fmt(local.azurite, 2)} = ${fmt(localTotal, 2)}. With both cores busy, throughput follows total CPU: ${fmt(plainTotal, 2)} / ${fmt(localTotal, 2)} = ${fmt(plainTotal / localTotal, 3)}, against the measured ${t2.ratio === null ? "–" : fmt(t2.ratio, 3)}. Encryption adds ${fmt(local.orthanc - plain.orthanc, 2)} ms to Orthanc's process${memoryDelta === null ? "" : ` (${fmt(memoryDelta, 2)} ms without Azurite: memory-local-key vs plugin-memory)`} and ${fmt(local.azurite - plain.azurite, 2)} ms to Azurite (the envelope metadata) per 0.526 MB instance, where OpenSSL's sequential bound for the same bytes is about 0.8 ms (T4). What fills the gap to that bound is not measured yet (the next step below); the likeliest cause is the same crypto running on two vCPUs that Azurite and Orthanc keep busy. Against real Azure, Azurite's CPU is not on this host and the network round trip dominates.`,
    "",
    "Next step: a per-operation thread-CPU counter in the plugin's status route, to split the plugin's share into crypto and the rest; then cut the fixed per-blob work, and measure with idle cores, where `CryptoOffloadMinKB: 256` takes CT-sized crypto off the JS thread.",
    "",
  ].join("\n");
}

/** Where the CPU goes, per instance: Orthanc (the plugin, its JS thread and crypto workers included) and Azurite. */
function cpuSection(ingest: IngestReport): string {
  const workloads = ["ingest-4", "file-4"];
  const rows: string[][] = [];
  for (const result of ingest.results) {
    if (!workloads.includes(result.workload)) continue;
    const orthanc = result.metrics.orthancCpuMsPerInstance;
    const azurite = result.metrics.azuriteCpuMsPerInstance;
    const total = orthanc === null ? null : orthanc.median + (azurite === null ? 0 : azurite.median);
    rows.push([result.config, result.workload, range(orthanc, 2), range(azurite, 2), fmt(total, 2)]);
  }
  if (rows.length === 0) return "";
  return [
    "## CPU per instance",
    "",
    "CPU time (user + system, from /proc/<pid>/stat) that each process spent during the workload, over the instances: Orthanc includes the plugin (its JS thread and crypto workers); Azurite is the storage emulator. Median (min–max) over the rounds; total is the sum of the medians. The machine has 2 cores, so a workload that keeps both busy is bounded by this total.",
    "",
    table(["Configuration", "Workload", "Orthanc ms/inst", "Azurite ms/inst", "Total ms/inst"], rows, 2),
    "",
  ].join("\n");
}

function targetsSection(ingest: IngestReport | undefined, crypto: CryptoReport | undefined): string {
  const fromIngest = ingest?.targets ?? [];
  const fromCrypto = crypto?.targets ?? [];
  const list: Target[] = [];
  for (const target of fromIngest) {
    if (target.id === "T4" && fromCrypto.length > 0) list.push(...fromCrypto);
    else list.push(target);
  }
  if (fromIngest.length === 0) list.push(...fromCrypto);
  const rows = list.map((t) => {
    return [
      t.id,
      t.description,
      `${t.measured}${perRound(t.perRound)}`,
      thresholdText(t),
      `**${statusOf(t)}**`,
    ];
  });
  return table(["Target", "What", "Measured", "Threshold", "Status"], rows, 5);
}

function workloadTables(report: IngestReport): string {
  const out: string[] = [];
  for (const workload of report.workloads) {
    const rows = report.configurations
      .map((config) => report.results.find((r) => r.config === config.name && r.workload === workload.id))
      .filter((r): r is Aggregate => r !== undefined)
      .map((r) => {
        const ops = r.storeOperationsPerInstance;
        const opsText =
          ops === null
            ? "–"
            : `${fmt(r.metrics.storeRequestsPerInstance?.median, 2)} (${Object.entries(ops)
                .filter(([, n]) => n > 0)
                .map(([op, n]) => `${op} ${fmt(n, 2)}`)
                .join(", ")})`;
        return [
          r.config,
          range(r.metrics.instancesPerSecond),
          times(r.ratioVsFilesystem.instancesPerSecond),
          range(r.metrics.mbPerSecond),
          range(r.metrics.p50Ms),
          range(r.metrics.p99Ms),
          opsText,
          r.metrics.keyVaultCalls === null ? "–" : range(r.metrics.keyVaultCalls, 0),
        ];
      });
    out.push(
      `### ${workload.id}: ${workload.description}`,
      "",
      table(
        [
          "Configuration",
          "inst/s",
          "× filesystem",
          "MB/s",
          "p50 ms",
          "p99 ms",
          "store ops / instance",
          "Key Vault calls",
        ],
        rows,
      ),
      "",
    );
  }
  return out.join("\n");
}

/** Facts of this run that the tables do not show directly. */
function notes(report: IngestReport): string {
  const out: string[] = [];
  const storescuBase = report.results.find((r) => r.config === "filesystem" && r.workload === "storescu-1");
  const ingestBase = report.results.find((r) => r.config === "filesystem" && r.workload === "ingest-1");
  const a = storescuBase?.metrics.instancesPerSecond?.median;
  const b = ingestBase?.metrics.instancesPerSecond?.median;
  if (a !== undefined && b !== undefined) {
    out.push(
      `- storescu sends one file at a time and waits for each C-STORE response: the filesystem baseline reached ${fmt(a)} inst/s this way, against ${fmt(b)} inst/s for one REST client, so this workload measures the DICOM exchange more than the storage.`,
    );
  }
  const startup = report.configRuns.filter((r) => r.keyVaultCallsStartup !== null);
  for (const config of [...new Set(startup.map((r) => r.config))]) {
    const calls = startup.filter((r) => r.config === config).map((r) => r.keyVaultCallsStartup ?? 0);
    out.push(
      `- ${config}: ${[...new Set(calls)].join(" or ")} Key Vault + Entra calls per Orthanc between its start and the end of the warm-up (token, key, self-test, and unwraps for the warm-up reads when the pool is small); not counted in the tables.`,
    );
  }
  return out.join("\n");
}

function comparisonsTable(report: IngestReport): string {
  const ids = report.workloads.map((w) => w.id);
  const rows = report.comparisons.map((c) => [c.name, ...ids.map((id) => times(c.workloads[id].ratio))]);
  return table(["inst/s, ratio of medians", ...ids], rows);
}

function largeObjectSection(report: IngestReport): string {
  const rows = report.largeObject;
  const mf = report.multiFrame;
  if (rows.length === 0 || mf === null) return "";
  const rounds = report.parameters.largeObjectRounds;
  return [
    "## T7: storing and reading back a large object",
    "",
    `One ${mf.frames}-frame 512×512 16-bit object (${(mf.objectBytes / 1e6).toFixed(1)} MB, ${(mf.objectBytes / 2 ** 20).toFixed(1)} MiB), ${plural(rounds, "round")}; in each round filesystem, azurite-plain and azurite-local-key run once, in a rotating order, each in a fresh Orthanc (and Azurite). Each run uploads one small CT, then sends \`POST /instances\` of the large object followed by \`GET /instances/{id}/file\` (checked for length). During that transfer a second client, on its own thread and event loop, sends \`GET /instances/{id}/tags\` of the small CT one at a time; its requests started between the beginning of the upload and the end of the download are counted. Peak RSS is Orthanc's VmHWM after the transfer (its whole life: start-up, warm-up, transfer); "peak over filesystem" subtracts the filesystem run of the same round and divides by the object's size. Each cell: median (min–max) over the rounds.`,
    "",
    table(
      [
        "Configuration",
        "RSS before, MiB",
        "peak RSS, MiB",
        "peak over filesystem, × object",
        "upload s",
        "/file s",
        "small reads",
        "p50 ms",
        "p99 ms",
        "max ms",
      ],
      rows.map((r) => [
        r.config,
        range(r.rssBeforeMiB, 0),
        range(r.peakRssMiB, 0),
        r.config === "filesystem" ? "–" : range(r.excessOverObject, 2),
        range(r.uploadSeconds, 1),
        range(r.downloadSeconds, 1),
        `${range(r.smallReads, 0)}${r.smallReadErrors > 0 ? ` (${r.smallReadErrors} failed)` : ""}`,
        range(r.smallReadP50Ms),
        range(r.smallReadP99Ms),
        range(r.smallReadMaxMs),
      ]),
    ),
    "",
  ].join("\n");
}

function hopSection(hop: HopReport): string {
  return [
    "## The C++ → JS → C++ hop (bench/hop.ts)",
    "",
    `Command: \`${hop.command}\`. \`GET /azure-blob-storage/testing/hop?threads=N&calls=M\` (only with \`EnableTestingEndpoints\`) makes N native threads inside Orthanc each send M no-op Echo calls, one at a time, through the same thread-safe-function dispatch and wait as the storage callbacks; JS answers each at once with the 8 bytes it was sent, and the shim checks them. Latency is per call (steady_clock, C++ side); calls/s is all calls over the wall time. ${hop.callsPerMeasurement} calls per measurement, ${plural(hop.repetitions, "repetition")} of each thread count, interleaved, in one Orthanc (${hop.configuration}), after a warm-up. Each cell: median (min–max) over the repetitions.`,
    "",
    table(
      ["Threads", "calls/s", "p50 µs", "p99 µs", "max µs"],
      hop.results.map((r) => [
        String(r.threads),
        range(r.callsPerSecond, 0),
        range(r.p50Us),
        range(r.p99Us),
        range(r.maxUs),
      ]),
    ),
    "",
  ].join("\n");
}

function document(
  ingest: IngestReport | undefined,
  crypto: CryptoReport | undefined,
  hop: HopReport | undefined,
): string {
  const lines: string[] = ["# Benchmarks", ""];
  if (ingest !== undefined) {
    const p = ingest.parameters;
    const m = ingest.machine;
    const v = ingest.versions;
    const minutes = (ingest.durationSeconds / 60).toFixed(1);
    lines.push(
      `Measured ${ingest.startedAt.replace("T", " ").slice(0, 16)} UTC, ${minutes} min run, by \`bench/ingest.ts\`${crypto === undefined ? "" : ", `bench/crypto.ts`"}${hop === undefined ? "" : ", `bench/hop.ts`"} (see [bench/README.md](bench/README.md)).`,
      "",
      "## Setup",
      "",
      `- **Machine**: ${m.nproc} CPUs (\`nproc\`), ${m.cpuModel}, ${m.memTotalMiB === null ? "?" : (m.memTotalMiB / 1024).toFixed(1)} GiB RAM; shared and noisy (load average ${m.loadAverageBefore.map((x) => x.toFixed(2)).join(" / ")} before, ${m.loadAverageAfter.map((x) => x.toFixed(2)).join(" / ")} after). Orthanc, Azurite, the Key Vault emulator and the load generator all run on it.`,
      `- **Versions**: Orthanc ${v.orthanc} (Debian), plugin ${v.plugin} (built from commit ${v.source.commit.slice(0, 12)}${v.source.dirty === true ? " with uncommitted changes in src/ or native/" : ""}) with embedded Node ${v.embeddedNode}, benchmark client on Node ${v.hostNode}; ${Object.entries(
        v.packages,
      )
        .map(([name, version]) => `${name} ${version}`)
        .join(", ")}.`,
      `- **Command**: \`${ingest.command}\``,
      `- **Corpus**: CT series generated by \`test/support/dicom.ts\` (512×512, 16-bit, ${(p.ctInstanceBytes / 1e6).toFixed(3)} MB per instance); ${p.instances} instances per workload, a distinct series for each ingest workload, so every upload is a real store. ${p.warmupInstances} warm-up instances (uploaded and read, not measured) per Orthanc.`,
      `- **Method**: ${plural(p.rounds, "round")}; in each round every configuration runs once, in a fresh Orthanc (\`MaximumStorageCacheSize: 0\`, and a fresh Azurite where it uses one), in a rotating order (${ingest.order.map((o, i) => `round ${i + 1}: ${o.join(" → ")}`).join("; ")}). Within one Orthanc: ingest-1, ingest-4, ingest-16, then /file and /tags on the ingest-4 series, mixed-4 (uploads of a new series alternating with /file reads of the ingest-16 series), DELETE of the ingest-4 series, then storescu. Clients each send their contiguous share of the corpus, one request at a time, through ${p.httpClient === "fetch" ? "Node's fetch" : "node:http with a keep-alive agent"}.`,
      `- **Counters**: store ops / instance are deltas of the plugin's \`GET /azure-blob-storage/status\` operation counters (storage-area calls; each is one HTTP request to Blob Storage at these sizes, below SingleUploadThresholdMB); Key Vault calls are every request the Key Vault + Entra emulator served during the workload (warm-up excluded). Peak RSS is Orthanc's VmHWM at the end of each configuration run.`,
      "",
      "Configurations:",
      "",
      ...ingest.configurations.map((c) => `- \`${c.name}\`: ${c.description}`),
      "",
      "## Targets",
      "",
      targetsSection(ingest, crypto),
      "",
      `Ratios are of medians over the rounds of this run; the per-round ratios pair the two configurations of the same round.${crypto === undefined ? "" : " The T4 rows come from `build/bench/crypto.json`, a separate run of `bench/crypto.ts` (see below)."}`,
      "",
      encryptionOverheadSection(ingest),
      "## REST ingest throughput",
      "",
      `![REST ingest instances/s per configuration, 1/4/16 clients, median with min–max whiskers](${SVG_LINK})`,
      "",
      "## Results per workload",
      "",
      `Each cell: median (min–max) over ${plural(p.rounds, "round")}. "× filesystem" is this configuration's median inst/s over the filesystem median of the same run. MB/s counts DICOM bytes moved (not given for /tags and DELETE). In mixed-4, "inst/s" counts requests (half uploads, half /file reads) and MB/s the bytes of both directions. Latency is per request, per client; storescu has one association, so no per-request latency.`,
      "",
      notes(ingest),
      "",
      workloadTables(ingest),
      "## Pairwise ratios",
      "",
      comparisonsTable(ingest),
      "",
      cpuSection(ingest),
      "## Orthanc peak RSS (VmHWM)",
      "",
      table(
        ["Configuration", "MiB, median (min–max)"],
        ingest.rss.map((r) => [r.config, range(r.peakRssMiB)]),
      ),
      "",
    );
    const mf = ingest.multiFrame;
    if (mf !== null) {
      lines.push(
        "## T6: /tags on a large multi-frame object",
        "",
        mf.error !== undefined
          ? `Failed: ${mf.error.split("\n")[0]}`
          : `One ${mf.frames}-frame 512×512 16-bit object (${(mf.objectBytes / 1e6).toFixed(1)} MB), azurite-plain, once: uploaded in ${mf.uploadSeconds.toFixed(1)} s; \`GET /instances/{id}/tags\` took ${mf.tagsMs.toFixed(0)} ms and read ${mf.readRangeBytes} bytes in ${mf.readRangeCalls} range read(s) and ${mf.readWholeBytes} bytes in ${mf.readWholeCalls} whole read(s): ${(((mf.readRangeBytes + mf.readWholeBytes) / mf.objectBytes) * 100).toFixed(4)} % of the object.`,
        "",
      );
    }
    lines.push(largeObjectSection(ingest));
    const failures = [
      ...ingest.configRuns,
      ...(ingest.largeObjectRuns ?? []).map((r) => ({ ...r, config: `T7 ${r.config}` })),
    ].filter((r) => r.error !== undefined);
    if (failures.length > 0) {
      lines.push(
        "## Failed configuration runs",
        "",
        ...failures.map((f) => `- round ${f.round + 1}, ${f.config}: ${(f.error ?? "").split("\n")[0]}`),
        "",
      );
    }
  }
  if (crypto !== undefined) {
    lines.push(
      "## Crypto (bench/crypto.ts)",
      "",
      `Command: \`${crypto.command}\``,
      "",
      table(
        ["Measurement", "MB/s"],
        crypto.results.map((r) => [r.name, range(r.mbPerSecond)]),
      ),
      "",
    );
  }
  if (hop !== undefined) lines.push(hopSection(hop));
  lines.push(
    "## How to read this",
    "",
    "This runs on a small shared machine whose other tenants come and go, and the load generator, Orthanc, Azurite and the Key Vault emulator all compete for its cores. Absolute numbers therefore move from run to run and say little about a production deployment against real Azure (where a network round trip, not Azurite's CPU, dominates). What is meaningful is the comparison inside one run: every configuration ran in each round, interleaved, so noise hit all of them alike, and the ratios to the filesystem baseline (or between two plugin configurations) measured in the same run are what the targets use. Look at the min–max ranges before reading anything into a difference of a few percent; a ratio whose per-round values straddle the threshold is within the noise.",
    "",
  );
  return lines.join("\n");
}

function main(): void {
  const ingest = readJson<IngestReport>(INGEST_FILE);
  const crypto = readJson<CryptoReport>(CRYPTO_FILE);
  const hop = readJson<HopReport>(HOP_FILE);
  if (ingest === undefined && crypto === undefined) {
    throw new Error(
      `neither ${INGEST_FILE} nor ${CRYPTO_FILE} exists: run node build/bench/ingest.cjs first`,
    );
  }
  writeFileSync(OUTPUT, document(ingest, crypto, hop).replace(/\n{3,}/g, "\n\n"));
  process.stderr.write(`wrote ${OUTPUT}\n`);
  if (ingest !== undefined) {
    mkdirSync(SVG_DIR, { recursive: true });
    writeFileSync(SVG_FILE, throughputSvg(ingest));
    process.stderr.write(`wrote ${SVG_FILE}\n`);
  }
}

main();
