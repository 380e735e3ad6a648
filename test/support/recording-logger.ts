import type { Logger } from "../../src/logging/logger.ts";

export interface RecordingLogger extends Logger {
  /** Every line logged, as "level: message". */
  lines: string[];
}

/** A Logger that keeps what it is told, for assertions on log lines. */
export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  return {
    lines,
    error: (message) => lines.push(`error: ${message}`),
    warning: (message) => lines.push(`warning: ${message}`),
    info: (message) => lines.push(`info: ${message}`),
  };
}
