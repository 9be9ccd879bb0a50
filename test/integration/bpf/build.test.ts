/**
 * Building bpf/ with clang: objects land in build/bpf/<key>/, the key follows sizes and sources,
 * and a compile error carries clang's own diagnostics.
 */
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfCompileError, buildBpf, REPO_ROOT } from '../../../src/dataplane/bpf/build.ts';
import { SMALL_SIZES } from './helpers.ts';

const scratch: string[] = [];

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dpc-build-'));
  scratch.push(d);
  return d;
}

afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

describe('buildBpf', () => {
  it('BUILD-001 compiles bpf/*.c, caches by content and sizes', async () => {
    const out = await tempDir();
    const first = await buildBpf({ sizes: SMALL_SIZES, outDir: out });
    expect(first.cached).toBe(false);
    expect(await readdir(first.dir)).toContain('dpc.o');
    const again = await buildBpf({ sizes: SMALL_SIZES, outDir: out });
    expect(again).toMatchObject({ cached: true, key: first.key });
    const other = await buildBpf({ sizes: { ...SMALL_SIZES, conntrack: 999 }, outDir: out });
    expect(other.key).not.toBe(first.key);
  });

  it('BUILD-002 a compile error carries clang diagnostics verbatim', async () => {
    const src = await tempDir();
    await copyFile(join(REPO_ROOT, 'bpf', 'dpc.h'), join(src, 'dpc.h'));
    await writeFile(join(src, 'broken.c'), 'int f(void) { return undeclared_thing; }\n');
    const err = await buildBpf({ sizes: SMALL_SIZES, sourceDir: src, outDir: await tempDir() }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(BpfCompileError);
    expect(err.file).toBe('broken.c');
    expect(err.diagnostics).toMatch(
      /broken\.c:1:\d+: error: use of undeclared identifier 'undeclared_thing'/,
    );
    // All of it, not a summary: the source line with its caret and clang's closing count.
    expect(err.diagnostics).toContain('int f(void) { return undeclared_thing; }');
    expect(err.diagnostics).toMatch(/\^\n1 error generated\.\n$/);
    expect(err.message).toContain(err.diagnostics);
  });
});
