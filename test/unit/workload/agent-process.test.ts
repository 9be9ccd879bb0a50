import { describe, expect, it } from 'vitest';
import { AGENT_SCRIPT, agentArgv, logTail, startAgent } from '../../../src/workload/agent-process.ts';

const base = {
  netns: 'dpc-x-n1',
  name: 'node-1',
  socketPath: '/run/dpc/n1.sock',
  ports: [80, 8080],
  logFile: '/x',
};

describe('agent command line', () => {
  it('runs the agent script with this Node inside the namespace, through nsenter', () => {
    expect(agentArgv(base)).toEqual([
      'nsenter',
      '--net=/run/netns/dpc-x-n1',
      '--',
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
