/**
 * Places whose commands are this machine's commands with a prefix (`nsenter --net=...` for a
 * network namespace, nothing for the namespace we run in), and the host file system they share.
 */
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { run, runJson, start } from '../sys/exec.ts';
import { pathExists } from '../sys/fs.ts';
import type { NodeFacts, NodePlace, Place, PlaceFs, PlaceKind } from './place.ts';

/** How to reach a place by prefixing this machine's commands. */
export interface WrappedPlaceInit {
  name: string;
  kind: PlaceKind;
  where: string;
  /** Turns an argv into one that runs inside the place. */
  wrap: (argv: readonly string[]) => string[];
  /**
   * Turns an argv of this machine's program into one that runs in the place's network with this
   * machine's files (default `wrap`, for places that share them). A container enters its own
   * files for `exec`, and only its network for `spawn`.
   */
  wrapSpawn?: (argv: readonly string[]) => string[];
}

/** A place whose commands run on this machine, wrapped to enter it. */
export function wrappedPlace(init: WrappedPlaceInit): Place {
  const wrapSpawn = init.wrapSpawn ?? init.wrap;
  return {
    name: init.name,
    kind: init.kind,
    where: init.where,
    exec: (argv, opts) => run(init.wrap(argv), opts),
    execJson: (argv, opts) => runJson(init.wrap(argv), opts),
    spawn: (argv, opts) => start(wrapSpawn(argv), opts),
    spawnArgv: (argv) => wrapSpawn(argv),
  };
}

/** The host's own file system, for places that share it (network namespaces do). */
export const HOST_FS: PlaceFs = {
  exists: pathExists,
  mkdir: async (path) => {
    await mkdir(path, { recursive: true });
  },
  remove: (path) => rm(path, { recursive: true, force: true }),
  rmdir: (path) => rmdir(path).catch(() => undefined),
};

/** A node whose commands run on this machine, wrapped to enter it, sharing this machine's files. */
export function wrappedNode(
  facts: NodeFacts,
  init: Omit<WrappedPlaceInit, 'name' | 'kind'> & { bpffsDir: string; cgroupDir: string },
): NodePlace {
  const place = wrappedPlace({
    name: facts.name,
    kind: 'node',
    where: init.where,
    wrap: init.wrap,
    ...(init.wrapSpawn ? { wrapSpawn: init.wrapSpawn } : {}),
  });
  return {
    ...place,
    kind: 'node',
    index: facts.index,
    ip: facts.ip,
    podCidr: facts.podCidr,
    iface: facts.iface,
    bpffsDir: init.bpffsDir,
    cgroupDir: init.cgroupDir,
    fs: HOST_FS,
  };
}

/** The namespace this process runs in, as a place (a program already inside a node uses it). */
export function currentPlace(name: string, kind: PlaceKind = 'node'): Place {
  return wrappedPlace({ name, kind, where: 'this process’s namespace', wrap: (argv) => [...argv] });
}
