/**
 * What the echo workload answers, kept apart from the sockets so it can be checked without a
 * network. The HTTP paths and UDP words follow Kubernetes' agnhost `netexec`.
 */

/** The largest body `/size` will produce, so a typo can't make the agent allocate gigabytes. */
export const MAX_SIZE_BYTES = 256 * 1024 * 1024;

/** An HTTP answer: either a text body or `size` bytes of filler streamed by the server. */
export type EchoHttpReply = { status: number; body: string } | { status: number; size: number };

/** Answers one HTTP request of the echo workload. */
export function echoHttp(rawUrl: string, hostname: string, peer: string): EchoHttpReply {
  const url = new URL(rawUrl, 'http://echo.invalid');
  switch (url.pathname) {
    case '/':
      return { status: 200, body: `dpconform echo ${hostname}\n` };
    case '/hostname':
      return { status: 200, body: hostname };
    case '/clientip':
      return { status: 200, body: peer };
    case '/echo':
      return { status: 200, body: url.searchParams.get('msg') ?? '' };
    case '/size': {
      const text = url.searchParams.get('bytes') ?? '';
      const size = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (!Number.isSafeInteger(size) || size > MAX_SIZE_BYTES) {
        return { status: 400, body: `bytes must be an integer from 0 to ${MAX_SIZE_BYTES}\n` };
      }
      return { status: 200, size };
    }
    case '/healthz':
      return { status: 200, body: 'ok' };
    default:
      return { status: 404, body: `no such path: ${url.pathname}\n` };
  }
}

/** Answers one UDP datagram: `hostname`, `echo X`, anything else gets the sender's `ip:port`. */
export function echoUdp(datagram: string, hostname: string, peer: string): string {
  const text = datagram.trim();
  if (text === 'hostname') return hostname;
  if (text === 'echo' || text.startsWith('echo ')) return text.slice(5);
  return peer;
}

/** `n` bytes of printable filler whose content reveals truncation or reordering (a repeating ramp). */
export function fillerChunk(offset: number, n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = 97 + ((offset + i) % 26);
  return buf;
}
