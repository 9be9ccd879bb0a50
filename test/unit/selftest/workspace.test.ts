import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { COPIED, makeWorkspace } from '../../../src/selftest/workspace.ts';

let made: string[] = [];

afterEach(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
  made = [];
});

/** A project of a few files, as the self-test copies it. */
async function fakeProject(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'dpc-unit-project-'));
  made.push(root);
  for (const d of ['bpf/lib', 'src', 'suites', 'fixtures', 'node_modules/pkg', 'node_modules/.cache'])
    await mkdir(join(root, d), { recursive: true });
  await writeFile(join(root, 'bpf/lib/lb.h'), 'return TC_ACT_SHOT;\n');
  await writeFile(join(root, 'src/plan.ts'), 'const port = ep.port;\n');
  for (const f of ['package.json', 'tsconfig.json']) await writeFile(join(root, f), '{}');
  return root;
}

describe('the copy a self-test breaks', () => {
  it('copies the project, links the packages one by one, and puts a fault in and out', async () => {
    const root = await fakeProject();
    const parent = await mkdtemp(join(tmpdir(), 'dpc-unit-copies-'));
    made.push(parent);
    const ws = await makeWorkspace(root, parent);
    expect(ws.bpfSource).toEqual({
      sourceDir: join(ws.root, 'bpf'),
      buildDir: join(ws.root, 'build', 'bpf'),
    });
    for (const entry of COPIED) await expect(stat(join(ws.root, entry))).resolves.toBeDefined();
    // Packages are links; the tools' own caches are not shared, so the copy's writes stay in it.
    expect((await lstat(join(ws.root, 'node_modules'))).isSymbolicLink()).toBe(false);
    expect(await readlink(join(ws.root, 'node_modules/pkg'))).toBe(join(root, 'node_modules/pkg'));
    await expect(lstat(join(ws.root, 'node_modules/.cache'))).rejects.toThrow();

    const restore = await ws.apply({
      id: 'two-files',
      summary: 's',
      mode: { dataplane: 'bpf', serviceMode: 'Tunnel' },
      catches: ['NP-001'],
      edits: [
        { file: 'bpf/lib/lb.h', find: 'TC_ACT_SHOT', replace: 'TC_ACT_OK' },
        { file: 'src/plan.ts', find: 'ep.port', replace: 'port.port' },
      ],
    });
    expect(await readFile(join(ws.root, 'bpf/lib/lb.h'), 'utf8')).toBe('return TC_ACT_OK;\n');
    expect(await readFile(join(ws.root, 'src/plan.ts'), 'utf8')).toBe('const port = port.port;\n');
    // The project itself is never touched.
    expect(await readFile(join(root, 'bpf/lib/lb.h'), 'utf8')).toBe('return TC_ACT_SHOT;\n');
    await restore();
    expect(await readFile(join(ws.root, 'bpf/lib/lb.h'), 'utf8')).toBe('return TC_ACT_SHOT;\n');
    expect(await readFile(join(ws.root, 'src/plan.ts'), 'utf8')).toBe('const port = ep.port;\n');
    await ws.remove();
    await expect(stat(ws.root)).rejects.toThrow();
  });

  it('leaves the copy untouched when one edit of a fault does not apply', async () => {
    const root = await fakeProject();
    const parent = await mkdtemp(join(tmpdir(), 'dpc-unit-copies-'));
    made.push(parent);
    const ws = await makeWorkspace(root, parent);
    await expect(
      ws.apply({
        id: 'stale',
        summary: 's',
        mode: { dataplane: 'bpf', serviceMode: 'Tunnel' },
        catches: ['NP-001'],
        edits: [
          { file: 'bpf/lib/lb.h', find: 'TC_ACT_SHOT', replace: 'TC_ACT_OK' },
          { file: 'src/plan.ts', find: 'no such text', replace: 'x' },
        ],
      }),
    ).rejects.toThrow(/fault stale: src\/plan.ts holds the text to replace 0 times/);
    expect(await readFile(join(ws.root, 'bpf/lib/lb.h'), 'utf8')).toBe('return TC_ACT_SHOT;\n');
    await ws.remove();
  });
});
