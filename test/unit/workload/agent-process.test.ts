import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Place } from '../../../src/node/place.ts';
import { currentPlace, wrappedPlace } from '../../../src/node/wrapped.ts';
import { type StartOptions, start } from '../../../src/sys/exec.ts';
import { processAlive } from '../../../src/sys/process.ts';
import {
  AGENT_SCRIPT,
  agentArgv,
  logTail,
  startAgent,
  stopAgent,
} from '../../../src/workload/agent-process.ts';

// A place that would enter somewhere else: its prefix must never reach the agent's own argv.
const elsewhere = wrappedPlace({
  name: 'node-1',
  kind: 'node',
  where: 'test place node-1',
  wrap: (argv) => ['enter-node-1', ...argv],
});

const base = {
  place: elsewhere,
  name: 'node-1',
  socketPath: '/run/dpc/n1.sock',
  ports: [80, 8080],
  logFile: '/x',
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-agent-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agent command line', () => {
  it('is the agent script run by this Node, with nothing of the place in it', () => {
    expect(agentArgv(base)).toEqual([
      process.execPath,
      AGENT_SCRIPT,
      '--socket',
      '/run/dpc/n1.sock',
      '--name',
      'node-1',
      '--listen',
      '80,8080',
    ]);
    expect(AGENT_SCRIPT).toMatch(/\/src\/workload\/agent\.ts$/);
  });

  it('passes the cgroup when there is one', () => {
    expect(agentArgv({ ...base, cgroup: '/sys/fs/cgroup/unified/dpc-x/n1' }).slice(-2)).toEqual([
      '--cgroup',
      '/sys/fs/cgroup/unified/dpc-x/n1',
    ]);
  });

  it('refuses a socket path the kernel cannot bind', async () => {
    await expect(startAgent({ ...base, socketPath: `/tmp/${'x'.repeat(120)}.sock` })).rejects.toThrow(
      /socket path longer than 107 bytes/,
    );
  });

  it('reports an unreadable log instead of failing', async () => {
    expect(await logTail('/nonexistent/dpc-log')).toMatch(/^\(no log: ENOENT/);
  });
});

describe('agent lifecycle through a place', () => {
  it('is started by the place, detached, and a death before ready names the place', async () => {
    const calls: { argv: string[]; opts: StartOptions | undefined }[] = [];
    const dying: Place = {
      ...elsewhere,
      spawn: (argv, opts) => {
        calls.push({ argv: [...argv], opts });
        return start(['sh', '-c', 'echo agent could not bind >&2; exit 3'], opts);
      },
    };
    const logFile = join(dir, 'dying.log');
    await expect(
      startAgent({ ...base, place: dying, socketPath: join(dir, 'dying.sock'), logFile }),
    ).rejects.toThrow(/agent node-1 in test place node-1 exited 3 before it was ready[\s\S]*could not bind/);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.argv.slice(0, 2)).toEqual([process.execPath, AGENT_SCRIPT]);
    expect(calls[0]?.opts).toMatchObject({
      detached: true,
      logFile,
      env: { NODE_COMPILE_CACHE: expect.any(String) },
    });
  });

  it('answers from the pid the place handed back, and is gone with its socket once stopped', async () => {
    const socketPath = join(dir, 'here.sock');
    const agent = await startAgent({
      place: currentPlace('here'),
      name: 'here',
      socketPath,
      ports: [],
      logFile: join(dir, 'here.log'),
    });
    try {
      expect(processAlive(agent.pid)).toBe(true);
      expect((await agent.client.ready(1000)).pid).toBe(agent.pid);
    } finally {
      await stopAgent(agent);
    }
    expect(processAlive(agent.pid)).toBe(false);
    await expect(readFile(socketPath)).rejects.toThrow(/ENOENT/);
  });
});
