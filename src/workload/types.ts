/**
 * The contract between the harness and the probe agent that runs in every pod, node and client
 * namespace: what a probe asks for and what it reports.
 */

/** How a probe talks to its target. */
export type ProbeKind = 'http' | 'tcp' | 'udp';

/** Why a probe failed, told apart the way a network engineer would. */
export type ProbeErrorKind = 'refused' | 'timeout' | 'reset' | 'unreachable' | 'other';

/** One request the agent makes on the harness's behalf. */
export interface ProbeRequest {
  kind: ProbeKind;
  host: string;
  port: number;
  /** HTTP path, e.g. `/clientip` (http only; default `/`). */
  path?: string;
  /** Bytes to send (udp and tcp; default `clientip` for udp). */
  payload?: string;
  /** Give up after this long (default 2000 ms, stretched by the time scale unless fixed). */
  timeoutMs?: number;
  /**
   * The timeout is part of what is proved (e.g. giving up before the first SYN retransmission),
   * so the time scale must not stretch it. Read by the harness, never sent to the agent.
   */
  fixedTimeout?: boolean;
  /** Bind the local side to this port (to make flows reproducible). */
  sourcePort?: number;
}

/** What came of one probe. */
export interface ProbeResult {
  ok: boolean;
  kind: ProbeKind;
  /** `host:port` probed. */
  target: string;
  /** HTTP status (http only). */
  status?: number;
  /** Response body (http) or reply datagram / bytes read (udp, tcp). */
  body?: string;
  error?: ProbeErrorKind;
  /** The system's own words for the error (e.g. `ECONNREFUSED`). */
  errorMessage?: string;
  /** Local address and port the probe used. */
  localAddress?: string;
  localPort?: number;
  /** Milliseconds to connect (tcp/http) and for the whole probe. */
  connectMs?: number;
  totalMs: number;
  /** tcp only: how reading ended after a successful connect (`ok` means connected). */
  readEnd?: TcpReadEnd;
}

/** How the read phase of a tcp probe ended once it had connected. */
export type TcpReadEnd = 'peer-closed' | 'timeout' | 'reset' | 'error';

/** What `GET /ready` on an agent's control socket answers. */
export interface AgentReady {
  name: string;
  pid: number;
  /** Ports with both a TCP (HTTP echo) and a UDP echo listener, ascending. */
  listening: number[];
}

/** Asks an agent to keep one TCP connection open and send an HTTP request on it at a steady pace. */
export interface StreamStartRequest {
  /** Caller-chosen name of the stream, unique per agent while it exists. */
  id: string;
  host: string;
  port: number;
  /** Pause between the start of consecutive requests (default 100 ms). */
  intervalMs?: number;
  /** HTTP path asked each time (default `/hostname`). */
  path?: string;
  /** A request without a reply after this long fails and ends the connection (default 1000 ms). */
  requestTimeoutMs?: number;
  /** The stream ends by itself after this long (default 120 000 ms). */
  maxDurationMs?: number;
  /** Bind the local side to this port. */
  sourcePort?: number;
  /**
   * Open a new connection after losing one (default false: a lost connection stays lost and every
   * later tick counts as failed, which is what "did the established connection survive" needs).
   */
  reconnect?: boolean;
}

/** One request sent on a stream. */
export interface StreamSample {
  /** Milliseconds after the stream started. */
  sentMs: number;
  ok: boolean;
  latencyMs?: number;
  error?: ProbeErrorKind;
}

/** Why a stream is no longer sending. */
export type StreamEndReason = 'stopped' | 'max-duration';

/** What a stream has seen so far (`GET /stream/<id>`). */
export interface StreamRecord {
  id: string;
  /** `host:port` the stream talks to. */
  target: string;
  running: boolean;
  endReason?: StreamEndReason;
  intervalMs: number;
  /** Wall-clock start, epoch milliseconds. */
  startedAt: number;
  /** Milliseconds from start to now (running) or to the end. */
  durationMs: number;
  sent: number;
  ok: number;
  failed: number;
  /**
   * Longest stretch, in ms, with no successful reply: between consecutive successes, from the start
   * to the first, and from the last to now or the end. In steady state it is about `intervalMs`.
   */
  longestGapMs: number;
  /** A connection was reset (RST, ECONNRESET, EPIPE). */
  reset: boolean;
  /** Connections that ended while the stream still wanted them (reset, closed by the peer, timed out). */
  connectionsLost: number;
  /** Connections opened (more than one only with `reconnect`). */
  connections: number;
  /** Local port of the current (or last) connection. */
  localPort?: number;
  /** Distinct reply bodies seen, in order of first sight (at most 16): which backend answered. */
  bodies: string[];
  firstError?: string;
  lastError?: string;
  /** Every request, oldest first (the oldest are dropped beyond 100 000). */
  samples: StreamSample[];
}
