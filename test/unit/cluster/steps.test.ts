import { describe, expect, it } from 'vitest';
import { runSteps, StepError } from '../../../src/cluster/steps.ts';

describe('runSteps', () => {
  it('runs steps in order', async () => {
    const seen: string[] = [];
    await runSteps([
      { name: 'a', run: async () => void seen.push('a') },
      { name: 'b', run: async () => void seen.push('b') },
    ]);
    expect(seen).toEqual(['a', 'b']);
  });

  it('undoes the failed step and the done ones in reverse, and names the failed step', async () => {
    const seen: string[] = [];
    const step = (name: string, fail = false) => ({
      name,
      run: async () => {
        seen.push(`run ${name}`);
        if (fail) throw new Error('boom');
      },
      undo: async () => void seen.push(`undo ${name}`),
    });
    const err = await runSteps([step('a'), step('b'), step('c', true), step('d')]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepError);
    expect((err as StepError).message).toBe('c: boom');
    expect(seen).toEqual(['run a', 'run b', 'run c', 'undo c', 'undo b', 'undo a']);
  });

  it('keeps undoing when an undo fails, and reports it', async () => {
    const logs: string[] = [];
    const undone: string[] = [];
    await runSteps(
      [
        { name: 'a', run: async () => {}, undo: async () => void undone.push('a') },
        { name: 'b', run: async () => {}, undo: async () => Promise.reject(new Error('stuck')) },
        { name: 'c', run: async () => Promise.reject(new Error('boom')) },
      ],
      (l) => logs.push(l),
    ).catch(() => {});
    expect(undone).toEqual(['a']);
    expect(logs).toEqual(['undo of "b" failed: stuck']);
  });
});
