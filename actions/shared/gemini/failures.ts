/**
 * What a failed call means for the next step: retry the same model (429, 5xx, timeouts),
 * move to the next model (404: not found or retired), or stop (bad key, bad request).
 * The SDK's ApiError carries the HTTP status and Gemini's JSON error body as its message.
 */
export type FailureKind = 'retry' | 'next-model' | 'stop';

export interface Failure {
  kind: FailureKind;
  reason: string;
  status?: number;
  /** From google.rpc.RetryInfo, when the server said how long to wait. */
  retryDelayMs?: number;
}

interface GoogleErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{ '@type'?: string; retryDelay?: string; reason?: string }>;
  };
}

/** google.protobuf.Duration in JSON: "37s", "1.5s", "0.250s". */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

function parseBody(message: string): GoogleErrorBody | undefined {
  try {
    const body = JSON.parse(message) as unknown;
    return body && typeof body === 'object' ? (body as GoogleErrorBody) : undefined;
  } catch {
    return undefined;
  }
}

export function classify(err: unknown, timeoutMs: number): Failure {
  const e = err as { name?: string; status?: unknown; message?: string; cause?: { code?: string } };
  // The SDK wraps a DOMException from another realm in a plain Error with it as the cause.
  const names = [e?.name, (e?.cause as { name?: string } | undefined)?.name];
  if (names.includes('AbortError') || names.includes('TimeoutError')) {
    return { kind: 'retry', reason: `no answer within ${timeoutMs} ms` };
  }
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status === undefined) {
    // Connection refused/reset and the like: transient as far as we can tell.
    const code = e?.cause?.code ?? e?.message ?? String(err);
    return { kind: 'retry', reason: `request failed: ${String(code).slice(0, 200)}` };
  }
  const body = parseBody(e.message ?? '');
  const g = body?.error;
  const detail = [g?.status, g?.message?.split('\n')[0]?.slice(0, 200)].filter(Boolean).join(': ');
  const reason = `HTTP ${status}${detail ? ` ${detail}` : ''}`;
  const retryInfo = g?.details?.find((d) => d['@type']?.endsWith('google.rpc.RetryInfo'));
  const retryDelayMs = parseDuration(retryInfo?.retryDelay);
  if (status === 404) return { kind: 'next-model', reason, status };
  if (status === 429 || status === 408 || status >= 500)
    return { kind: 'retry', reason, status, retryDelayMs };
  return { kind: 'stop', reason, status };
}
