/**
 * The tcp-rr program compiled and run on this machine's loopback: the server answers kept-alive
 * and closing requests, the clients report what they timed, and a refused client says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseTcpRr,
  TCP_RR_LISTENING,
  tcpRrClientArgv,
  tcpRrProgram,
  tcpRrServerArgv,
} from '../../../src/perf/tcp-rr.ts';
import { run, start } from '../../../src/sys/exec.ts';

const out = mkdtempSync(join(tmpdir(), 'dpc-tcp-rr-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const PORT = 39521;

describe('tcp-rr on loopback', () => {
  it('compiles once, then finds its program', async () => {
    const first = await tcpRrProgram(out);
    expect(await tcpRrProgram(out)).toBe(first);
  });

  it('times kept-alive and connection-per-request exchanges', async () => {
    const program = await tcpRrProgram(out);
    const server = start(tcpRrServerArgv(program, PORT));
    try {
      for (let i = 0; i < 100 && !server.output().includes(TCP_RR_LISTENING); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const mode of ['rr', 'crr'] as const) {
        const r = parseTcpRr(
          (await run(tcpRrClientArgv(program, { mode, host: '127.0.0.1', port: PORT, seconds: 0.3 }))).stdout,
        );
        expect(r).toMatchObject({ mode, errors: 0 });
        expect(r.exchanges).toBeGreaterThan(10);
        // The seconds are printed to the millisecond: the rate agrees with them to within that.
        expect(Math.abs(r.perSecond * r.seconds - r.exchanges)).toBeLessThan(r.exchanges * 0.01);
        expect(r.p50Us).toBeGreaterThan(0);
        expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
        expect(r.maxUs).toBeGreaterThanOrEqual(r.p99Us);
      }
    } finally {
      await server.stop('SIGTERM', 1000);
    }
  });

  it('reports a refused connection as its error', async () => {
    const program = await tcpRrProgram(out);
    const r = await run(
      tcpRrClientArgv(program, { mode: 'rr', host: '127.0.0.1', port: PORT + 1, seconds: 0.2 }),
      {
        reject: false,
      },
    );
    expect(r.exitCode).toBe(1);
    expect(parseTcpRr(r.stdout)).toMatchObject({
      exchanges: 0,
      errors: 1,
      error: 'connect: Connection refused',
    });
  });
});
