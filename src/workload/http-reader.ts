/**
 * A minimal HTTP/1.1 response reader for the stream's keep-alive connection. It reads only what
 * the echo server sends (status line, headers, a Content-Length body); anything else is an error,
 * because the stream must notice a broken or foreign connection rather than guess.
 */

/** One whole response read from the connection. */
export interface ReadResponse {
  status: number;
  body: string;
  /** The server said it will close the connection after this response. */
  close: boolean;
}

const MAX_HEAD = 16 * 1024;
const MAX_BODY = 1024 * 1024;

/** Accumulates bytes from a connection and hands back whole responses in order. */
export class HttpResponseReader {
  #buf: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns the responses they complete. Throws on a response it can't read. */
  push(chunk: Buffer): ReadResponse[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: ReadResponse[] = [];
    for (;;) {
      const headEnd = this.#buf.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (this.#buf.length > MAX_HEAD) throw new Error('response head too long');
        return out;
      }
      const head = this.#buf.subarray(0, headEnd).toString('latin1');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
      if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
      let length: number | undefined;
      let close = false;
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'content-length') length = Number(value);
        else if (name === 'connection') close = value.toLowerCase() === 'close';
        else if (name === 'transfer-encoding') throw new Error(`unsupported transfer-encoding ${value}`);
      }
      if (length === undefined || !Number.isSafeInteger(length) || length < 0 || length > MAX_BODY) {
        throw new Error('response without a usable content-length');
      }
      const total = headEnd + 4 + length;
      if (this.#buf.length < total) return out;
      out.push({
        status: Number(m[1]),
        body: this.#buf.subarray(headEnd + 4, total).toString('utf8'),
        close,
      });
      this.#buf = this.#buf.subarray(total);
    }
  }

  /** Bytes received that don't yet make a whole response. */
  get pending(): number {
    return this.#buf.length;
  }
}
