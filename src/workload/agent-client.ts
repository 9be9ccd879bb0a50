/**
 * The harness side of the control channel: typed calls to one agent over its unix socket.
 */
import { Pool } from 'undici';
import { scaled, timeScale } from '../sys/time-scale.ts';
import { DEFAULT_PROBE_TIMEOUT_MS, MAX_PROBE_TIMEOUT_MS } from './control-parse.ts';
import type { AgentReady, ProbeRequest, ProbeResult, StreamRecord, StreamStartRequest } from './types.ts';

/** Slack on top of a probe's own bound, for the control round trip on a busy machine. */
const CONTROL_SLACK_MS = 10_000;

/** The slack, stretched by the time scale. */
const controlSlack = (): number => scaled(CONTROL_SLACK_MS);

/** A control call that failed; names the agent and its socket so the reader knows where to look. */
export class AgentError extends Error {
  readonly agent: string;
  readonly socketPath: string;
  /** HTTP status the agent answered with, if it answered. */
  readonly status: number | undefined;
  constructor(
    agent: string,
    socketPath: string,
    what: string,
    detail: string,
    status?: number,
    cause?: unknown,
  ) {
    super(`agent ${agent} (${socketPath}): ${what}: ${detail}`, { cause });
    this.name = 'AgentError';
    this.agent = agent;
    this.socketPath = socketPath;
    this.status = status;
  }
}

/** Options of {@link AgentClient}. */
export interface AgentClientOptions {
  /** The agent's name, for error messages (default: the socket's file name). */
  name?: string;
  /** Concurrent control connections, so a slow probe doesn't hold up the next call (default 8). */
  connections?: number;
}

/** Talks to one agent. */
export class AgentClient {
  readonly socketPath: string;
  readonly name: string;
  readonly #pool: Pool;

  constructor(socketPath: string, opts: AgentClientOptions = {}) {
    this.socketPath = socketPath;
    this.name = opts.name ?? socketPath.replace(/^.*\//, '').replace(/\.sock$/, '');
    this.#pool = new Pool('http://agent', {
      socketPath,
      connections: opts.connections ?? 8,
      // The agent's own bounds decide how long a call may take; the signal below enforces ours.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Who the agent is and which ports it serves; fails fast if it isn't there. */
  ready(timeoutMs = 2000): Promise<AgentReady> {
    return this.#call('GET', '/ready', undefined, timeoutMs);
  }

  /** Makes one probe from the agent's namespace. */
  probe(request: ProbeRequest): Promise<ProbeResult> {
    const req = scaledProbe(request);
    return this.#call('POST', '/probe', req, probeBound(req) + controlSlack());
  }

  /** Makes many probes, at most `concurrency` at once; results come in request order. */
  probes(all: readonly ProbeRequest[], concurrency = 16): Promise<ProbeResult[]> {
    const requests = all.map((r) => scaledProbe(r));
    const slowest = requests.reduce((m, r) => Math.max(m, probeBound(r)), 0);
    const rounds = Math.ceil(requests.length / Math.max(1, concurrency));
    return this.#call('POST', '/probes', { requests, concurrency }, rounds * slowest + controlSlack());
  }

  /** Adds echo ports (TCP and UDP); ports already served are kept. */
  listen(ports: readonly number[]): Promise<AgentReady> {
    return this.#call('POST', '/listen', { ports }, controlSlack());
  }

  /** Removes echo ports. */
  unlisten(ports: readonly number[]): Promise<AgentReady> {
    return this.#call('POST', '/unlisten', { ports }, controlSlack());
  }

  /** Opens a long-lived connection that sends a request every `intervalMs`. */
  streamStart(request: StreamStartRequest): Promise<StreamRecord> {
    return this.#call('POST', '/stream/start', request, controlSlack());
  }

  /** What a stream has recorded so far. */
  streamGet(id: string): Promise<StreamRecord> {
    return this.#call('GET', `/stream/${encodeURIComponent(id)}`, undefined, controlSlack());
  }

  /** Stops a stream and returns its final record. */
  streamStop(id: string): Promise<StreamRecord> {
    return this.#call('POST', '/stream/stop', { id }, controlSlack());
  }

  /** Asks the agent to exit (it removes its socket); resolves once it has acknowledged. */
  async shutdown(): Promise<void> {
    await this.#call('POST', '/shutdown', {}, controlSlack());
  }

  /** Closes this client's connections (the agent keeps running). */
  async close(): Promise<void> {
    await this.#pool.destroy();
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<T> {
    const what = `${method} ${path}`;
    const signal = AbortSignal.timeout(timeoutMs);
    let status: number;
    let text: string;
    try {
      const res = await this.#pool.request({
        method,
        path,
        signal,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      const detail = signal.aborted
        ? `no answer within ${timeoutMs} ms`
        : `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim();
      throw new AgentError(this.name, this.socketPath, what, detail, undefined, err);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new AgentError(
        this.name,
        this.socketPath,
        what,
        `answer is not JSON: ${text.slice(0, 200)}`,
        status,
        err,
      );
    }
    if (status !== 200) {
      const msg = (value as { error?: unknown }).error;
      throw new AgentError(
        this.name,
        this.socketPath,
        what,
        `HTTP ${status}: ${String(msg ?? text)}`,
        status,
      );
    }
    return value as T;
  }
}

function probeBound(r: ProbeRequest): number {
  return r.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
}

/** A probe whose timeout is stretched by the time scale: on a slow machine a late answer is not a drop. */
export function scaledProbe(r: ProbeRequest, factor: number = timeScale()): ProbeRequest {
  const { fixedTimeout, ...req } = r;
  if (factor === 1 || fixedTimeout) return req;
  return { ...req, timeoutMs: Math.min(MAX_PROBE_TIMEOUT_MS, scaled(probeBound(req), factor)) };
}
