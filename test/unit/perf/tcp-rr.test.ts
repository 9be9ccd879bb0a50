/**
 * The tcp-rr program's command lines and its report.
 */
import { describe, expect, it } from 'vitest';
import {
  parseConnectTimes,
  parseTcpRr,
  tcpRrClientArgv,
  tcpRrConnectArgv,
  tcpRrServerArgv,
} from '../../../src/perf/tcp-rr.ts';

describe('tcp-rr', () => {
  it('builds argv arrays for the server and the clients', () => {
    expect(tcpRrServerArgv('/b/tcp-rr', 5202)).toEqual(['/b/tcp-rr', 'server', '5202']);
    expect(
      tcpRrClientArgv('/b/tcp-rr', { mode: 'crr', host: '172.18.0.3', port: 30500, seconds: 2 }),
    ).toEqual(['/b/tcp-rr', 'crr', '172.18.0.3', '30500', '2']);
  });

  it('reads the report, with the first error when there was one', () => {
    const out =
      '{"mode":"crr","exchanges":4000,"seconds":2.001,"perSecond":1999.0,"p50Us":410.5,"p99Us":1210.0,"maxUs":1003000.5,"errors":2,"error":"connect: timed out"}\n';
    expect(parseTcpRr(out)).toEqual({
      mode: 'crr',
      exchanges: 4000,
      seconds: 2.001,
      perSecond: 1999,
      p50Us: 410.5,
      p99Us: 1210,
      maxUs: 1003000.5,
      errors: 2,
      error: 'connect: timed out',
    });
  });

  it('says what it got when there is no report', () => {
    expect(() => parseTcpRr('')).toThrow(/printed no report/);
    expect(() => parseTcpRr('usage: tcp-rr server PORT\n')).toThrow(/printed no report: "usage/);
    expect(() => parseTcpRr('{"mode":"rr","exchanges":"many"}')).toThrow(/not what it should be/);
  });

  it('times connects one by one, and reads their times back', () => {
    expect(tcpRrConnectArgv('/b/tcp-rr', { host: '172.18.0.3', port: 30001, count: 320 })).toEqual([
      '/b/tcp-rr',
      'connect',
      '172.18.0.3',
      '30001',
      '320',
    ]);
    expect(parseConnectTimes('20511\n18002\n')).toEqual([20511, 18002]);
    expect(parseConnectTimes('')).toEqual([]);
    expect(() => parseConnectTimes('20511\n{"mode":"rr"}\n')).toThrow(/not a time/);
  });
});
