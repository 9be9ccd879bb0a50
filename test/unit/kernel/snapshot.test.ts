import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { snapshotCheckout } from '../../../src/kernel/matrix-run.ts';

const dir = mkdtempSync(join(tmpdir(), 'dpconform-snapshot-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the snapshot of the checkout', () => {
  test('laid out under its own path; dependencies, history, reports and the report root left out', async () => {
    const repo = join(dir, 'repo');
    for (const d of ['src/kernel', 'node_modules/x', '.git', 'reports/r1', 'out/m1', 'build/bpf/k']) {
      mkdirSync(join(repo, d), { recursive: true });
    }
    writeFileSync(join(repo, 'src/kernel/a.ts'), 'export {};\n');
    writeFileSync(join(repo, 'build/bpf/k/dpc.o'), 'obj');
    writeFileSync(join(repo, 'node_modules/x/index.js'), '');
    writeFileSync(join(repo, 'out/m1/matrix.md'), '');
    const tree = join(dir, 'tree');
    await snapshotCheckout(tree, [join(repo, 'out')], repo);
    const copy = join(tree, repo);
    expect(readFileSync(join(copy, 'src/kernel/a.ts'), 'utf8')).toBe('export {};\n');
    expect(readFileSync(join(copy, 'build/bpf/k/dpc.o'), 'utf8')).toBe('obj');
    for (const gone of ['node_modules', '.git', 'reports', 'out'])
      expect(existsSync(join(copy, gone)), gone).toBe(false);
  });
});
