import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  METRICS_SERVER_SCRIPT,
  metricsFiles,
  metricsServerArgv,
  metricsUrl,
  startMetricsServer,
  stopMetricsServer,
  stopMetricsServers,
} from '../../../src/dataplane/bpf/metrics/process.ts';
import { parseServerArgs } from '../../../src/dataplane/bpf/metrics/server-args.ts';
import type { NodePlace } from '../../../src/node/place.ts';
import { wrappedNode } from '../../../src/node/wrapped.ts';
import { start } from '../../../src/sys/exec.ts';
import { processAlive, stopProcesses } from '../../../src/sys/process.ts';

const facts = { name: 'dpc-worker', index: 1, ip: '172.18.0.3', podCidr: '10.244.1.0/24', iface: 'eth0' };
const node = wrappedNode(facts, {
  where: 'test place dpc-worker',
  wrap: (argv) => ['enter-dpc-worker', ...argv],
  bpffsDir: '/sys/fs/bpf/dpc-t/dpc-worker',
  cgroupDir: '/sys/fs/cgroup/dpc-t/dpc-worker',
});

// Stands in for the server: writes its pid file as the server does once it listens, and keeps
// the server's argv (script, node, pid file) so that it is recognised as the node's server.
const STAND_IN = `
const a = process.argv;
require('node:fs').writeFileSync(a[a.indexOf('--pid-file') + 1], process.pid + '\\n');
if (a.includes('--stubborn')) process.on('SIGTERM', () => {});
setInterval(() => {}, 1000);
`;

/** The node, its server program replaced by the stand-in (extra words appended to its argv). */
function nodeRunning(extra: string[] = []): NodePlace {
  return {
    ...node,
    spawn: (argv, opts) =>
      start([argv[0] ?? process.execPath, '-e', STAND_IN, ...argv.slice(1), ...extra], opts),
  };
}

let stateDir: string;
const started: number[] = [];
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'dpc-metrics-test-'));
});
afterEach(async () => {
  await stopProcesses(started.splice(0), 200);
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('metrics server files and command line', () => {
  it('keeps pid and log under the run state directory, per node', () => {
    expect(metricsFiles('/run/dpconform/abc', 'dpc-worker')).toEqual({
      dir: '/run/dpconform/abc/metrics',
      pidFile: '/run/dpconform/abc/metrics/dpc-worker.pid',
      logFile: '/run/dpconform/abc/metrics/dpc-worker.log',
    });
    expect(metricsUrl(node)).toBe('http://172.18.0.3:9091/metrics');
  });

  it('runs the server in the node, on the node’s address, reading the node’s pin root', () => {
    const argv = metricsServerArgv(node, '/run/dpconform/abc');
    expect(argv.slice(0, 3)).toEqual(['enter-dpc-worker', process.execPath, METRICS_SERVER_SCRIPT]);
    expect(parseServerArgs(argv.slice(3))).toEqual({
      node: 'dpc-worker',
      bpffsDir: '/sys/fs/bpf/dpc-t/dpc-worker',
      host: '172.18.0.3',
      port: 9091,
      pidFile: '/run/dpconform/abc/metrics/dpc-worker.pid',
    });
  });
});

describe('metrics server lifecycle', () => {
  it('starts through the node, is found again, and stops with its pid file', async () => {
    const running = nodeRunning();
    const server = await startMetricsServer(running, stateDir);
    started.push(server.pid);
    expect(server).toMatchObject({ node: 'dpc-worker', url: 'http://172.18.0.3:9091/metrics' });
    expect(processAlive(server.pid)).toBe(true);
    expect((await startMetricsServer(running, stateDir)).pid).toBe(server.pid);

    const { pidFile } = metricsFiles(stateDir, 'dpc-worker');
    await stopMetricsServers([running], stateDir);
    expect(processAlive(server.pid)).toBe(false);
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('waits out a server that ignores SIGTERM before removing its pid file', async () => {
    const server = await startMetricsServer(nodeRunning(['--stubborn']), stateDir);
    started.push(server.pid);
    await stopMetricsServer(node, stateDir);
    expect(processAlive(server.pid)).toBe(false);
    await expect(readFile(metricsFiles(stateDir, 'dpc-worker').pidFile, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('leaves a process that is not the node’s server alone and drops the stale pid file', async () => {
    const { dir, pidFile } = metricsFiles(stateDir, 'dpc-worker');
    await mkdir(dir, { recursive: true });
    await writeFile(pidFile, `${process.pid}\n`);
    await stopMetricsServer(node, stateDir);
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('names the node and its place when the server dies before listening', async () => {
    const dying: NodePlace = {
      ...node,
      spawn: (_argv, opts) => start(['sh', '-c', 'echo no maps >&2; exit 2'], opts),
    };
    await expect(startMetricsServer(dying, stateDir)).rejects.toThrow(
      /metrics server of dpc-worker in test place dpc-worker exited 2 before listening on http:\/\/172\.18\.0\.3:9091\/metrics[\s\S]*no maps/,
    );
  });
});
