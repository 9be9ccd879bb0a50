import { describe, expect, it } from 'vitest';
import {
  BadRequest,
  DEFAULT_CONCURRENCY,
  parsePortsBody,
  parseProbeBatch,
  parseProbeRequest,
  parseStreamId,
  parseStreamStart,
  STREAM_DEFAULTS,
} from '../../../src/workload/control-parse.ts';

describe('probe requests', () => {
  it('keeps what was asked and adds nothing', () => {
    expect(parseProbeRequest({ kind: 'udp', host: '10.96.0.10', port: 53 })).toEqual({
      kind: 'udp',
      host: '10.96.0.10',
      port: 53,
    });
    const full = { kind: 'http', host: 'h', port: 80, path: '/clientip', timeoutMs: 500, sourcePort: 40000 };
    expect(parseProbeRequest(full)).toEqual(full);
    expect(parseProbeRequest({ kind: 'tcp', host: 'h', port: 1, payload: 'x' })).toMatchObject({
      payload: 'x',
    });
  });

  it('names the field it refuses', () => {
    const cases: [unknown, RegExp][] = [
      [null, /must be a JSON object/],
      [[], /must be a JSON object/],
      [{ kind: 'icmp', host: 'h', port: 1 }, /kind must be one of http, tcp, udp/],
      [{ kind: 'tcp', host: '', port: 1 }, /host must be/],
      [{ kind: 'tcp', host: 'h', port: 70000 }, /port must be/],
      [{ kind: 'tcp', host: 'h', port: '80' }, /port must be/],
      [{ kind: 'http', host: 'h', port: 80, path: 'x' }, /path must start with/],
      [{ kind: 'tcp', host: 'h', port: 80, timeoutMs: 0 }, /timeoutMs must be/],
      [{ kind: 'tcp', host: 'h', port: 80, sourcePort: 1.5 }, /sourcePort must be/],
    ];
    for (const [body, msg] of cases) {
      expect(() => parseProbeRequest(body)).toThrow(BadRequest);
      expect(() => parseProbeRequest(body)).toThrow(msg);
    }
  });

  it('checks batches and says which request is wrong', () => {
    const ok = { kind: 'tcp', host: 'h', port: 80 };
    expect(parseProbeBatch({ requests: [ok] })).toEqual({ requests: [ok], concurrency: DEFAULT_CONCURRENCY });
    expect(parseProbeBatch({ requests: [], concurrency: 4 }).concurrency).toBe(4);
    expect(() => parseProbeBatch({ requests: [ok, { ...ok, port: 0 }] })).toThrow(/requests\[1\]: port/);
    expect(() => parseProbeBatch({ requests: [ok], concurrency: 0 })).toThrow(/concurrency/);
    expect(() => parseProbeBatch({})).toThrow(/requests must be an array/);
  });
});

describe('other bodies', () => {
  it('sorts and dedupes ports', () => {
    expect(parsePortsBody({ ports: [8080, 80, 80] })).toEqual([80, 8080]);
    expect(() => parsePortsBody({ ports: [0] })).toThrow(/not a port/);
    expect(() => parsePortsBody({ ports: '80' })).toThrow(/array/);
  });

  it('fills stream defaults and checks the id', () => {
    expect(parseStreamStart({ id: 's-1', host: '10.96.0.5', port: 80 })).toEqual({
      id: 's-1',
      host: '10.96.0.5',
      port: 80,
      ...STREAM_DEFAULTS,
      reconnect: false,
    });
    expect(
      parseStreamStart({ id: 'a', host: 'h', port: 1, intervalMs: 20, sourcePort: 5000, reconnect: true }),
    ).toMatchObject({
      intervalMs: 20,
      sourcePort: 5000,
      reconnect: true,
    });
    expect(() => parseStreamStart({ id: 'a/b', host: 'h', port: 1 })).toThrow(/id must be/);
    expect(() => parseStreamStart({ id: 'a', host: 'h', port: 1, path: '/a b' })).toThrow(/path/);
    expect(() => parseStreamStart({ id: 'a', host: 'h', port: 1, maxDurationMs: 31 * 60_000 })).toThrow(
      /maxDurationMs/,
    );
    expect(parseStreamId({ id: 'x' })).toBe('x');
  });
});
