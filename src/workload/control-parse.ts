/**
 * Checks the JSON bodies the control API receives, so a harness bug shows up as a 400 naming the
 * bad field instead of a probe that silently does something else.
 */
import type { ProbeKind, ProbeRequest, StreamStartRequest } from './types.ts';

/** Default time limit of one probe. */
export const DEFAULT_PROBE_TIMEOUT_MS = 2000;
/** No probe may ask for more than this. */
export const MAX_PROBE_TIMEOUT_MS = 120_000;
/** Most probes one `/probes` call may carry. */
export const MAX_BATCH = 10_000;
/** Concurrency of `/probes` when the caller names none. */
export const DEFAULT_CONCURRENCY = 16;
/** Highest concurrency `/probes` accepts. */
export const MAX_CONCURRENCY = 512;
/** Default stream settings. */
export const STREAM_DEFAULTS = {
  intervalMs: 100,
  path: '/hostname',
  requestTimeoutMs: 1000,
  maxDurationMs: 120_000,
} as const;
/** Longest a stream may be asked to run. */
export const MAX_STREAM_DURATION_MS = 30 * 60_000;

/** A control request the agent refuses, answered with HTTP 400. */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequest';
  }
}

type Obj = Record<string, unknown>;

function object(value: unknown, what: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequest(`${what} must be a JSON object`);
  }
  return value as Obj;
}

function str(o: Obj, key: string, required: true): string;
function str(o: Obj, key: string, required: false): string | undefined;
function str(o: Obj, key: string, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || (required && v === ''))
    throw new BadRequest(`${key} must be a non-empty string`);
  return v;
}

function int(o: Obj, key: string, min: number, max: number, required: true): number;
function int(o: Obj, key: string, min: number, max: number, required: false): number | undefined;
function int(o: Obj, key: string, min: number, max: number, required: boolean): number | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new BadRequest(`${key} must be an integer from ${min} to ${max}`);
  }
  return v;
}

const KINDS: readonly ProbeKind[] = ['http', 'tcp', 'udp'];

/** Validates one probe request and fills in nothing: defaults are the prober's business. */
export function parseProbeRequest(value: unknown): ProbeRequest {
  const o = object(value, 'probe request');
  const kind = o.kind;
  if (typeof kind !== 'string' || !KINDS.includes(kind as ProbeKind)) {
    throw new BadRequest(`kind must be one of ${KINDS.join(', ')}`);
  }
  const req: ProbeRequest = {
    kind: kind as ProbeKind,
    host: str(o, 'host', true),
    port: int(o, 'port', 1, 65535, true),
  };
  const path = str(o, 'path', false);
  if (path !== undefined) {
    if (!path.startsWith('/')) throw new BadRequest('path must start with /');
    req.path = path;
  }
  const payload = str(o, 'payload', false);
  if (payload !== undefined) req.payload = payload;
  const timeoutMs = int(o, 'timeoutMs', 1, MAX_PROBE_TIMEOUT_MS, false);
  if (timeoutMs !== undefined) req.timeoutMs = timeoutMs;
  const sourcePort = int(o, 'sourcePort', 1, 65535, false);
  if (sourcePort !== undefined) req.sourcePort = sourcePort;
  return req;
}

/** Validates a `/probes` body. */
export function parseProbeBatch(value: unknown): { requests: ProbeRequest[]; concurrency: number } {
  const o = object(value, 'body');
  if (!Array.isArray(o.requests)) throw new BadRequest('requests must be an array');
  if (o.requests.length > MAX_BATCH) throw new BadRequest(`at most ${MAX_BATCH} requests per call`);
  const requests = o.requests.map((r, i) => {
    try {
      return parseProbeRequest(r);
    } catch (err) {
      throw new BadRequest(`requests[${i}]: ${(err as Error).message}`);
    }
  });
  const concurrency = int(o, 'concurrency', 1, MAX_CONCURRENCY, false) ?? DEFAULT_CONCURRENCY;
  return { requests, concurrency };
}

/** Validates a `/listen` or `/unlisten` body. */
export function parsePortsBody(value: unknown): number[] {
  const o = object(value, 'body');
  if (!Array.isArray(o.ports)) throw new BadRequest('ports must be an array of port numbers');
  const ports = o.ports.map((p) => {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) {
      throw new BadRequest(`not a port: ${JSON.stringify(p)}`);
    }
    return p;
  });
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** A stream request with every default filled in. */
export type StreamSpec = Required<Omit<StreamStartRequest, 'sourcePort'>> & { sourcePort?: number };

/** Validates a `/stream/start` body and applies the defaults. */
export function parseStreamStart(value: unknown): StreamSpec {
  const o = object(value, 'body');
  const id = str(o, 'id', true);
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(id)) throw new BadRequest('id must be 1-100 of [A-Za-z0-9._-]');
  const path = str(o, 'path', false) ?? STREAM_DEFAULTS.path;
  if (!path.startsWith('/') || /[\s]/.test(path))
    throw new BadRequest('path must start with / and hold no spaces');
  const reconnect = o.reconnect;
  if (reconnect !== undefined && typeof reconnect !== 'boolean')
    throw new BadRequest('reconnect must be a boolean');
  const spec: StreamSpec = {
    id,
    host: str(o, 'host', true),
    port: int(o, 'port', 1, 65535, true),
    intervalMs: int(o, 'intervalMs', 1, 600_000, false) ?? STREAM_DEFAULTS.intervalMs,
    path,
    requestTimeoutMs: int(o, 'requestTimeoutMs', 1, 120_000, false) ?? STREAM_DEFAULTS.requestTimeoutMs,
    maxDurationMs: int(o, 'maxDurationMs', 1, MAX_STREAM_DURATION_MS, false) ?? STREAM_DEFAULTS.maxDurationMs,
    reconnect: reconnect ?? false,
  };
  const sourcePort = int(o, 'sourcePort', 1, 65535, false);
  if (sourcePort !== undefined) spec.sourcePort = sourcePort;
  return spec;
}

/** Validates a `/stream/stop` body. */
export function parseStreamId(value: unknown): string {
  return str(object(value, 'body'), 'id', true);
}
