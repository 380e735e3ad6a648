/** What the ingest benchmark reads of processes and of the machine from /proc (Linux). */
import { readFileSync } from "node:fs";
import { round3 } from "../stats.ts";

/** sysconf(_SC_CLK_TCK) on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** A memory line of /proc/<pid>/status in MiB: VmHWM is the peak RSS, VmRSS the current one. */
export function processMemoryMiB(pid: number, field: "VmHWM" | "VmRSS"): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(
      readFileSync(`/proc/${pid}/status`, "utf8"),
    );
    return match?.[1] === undefined ? null : round3(Number(match[1]) / 1024);
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in ms; null when unreadable. */
export function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

export function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function memTotalMiB(): number | null {
  try {
    const kb = /^MemTotal:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    return kb === undefined ? null : Math.round(Number(kb) / 1024);
  } catch {
    return null;
  }
}
