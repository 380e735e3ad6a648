/**
 * Logging goes to Orthanc's log when running inside Orthanc (the shim installs a sink),
 * and to stderr elsewhere (CLI, tests). Callers pass fields; secrets must never be passed.
 */
export type LogLevel = "error" | "warning" | "info";
export type LogSink = (level: LogLevel, message: string) => void;

const stderrSink: LogSink = (level, message) => {
  process.stderr.write(`[${level}] ${message}\n`);
};

let sink: LogSink = stderrSink;

export function setLogSink(next: LogSink | undefined): void {
  sink = next ?? stderrSink;
}

export interface Logger {
  error(message: string): void;
  warning(message: string): void;
  info(message: string): void;
}

/** A logger whose lines start with a component tag, e.g. "[AzureBlobStorage]". */
export function createLogger(component: string): Logger {
  const prefix = `[${component}] `;
  return {
    error: (message) => sink("error", prefix + message),
    warning: (message) => sink("warning", prefix + message),
    info: (message) => sink("info", prefix + message),
  };
}
