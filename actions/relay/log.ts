/**
 * One JSON object per line on stdout, as log collectors expect. Callers pass fields, never
 * headers or request bodies, so tokens cannot reach the log; `redact` is a second line of defence.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(
  level: Level,
  secrets: string[] = [],
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const min = ORDER[level];
  const hidden = secrets.filter((s) => s.length >= 8);
  const redact = (text: string): string => hidden.reduce((t, s) => t.split(s).join('[REDACTED]'), text);
  const log =
    (lvl: Level) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      if (ORDER[lvl] < min) return;
      write(`${redact(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }))}\n`);
    };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
