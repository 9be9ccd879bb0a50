/**
 * Turns the many shapes of a network error (errno codes, undici wrappers, aggregate errors from
 * happy-eyeballs) into the few kinds a network engineer tells apart.
 */
import type { ProbeErrorKind } from './types.ts';

/** A probe failure, classified, with the system's own words kept. */
export interface ClassifiedError {
  kind: ProbeErrorKind;
  /** The errno or library code, e.g. `ECONNREFUSED`, when there is one. */
  code?: string;
  /** `CODE: message`, for the report. */
  message: string;
}

/** Thrown by the agent's own timers, so that they classify as `timeout`. */
export class ProbeTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(what: string, ms: number) {
    super(`${what} got no answer within ${ms} ms`);
    this.name = 'ProbeTimeoutError';
  }
}

const BY_CODE: Readonly<Record<string, ProbeErrorKind>> = {
  ECONNREFUSED: 'refused',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  ECONNABORTED: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
};

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * The most telling code in an error chain: a wrapper's code (undici's `UND_ERR_SOCKET`) says less
 * than the errno underneath it, so known codes deeper in `cause` / `errors` win.
 */
function telling(err: unknown, depth = 0): { code?: string; err: unknown } {
  const own = codeOf(err);
  if (own !== undefined && own in BY_CODE) return { code: own, err };
  if (depth < 4 && typeof err === 'object' && err !== null) {
    const inner: unknown[] = [];
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) inner.push(cause);
    const errors = (err as { errors?: unknown }).errors;
    if (Array.isArray(errors)) inner.push(...errors);
    for (const e of inner) {
      const found = telling(e, depth + 1);
      if (found.code !== undefined && found.code in BY_CODE) return found;
    }
  }
  return own === undefined ? { err } : { code: own, err };
}

/** Classifies any thrown value from a probe. */
export function classifyError(err: unknown): ClassifiedError {
  const found = telling(err);
  const kind: ProbeErrorKind = (found.code !== undefined ? BY_CODE[found.code] : undefined) ?? 'other';
  const text = messageOf(found.err);
  const message = found.code !== undefined && !text.includes(found.code) ? `${found.code}: ${text}` : text;
  return found.code === undefined ? { kind, message } : { kind, code: found.code, message };
}
