/**
 * Long-lived connections: one TCP connection to an echo port carrying a small HTTP request every
 * `intervalMs`, recorded request by request, so a suite can tell whether an established connection
 * survived a change (a mode switch, a backend going away) and how long it went unanswered.
 */
import { type Socket, connect as tcpConnect } from 'node:net';
import type { StreamSpec } from './control-parse.ts';
import { HttpResponseReader, type ReadResponse } from './http-reader.ts';
import { classifyError, ProbeTimeoutError } from './net-errors.ts';
import type { ProbeErrorKind, StreamEndReason, StreamRecord, StreamSample } from './types.ts';

/** Samples kept per stream; the oldest go first. */
export const MAX_SAMPLES = 100_000;
/** Streams one agent keeps at once. */
export const MAX_STREAMS = 256;
const MAX_BODIES = 16;

/** The connection the stream is using and the request waiting on it, if any. */
interface Conn {
  sock: Socket;
  reader: HttpResponseReader;
  waiter?: { resolve(r: ReadResponse): void; reject(e: unknown): void };
  /** Set once the connection is unusable, with why. */
  dead?: unknown;
}

/** One running (or finished) stream. */
export class Stream {
  readonly spec: StreamSpec;
  readonly #startedAt = Date.now();
  readonly #t0 = performance.now();
  #endedAt: number | undefined;
  #endReason: StreamEndReason | undefined;
  readonly #stop = new AbortController();
  #conn: Conn | undefined;
  #connections = 0;
  #connectionsLost = 0;
  #lostKind: ProbeErrorKind | undefined;
  #sent = 0;
  #ok = 0;
  #failed = 0;
  #reset = false;
  #lastSuccess: number;
  #longestGap = 0;
  #localPort: number | undefined;
  readonly #bodies: string[] = [];
  #firstError: string | undefined;
  #lastError: string | undefined;
  #samples: StreamSample[] = [];
  /** Resolves when the stream has stopped sending. */
  readonly done: Promise<void>;

  constructor(spec: StreamSpec) {
    this.spec = spec;
    this.#lastSuccess = this.#t0;
    this.done = this.#run();
  }

