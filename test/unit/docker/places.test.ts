import { describe, expect, it } from 'vitest';
import { ipBatchIn } from '../../../src/cluster/docker/places.ts';
import type { Place } from '../../../src/node/place.ts';
import { CommandError, type RunResult } from '../../../src/sys/exec.ts';

/** A place whose `ip -batch` fails the way iproute2 does, on the given line. */
function failingAt(line: number): Place & { inputs: string[] } {
  const inputs: string[] = [];
  return {
    name: 'n',
    kind: 'node',
    where: 'test',
    inputs,
    async exec(argv, opts): Promise<RunResult> {
      inputs.push(String(opts?.input ?? ''));
      throw new CommandError({
        argv: [...argv],
        exitCode: 1,
        stderr: `RTNETLINK answers: File exists\nCommand failed -:${line}\n`,
      });
    },
    execJson: async () => {
      throw new Error('unused');
    },
    spawn: () => {
      throw new Error('unused');
    },
    spawnArgv: (argv) => [...argv],
  };
}

describe('ip batches in a container', () => {
  it('name the line that failed, so the error reads without the input at hand', async () => {
    const place = failingAt(2);
    const err = await ipBatchIn(place, [
      'link set lo up',
      'route add 10.244.1.2/32 dev caliabc',
      'link set x up',
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as Error).message).toContain(
      'RTNETLINK answers: File exists [input: route add 10.244.1.2/32 dev caliabc]',
    );
    expect(place.inputs).toEqual(['link set lo up\nroute add 10.244.1.2/32 dev caliabc\nlink set x up\n']);
  });

  it('run nothing for no lines', async () => {
    const place = failingAt(1);
    await ipBatchIn(place, []);
    expect(place.inputs).toEqual([]);
  });
});
