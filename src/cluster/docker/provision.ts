/**
 * The bring-up of a docker run, step by step, each undoing itself: an engine, the node image,
 * the directories of this machine the nodes see (their cgroups, bpffs, the dataplane's build
 * directory), the network and containers (started with testcontainers), and the routes Docker
 * does not make.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dataplane/bpf/build.ts';
import { pathExists } from '../../sys/fs.ts';
import { findCgroup2Mount } from '../../sys/mounts.ts';
import { stopProcesses } from '../../sys/process.ts';
import { BPFFS_ROOT, NAME_PREFIX, runBpffsDir } from '../netns/address-plan.ts';
import type { Step } from '../steps.ts';
import type { Topology } from '../types.ts';
import { removeLabelled, startContainers } from './containers.ts';
import { acquireEngine, type Engine, pidsBelow, releaseEngine, removeCgroupTree } from './engine.ts';
import { ensureNodeImage } from './image.ts';
import { clientPlace, ipBatchIn, nodeBpffsDir, nodeCgroupDir, nodePlace } from './places.ts';
import { type Bind, CLIENT_LINES, NODE_NAT_BUILTINS, nodeRouteLines, provisionSpec } from './plan.ts';

/**
 * Where the dataplane's objects are built: the nodes see it read-only at the same path, so
 * `bpftool prog loadall` in a node reads the object this machine built.
 */
export const BUILD_DIR = join(REPO_ROOT, 'build');

/** What each node sees of this machine, at the same paths. */
export function nodeBinds(runId: string, node: string): Bind[] {
  return [
    { path: BPFFS_ROOT, readOnly: false },
    { path: nodeCgroupDir(runId, node), readOnly: false },
    { path: BUILD_DIR, readOnly: true },
  ];
}

/** The run's directories on this machine that its nodes see: their cgroups and pins. */
function runDirs(t: Topology): string[] {
  return t.nodes.flatMap((n) => [nodeCgroupDir(t.runId, n.name), nodeBpffsDir(t.runId, n.name)]);
}

/** Removes a run's node cgroups (after stopping what still lives there) and bpffs pins. */
export async function removeNodeDirs(runId: string): Promise<{ cgroup: boolean; bpffs: boolean }> {
  const cgroups = findCgroup2Mount();
  const cgroupDir = cgroups === undefined ? undefined : `${cgroups}/${NAME_PREFIX}-${runId}`;
  const found = {
    cgroup: cgroupDir !== undefined && (await pathExists(cgroupDir)),
    bpffs: await pathExists(runBpffsDir(runId)),
  };
  if (cgroupDir !== undefined) {
    await stopProcesses(await pidsBelow(cgroupDir));
    await removeCgroupTree(cgroupDir);
  }
  await rm(runBpffsDir(runId), { recursive: true, force: true });
  return found;
}

/** The ordered bring-up of a docker run. */
export function dockerSteps(t: Topology): Step[] {
  let engine: Engine | undefined;
  const need = (): Engine => {
    if (!engine) throw new Error('no Docker engine: the engine step did not run');
    return engine;
  };
  return [
    {
      name: 'get a Docker engine',
      run: async () => {
        engine = await acquireEngine(t.runId);
      },
      undo: async () => {
        await releaseEngine(t.runId);
      },
    },
    {
      name: `load the node image ${t.nodeImage ?? ''}`.trim(),
      run: async () => {
        await ensureNodeImage(need());
      },
    },
    {
      name: 'make the nodes’ cgroups and bpffs directories',
      run: async () => {
        await mkdir(BUILD_DIR, { recursive: true });
        for (const dir of runDirs(t)) await mkdir(dir, { recursive: true });
      },
      undo: async () => {
        await removeNodeDirs(t.runId);
      },
    },
    {
      name: 'start the node network and containers (testcontainers)',
      run: async () => {
        const spec = provisionSpec(t, t.nodeImage ?? '', (n) => nodeBinds(t.runId, n.name));
        await startContainers(t.runId, need(), spec);
      },
      undo: async () => {
        if (engine) await removeLabelled(engine, t.runId);
      },
    },
    {
      name: 'route between the nodes, complete their nat tables; no default route on the clients',
      run: async () => {
        await Promise.all([
          ...t.nodes.map(async (n) => {
            const node = nodePlace(t, n);
            await ipBatchIn(node, nodeRouteLines(t, n));
            await node.exec(['iptables-restore', '--noflush'], { input: NODE_NAT_BUILTINS });
          }),
          ...t.clients.map((c) => ipBatchIn(clientPlace(t, c), CLIENT_LINES)),
        ]);
      },
    },
  ];
}
