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
  /** Give up after this long (default 2000 ms). */
  timeoutMs?: number;
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
}
