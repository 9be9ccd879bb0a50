import { describe, expect, it } from 'vitest';
import { HttpResponseReader } from '../../../src/workload/http-reader.ts';

const resp = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('HttpResponseReader', () => {
  it('reads a response delivered one byte at a time', () => {
    const r = new HttpResponseReader();
    const bytes = Buffer.from(resp('héllo'));
    const got = [];
    for (const b of bytes) got.push(...r.push(Buffer.from([b])));
    expect(got).toEqual([{ status: 200, body: 'héllo', close: false }]);
    expect(r.pending).toBe(0);
  });

  it('splits two responses that arrive together and keeps the rest', () => {
    const r = new HttpResponseReader();
    const two = resp('a') + resp('bb', 'Connection: close\r\n') + resp('ccc').slice(0, 10);
    expect(r.push(Buffer.from(two))).toEqual([
      { status: 200, body: 'a', close: false },
      { status: 200, body: 'bb', close: true },
    ]);
    expect(r.pending).toBe(10);
  });

  it('reads status codes other than 200 and empty bodies', () => {
    const r = new HttpResponseReader();
    expect(r.push(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'))).toEqual([
      { status: 404, body: '', close: false },
    ]);
  });

  it('refuses what it cannot read rather than guessing', () => {
    expect(() => new HttpResponseReader().push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(
      /not an HTTP response/,
    );
    expect(() => new HttpResponseReader().push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(
      /content-length/,
    );
    expect(() =>
      new HttpResponseReader().push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')),
    ).toThrow(/transfer-encoding/);
    expect(() => new HttpResponseReader().push(Buffer.alloc(20_000, 'x'))).toThrow(/too long/);
  });
});