  /** Stops sending and closes the connection; resolves when the loop has ended. */
  async stop(): Promise<void> {
    if (this.#endReason === undefined) this.#endReason = 'stopped';
    this.#stop.abort();
    await this.done;
  }

  /** What the stream has seen so far. */
  record(): StreamRecord {
    const now = this.#endedAt ?? performance.now();
    const rec: StreamRecord = {
      id: this.spec.id,
      target: `${this.spec.host}:${this.spec.port}`,
      running: this.#endedAt === undefined,
      intervalMs: this.spec.intervalMs,
      startedAt: this.#startedAt,
      durationMs: now - this.#t0,
      sent: this.#sent,
      ok: this.#ok,
      failed: this.#failed,
      longestGapMs: Math.max(this.#longestGap, now - this.#lastSuccess),
      reset: this.#reset,
      connectionsLost: this.#connectionsLost,
      connections: this.#connections,
      bodies: [...this.#bodies],
      samples: [...this.#samples],
    };
    if (this.#endReason !== undefined && this.#endedAt !== undefined) rec.endReason = this.#endReason;
    if (this.#localPort !== undefined) rec.localPort = this.#localPort;
    if (this.#firstError !== undefined) rec.firstError = this.#firstError;
    if (this.#lastError !== undefined) rec.lastError = this.#lastError;
    return rec;
  }

  async #run(): Promise<void> {
    const deadline = this.#t0 + this.spec.maxDurationMs;
    const signal = this.#stop.signal;
    try {
      for (let tick = 0; !signal.aborted; tick++) {
        const due = this.#t0 + tick * this.spec.intervalMs;
        if (due >= deadline) {
          this.#endReason ??= 'max-duration';
          await sleep(deadline - performance.now(), signal);
          break;
        }
        await sleep(due - performance.now(), signal);
        if (signal.aborted) break;
        await this.#once();
      }
    } finally {
      this.#endReason ??= 'max-duration';
      this.#endedAt = performance.now();
      this.#closeConn();
    }
  }

  /** One tick: make sure there is a connection, send one request, wait for its reply. */
  async #once(): Promise<void> {
    const sentAt = performance.now();
    const sample: StreamSample = { sentMs: sentAt - this.#t0, ok: false };
    this.#sent++;
    try {
      if (!this.#conn) {
        // Once an established connection is lost it stays lost unless asked otherwise: that loss
        // is what the stream exists to show.
        if (this.#connections > 0 && !this.spec.reconnect) {
          throw Object.assign(new Error('connection lost earlier'), { kind: this.#lostKind ?? 'other' });
        }
        this.#conn = await this.#open();
      }
      const reply = await this.#request(this.#conn);
      sample.latencyMs = performance.now() - sentAt;
      if (reply.status !== 200) throw new Error(`HTTP ${reply.status}`);
      sample.ok = true;
      this.#ok++;
      const now = performance.now();
      this.#longestGap = Math.max(this.#longestGap, now - this.#lastSuccess);
      this.#lastSuccess = now;
      if (!this.#bodies.includes(reply.body) && this.#bodies.length < MAX_BODIES)
        this.#bodies.push(reply.body);
    } catch (err) {
      const kind = (err as { kind?: ProbeErrorKind }).kind;
      const c = classifyError(err);
      sample.error = kind ?? c.kind;
      this.#failed++;
      this.#noteError(`${(sample.sentMs / 1000).toFixed(3)}s: ${c.message}`);
    } finally {
      this.#samples.push(sample);
      if (this.#samples.length > MAX_SAMPLES) this.#samples = this.#samples.slice(-MAX_SAMPLES);
    }
  }

  #noteError(text: string): void {
    this.#firstError ??= text;
    this.#lastError = text;
  }

  #open(): Promise<Conn> {
    const { host, port, sourcePort, requestTimeoutMs } = this.spec;
    return new Promise((resolve, reject) => {
      const sock = tcpConnect({ host, port, ...(sourcePort !== undefined ? { localPort: sourcePort } : {}) });
      sock.setNoDelay(true);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ProbeTimeoutError(`stream connect ${host}:${port}`, requestTimeoutMs));
      }, requestTimeoutMs);
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        const conn: Conn = { sock, reader: new HttpResponseReader() };
        this.#connections++;
        this.#localPort = sock.localPort;
        sock.on('data', (chunk: Buffer) => {
          try {
            for (const r of conn.reader.push(chunk)) {
              const w = conn.waiter;
              conn.waiter = undefined;
              if (w) w.resolve(r);
              else this.#lose(conn, new Error('reply nobody asked for'));
            }
          } catch (err) {
            this.#lose(conn, err);
          }
        });
        sock.on('error', (err) => this.#lose(conn, err));
        sock.on('end', () => this.#lose(conn, new Error('connection closed by peer')));
        sock.on('close', () => this.#lose(conn, new Error('connection closed')));
        resolve(conn);
      });
    });
  }

  #request(conn: Conn): Promise<ReadResponse> {
    const { host, port, path, requestTimeoutMs } = this.spec;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new ProbeTimeoutError(`stream request ${path}`, requestTimeoutMs);
        // A reply that comes later would be taken for the next request's: the connection is done.
        this.#lose(conn, err);
      }, requestTimeoutMs);
      conn.waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      conn.sock.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: dpconform-stream\r\n\r\n`,
      );
    });
  }

  /** Marks a connection unusable (once), fails the request waiting on it, and counts the loss. */
  #lose(conn: Conn, why: unknown): void {
    if (conn.dead !== undefined) return;
    conn.dead = why;
    const c = classifyError(why);
    if (c.kind === 'reset') this.#reset = true;
    if (this.#conn === conn) this.#conn = undefined;
    const wanted = !this.#stop.signal.aborted && this.#endedAt === undefined;
    if (wanted) {
      this.#connectionsLost++;
      this.#lostKind = c.kind;
      if (!conn.waiter)
        this.#noteError(`${((performance.now() - this.#t0) / 1000).toFixed(3)}s: ${c.message}`);
    }
    const w = conn.waiter;
    conn.waiter = undefined;
    w?.reject(why);
    conn.sock.destroy();
  }

  #closeConn(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn) {
      conn.dead = new Error('stream stopped');
      conn.sock.destroy();
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The streams of one agent, by id. */
export class StreamTable {
  readonly #streams = new Map<string, Stream>();

  /** Starts a stream; throws if the id is taken or the table is full. */
  start(spec: StreamSpec): StreamRecord {
    if (this.#streams.has(spec.id)) throw new Error(`stream ${spec.id} exists; stop it first`);
    if (this.#streams.size >= MAX_STREAMS) throw new Error(`at most ${MAX_STREAMS} streams`);
    const s = new Stream(spec);
    this.#streams.set(spec.id, s);
    return s.record();
  }

  /** The stream's record, or undefined for an unknown id. */
  get(id: string): StreamRecord | undefined {
    return this.#streams.get(id)?.record();
  }

  /** Stops a stream, forgets it and returns its final record. */
  async stop(id: string): Promise<StreamRecord | undefined> {
    const s = this.#streams.get(id);
    if (!s) return undefined;
    await s.stop();
    this.#streams.delete(id);
    return s.record();
  }

  /** Stops every stream. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#streams.keys()].map((id) => this.stop(id)));
  }
}
