/**
 * The tcp-rr program compiled and run on the loopback of a network namespace of the test's own:
 * the server answers kept-alive and per-connection requests, the clients report what they timed,
 * connects are timed one by one, and a refused client says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseConnectTimes,
  parseTcpRr,
  TCP_RR_LISTENING,
  tcpRrClientArgv,
  tcpRrConnectArgv,
  tcpRrProgram,
  tcpRrServerArgv,
} from '../../../src/perf/tcp-rr.ts';
import { run, start } from '../../../src/sys/exec.ts';

const out = mkdtempSync(join(tmpdir(), 'dpc-tcp-rr-'));
/** The test's own network: nothing it sends leaves this namespace's loopback. */
const NETNS = `dpc-test-tcprr-${process.pid}`;
const inNetns = (argv: readonly string[]) => ['ip', 'netns', 'exec', NETNS, ...argv];

beforeAll(async () => {
  await run(['ip', 'netns', 'add', NETNS]);
  await run(inNetns(['ip', 'link', 'set', 'lo', 'up']));
});
afterAll(async () => {
  rmSync(out, { recursive: true, force: true });
  await run(['ip', 'netns', 'del', NETNS], { reject: false });
});

const PORT = 39521;

describe('tcp-rr on loopback', () => {
  it('compiles once, then finds its program', async () => {
    const first = await tcpRrProgram(out);
    expect(await tcpRrProgram(out)).toBe(first);
  });

  it('times kept-alive and connection-per-request exchanges', async () => {
    const program = await tcpRrProgram(out);
    const server = start(inNetns(tcpRrServerArgv(program, PORT)));
    try {
      for (let i = 0; i < 100 && !server.output().includes(TCP_RR_LISTENING); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const mode of ['rr', 'crr'] as const) {
        const r = parseTcpRr(
          (
            await run(
              inNetns(tcpRrClientArgv(program, { mode, host: '127.0.0.1', port: PORT, seconds: 0.3 })),
            )
          ).stdout,
        );
        expect(r).toMatchObject({ mode, errors: 0 });
        expect(r.exchanges).toBeGreaterThan(10);
        // The seconds are printed to the millisecond: the rate agrees with them to within that.
        expect(Math.abs(r.perSecond * r.seconds - r.exchanges)).toBeLessThan(r.exchanges * 0.01);
        expect(r.p50Us).toBeGreaterThan(0);
        expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
        expect(r.maxUs).toBeGreaterThanOrEqual(r.p99Us);
      }
      // Connections ended with a reset leave no TIME_WAIT on either side: the server keeps none,
      // and the client at most the kept-alive connection's, which it closed as usual.
      const timeWait = await run(inNetns(['ss', '-Htan', 'state', 'time-wait']));
      const lines = timeWait.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== '');
      expect(lines.filter((l) => l.includes(`127.0.0.1:${PORT} `))).toEqual([]);
      expect(lines.length).toBeLessThanOrEqual(1);
      const times = parseConnectTimes(
        (await run(inNetns(tcpRrConnectArgv(program, { host: '127.0.0.1', port: PORT, count: 50 })))).stdout,
      );
      expect(times).toHaveLength(50);
      expect(Math.min(...times)).toBeGreaterThan(0);
    } finally {
      await server.stop('SIGTERM', 1000);
    }
  });

  it('reports a refused connection as its error', async () => {
    const program = await tcpRrProgram(out);
    const r = await run(
      inNetns(tcpRrClientArgv(program, { mode: 'rr', host: '127.0.0.1', port: PORT + 1, seconds: 0.2 })),
      { reject: false },
    );
    expect(r.exitCode).toBe(1);
    expect(parseTcpRr(r.stdout)).toMatchObject({
      exchanges: 0,
      errors: 1,
      error: 'connect: Connection refused',
    });
  });

  it('ends a connect run at the first refused connect, naming it', async () => {
    const program = await tcpRrProgram(out);
    const r = await run(inNetns(tcpRrConnectArgv(program, { host: '127.0.0.1', port: PORT + 1, count: 3 })), {
      reject: false,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('connect 1 of 3: connect: Connection refused');
  });
});
