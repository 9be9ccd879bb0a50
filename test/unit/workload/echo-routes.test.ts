import { describe, expect, it } from 'vitest';
import { echoHttp, echoUdp, fillerChunk, MAX_SIZE_BYTES } from '../../../src/workload/echo-routes.ts';

const http = (url: string) => echoHttp(url, 'web-1', '10.244.0.7:40000');

describe('HTTP echo routes', () => {
  it('answers /hostname, /clientip and /echo like netexec', () => {
    expect(http('/hostname')).toEqual({ status: 200, body: 'web-1' });
    expect(http('/clientip')).toEqual({ status: 200, body: '10.244.0.7:40000' });
    expect(http('/echo?msg=hello%20world')).toEqual({ status: 200, body: 'hello world' });
    expect(http('/echo?msg=a+b')).toEqual({ status: 200, body: 'a b' });
    expect(http('/echo')).toEqual({ status: 200, body: '' });
  });

  it('answers / with a short line naming the workload', () => {
    const r = http('/');
    expect(r).toEqual({ status: 200, body: 'dpconform echo web-1\n' });
  });

  it('ignores the query on fixed paths', () => {
    expect(http('/hostname?x=1')).toEqual({ status: 200, body: 'web-1' });
  });

  it('sizes /size bodies and refuses bad sizes', () => {
    expect(http('/size?bytes=1048576')).toEqual({ status: 200, size: 1048576 });
    expect(http('/size?bytes=0')).toEqual({ status: 200, size: 0 });
    for (const bad of ['', '-1', '1e3', 'abc', String(MAX_SIZE_BYTES + 1)]) {
      expect(http(`/size?bytes=${bad}`).status).toBe(400);
    }
  });

  it('gives 404 for anything else', () => {
    expect(http('/nope').status).toBe(404);
  });
});

describe('UDP echo', () => {
  it('answers hostname, echo and everything else with the peer', () => {
    expect(echoUdp('hostname', 'web-1', '1.2.3.4:5')).toBe('web-1');
    expect(echoUdp('hostname\n', 'web-1', '1.2.3.4:5')).toBe('web-1');
    expect(echoUdp('echo hi there', 'web-1', '1.2.3.4:5')).toBe('hi there');
    expect(echoUdp('clientip', 'web-1', '1.2.3.4:5')).toBe('1.2.3.4:5');
    expect(echoUdp('anything', 'web-1', '1.2.3.4:5')).toBe('1.2.3.4:5');
    expect(echoUdp('echoless', 'web-1', '1.2.3.4:5')).toBe('1.2.3.4:5');
  });
});

describe('filler', () => {
  it('continues the ramp across chunk boundaries', () => {
    const whole = fillerChunk(0, 60).toString();
    expect(fillerChunk(0, 27).toString() + fillerChunk(27, 33).toString()).toBe(whole);
    expect(whole.slice(0, 28)).toBe('abcdefghijklmnopqrstuvwxyzab');
  });
});
