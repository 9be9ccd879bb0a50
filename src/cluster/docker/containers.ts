/**
 * A run's containers on its engine: started with testcontainers (in a process of their own, see
 * ./start-containers-main.ts), recorded with their pids so that places can enter them, and
 * removed by the run's label whatever started them.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandError, run } from '../../sys/exec.ts';
import { docker, type Engine, engineDir } from './engine.ts';
import { type ProvisionSpec, RUN_LABEL } from './plan.ts';

/** The program that starts containers with testcontainers. */
export const START_CONTAINERS_SCRIPT = fileURLToPath(new URL('./start-containers-main.ts', import.meta.url));

/** A started container, as {@link START_CONTAINERS_SCRIPT} prints it. */
export interface StartedContainer {
  name: string;
  id: string;
  /** The container's first process, as this machine numbers it: the way into its namespaces. */
  pid: number;
}

/** Where a run keeps its containers' ids and pids. */
export function containersFile(runId: string): string {
  return join(engineDir(runId), 'containers.json');
}

/**
 * The environment testcontainers runs with: the run's engine, and no Ryuk (its image cannot be
 * pulled where no registry is reachable; the run reaps its own containers by label instead).
 * The host override keeps it from starting a helper container to find the engine's address.
 */
export function testcontainersEnv(
  engine: Engine,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  return {
    DOCKER_HOST: engine.host,
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    TESTCONTAINERS_HOST_OVERRIDE: env.TESTCONTAINERS_HOST_OVERRIDE ?? 'localhost',
  };
}

/** Starts the run's network and containers and records their pids. */
export async function startContainers(
  runId: string,
  engine: Engine,
  spec: ProvisionSpec,
): Promise<StartedContainer[]> {
  const r = await run([process.execPath, START_CONTAINERS_SCRIPT], {
    input: JSON.stringify(spec),
    env: testcontainersEnv(engine),
    timeoutMs: 5 * 60_000,
  }).catch((err: unknown) => {
    // The one clash a person must act on: the engine already has a network on kind's subnet.
    if (err instanceof CommandError && /overlaps/i.test(err.stderr))
      throw new Error(
        `the engine at ${engine.host} already has a network on ${spec.network.subnet} (kind's own \`kind\` network, or another docker run): remove it, or unset DOCKER_HOST to use a private engine`,
        { cause: err },
      );
    throw err;
  });
  const started = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as StartedContainer[];
  const record = Object.fromEntries(started.map((c) => [c.name, { id: c.id, pid: c.pid }]));
  await writeFile(containersFile(runId), `${JSON.stringify(record)}\n`);
  return started;
}

/** A recorded container. */
export interface ContainerRecord {
  id: string;
  pid: number;
}

/**
 * The run's containers as recorded at bring-up. Places are made synchronously, often, by every
 * process of a run, so this reads the small record file each time rather than asking the engine.
 */
export function containerRecords(runId: string): Record<string, ContainerRecord> {
  try {
    return JSON.parse(readFileSync(containersFile(runId), 'utf8')) as Record<string, ContainerRecord>;
  } catch {
    return {};
  }
}

/** The recorded pid of a container, or a one-line error saying the run has no such container. */
export function containerPid(runId: string, name: string): number {
  const pid = containerRecords(runId)[name]?.pid;
  if (pid === undefined)
    throw new Error(`run ${runId} has no container ${name} (its containers are not up, or were removed)`);
  return pid;
}

/** What a removal by label found. */
export interface LabelledRemoval {
  containers: number;
  networks: number;
  runs: string[];
}

/** Removes every container and network on an engine labelled with the run id (any run's without one). */
export async function removeLabelled(engine: Engine, runId?: string): Promise<LabelledRemoval> {
  const filter = ['--filter', runId ? `label=${RUN_LABEL}=${runId}` : `label=${RUN_LABEL}`];
  const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');
  const ps = await docker(
    engine,
    ['ps', '--all', ...filter, '--format', `{{.ID}} {{.Label "${RUN_LABEL}"}}`],
    {
      reject: false,
    },
  );
  const containers = lines(ps.stdout).map((l) => l.split(' ') as [string, string?]);
  if (containers.length > 0)
    await docker(engine, ['rm', '--force', '--volumes', ...containers.map(([id]) => id)], {
      timeoutMs: 120_000,
    });
  const ls = await docker(
    engine,
    ['network', 'ls', ...filter, '--format', `{{.ID}} {{.Label "${RUN_LABEL}"}}`],
    { reject: false },
  );
  const networks = lines(ls.stdout).map((l) => l.split(' ') as [string, string?]);
  if (networks.length > 0) await docker(engine, ['network', 'rm', ...networks.map(([id]) => id)]);
  const runs = new Set([...containers, ...networks].map(([, id]) => id).filter((id): id is string => !!id));
  return { containers: containers.length, networks: networks.length, runs: [...runs].sort() };
}
