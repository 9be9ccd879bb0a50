import { describe, expect, it } from 'vitest';
import { classifyError, ProbeTimeoutError } from '../../../src/workload/net-errors.ts';

const errno = (code: string, message = `connect ${code} 10.0.0.1:80`) =>
  Object.assign(new Error(message), { code });

describe('classifyError', () => {
  it.each([
    ['ECONNREFUSED', 'refused'],
    ['ETIMEDOUT', 'timeout'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['EHOSTUNREACH', 'unreachable'],
    ['ENETUNREACH', 'unreachable'],
    ['EHOSTDOWN', 'unreachable'],
    ['EADDRINUSE', 'other'],
  ])('maps %s to %s and keeps the code', (code, kind) => {
    const c = classifyError(errno(code));
    expect(c.kind).toBe(kind);
    expect(c.code).toBe(code);
    expect(c.message).toContain(code);
  });

  it("classifies the agent's own timer as timeout", () => {
    const c = classifyError(new ProbeTimeoutError('udp 10.0.0.1:53', 500));
    expect(c).toMatchObject({ kind: 'timeout', code: 'ETIMEDOUT' });
    expect(c.message).toBe('ETIMEDOUT: udp 10.0.0.1:53 got no answer within 500 ms');
  });

  it('looks through a library wrapper to the errno underneath', () => {
    const wrapped = Object.assign(new Error('other side closed'), {
      code: 'UND_ERR_SOCKET',
      cause: errno('ECONNRESET', 'read ECONNRESET'),
    });
    expect(classifyError(wrapped)).toMatchObject({ kind: 'reset', code: 'ECONNRESET' });
  });

  it("keeps a wrapper's code when nothing underneath is known", () => {
    const wrapped = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(classifyError(wrapped)).toEqual({
      kind: 'other',
      code: 'UND_ERR_SOCKET',
      message: 'UND_ERR_SOCKET: other side closed',
    });
  });

  it("maps undici's timeouts", () => {
    for (const code of ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']) {
      expect(classifyError(errno(code, 'too slow')).kind).toBe('timeout');
    }
  });

  it('finds the code inside an AggregateError', () => {
    const agg = new AggregateError([errno('ECONNREFUSED')], 'all attempts failed');
    expect(classifyError(agg)).toMatchObject({ kind: 'refused', code: 'ECONNREFUSED' });
  });

  it('copes with values that are not errors', () => {
    expect(classifyError('boom')).toEqual({ kind: 'other', message: 'boom' });
    expect(classifyError(undefined)).toEqual({ kind: 'other', message: 'undefined' });
  });
});
