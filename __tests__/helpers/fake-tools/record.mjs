// Shared by the fake `docker` and `trivy`: appends one JSON line per invocation to FAKE_TOOLS_LOG.
import { appendFileSync } from 'node:fs';

export function record(tool, argv, extra = {}) {
  const log = process.env.FAKE_TOOLS_LOG;
  if (log) appendFileSync(log, JSON.stringify({ tool, argv, cwd: process.cwd(), ...extra }) + '\n');
}

/** The value after `--flag` or in `--flag=value`; the last one wins, as with cobra/pflag. */
export function flag(argv, name) {
  let value;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) value = argv[i + 1];
    else if (argv[i].startsWith(`${name}=`)) value = argv[i].slice(name.length + 1);
  }
  return value;
}

export function flags(argv, name) {
  const out = [];
  for (let i = 0; i < argv.length; i++) if (argv[i] === name) out.push(argv[i + 1]);
  return out;
}

export async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}
