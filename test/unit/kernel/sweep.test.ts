import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepStaleVms, VM_DIR_PREFIX } from '../../../src/kernel/matrix-run.ts';

const root = mkdtempSync(join(tmpdir(), 'dpc-sweep-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A VM directory under the root, with an owner file when `owner` is given. */
function vmDir(name: string, owner?: number, ageMs = 0): void {
  const dir = join(root, `${VM_DIR_PREFIX}${name}`);
  mkdirSync(dir);
  if (owner !== undefined) writeFileSync(join(dir, 'owner'), String(owner));
  const when = (Date.now() - ageMs) / 1000;
  utimesSync(dir, when, when);
}

describe('sweepStaleVms', () => {
  it('removes directories of dead owners and old ownerless ones, and keeps the living and the fresh', async () => {
    // A pid far above pid_max: no such process.
    vmDir('dead', 2 ** 30);
    vmDir('alive', process.pid);
    vmDir('fresh-ownerless');
    vmDir('old-ownerless', undefined, 2 * 60 * 60_000);
    mkdirSync(join(root, 'unrelated'));
    expect(await sweepStaleVms(root)).toBe(2);
    expect(readdirSync(root).sort()).toEqual(
      [`${VM_DIR_PREFIX}alive`, `${VM_DIR_PREFIX}fresh-ownerless`, 'unrelated'].sort(),
    );
  });
});
