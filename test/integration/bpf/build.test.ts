/**
 * Building bpf/ with clang: objects land in build/bpf/<key>/, the key follows sizes and every
 * source and header (bpf/lib/ included), and a compile error carries clang's own diagnostics.
 */
import { appendFile, copyFile, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BpfCompileError,
  buildBpf,
  listBpfSources,
  multiarchIncludeDir,
  REPO_ROOT,
  sizeDefines,
} from '../../../src/dataplane/bpf/build.ts';
import { run } from '../../../src/sys/exec.ts';
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

  it('BUILD-003 editing a header under bpf/lib changes the key and rebuilds; headers are not objects', async () => {
    const src = await tempDir();
    await cp(join(REPO_ROOT, 'bpf'), src, { recursive: true });
    const out = await tempDir();
    const first = await buildBpf({ sizes: SMALL_SIZES, sourceDir: src, outDir: out });
    expect(Object.keys(first.objects)).toEqual(['dpc']);
    expect(await readdir(first.dir)).toEqual(['dpc.o']);

    const header = join(src, 'lib', 'tunnel.h');
    const original = await readFile(header);
    await appendFile(header, '/* an edit that leaves dpc.c and dpc.h as they were */\n');
    const edited = await buildBpf({ sizes: SMALL_SIZES, sourceDir: src, outDir: out });
    expect(edited.key).not.toBe(first.key);
    expect(edited.cached).toBe(false);
    expect(await readdir(edited.dir)).toEqual(['dpc.o']);

    // Undone, the header gives the first key again and its object straight from the cache.
    await writeFile(header, original);
    const undone = await buildBpf({ sizes: SMALL_SIZES, sourceDir: src, outDir: out });
    expect(undone).toMatchObject({ key: first.key, cached: true });
  });

  it('BUILD-004 every file clang reads from bpf/ for dpc.o is one the key hashes', async () => {
    const src = join(REPO_ROOT, 'bpf');
    const { stdout } = await run([
      'clang',
      '-target',
      'bpf',
      '-MM',
      `-I${src}`,
      `-I${multiarchIncludeDir()}`,
      ...sizeDefines(SMALL_SIZES),
      '-DDPC_TEST',
      join(src, 'dpc.c'),
    ]);
    // -MM prints "dpc.o: <every file read>" over backslash-continued lines, system headers left out.
    const deps = stdout
      .replace(/\\\n/g, ' ')
      .split(':')
      .slice(1)
      .join(':')
      .trim()
      .split(/\s+/)
      .map((d) => relative(src, d));
    expect(deps).toContain('dpc.h');
    expect(deps.filter((d) => d.startsWith('lib/')).length).toBeGreaterThan(5);
    expect(deps.every((d) => !d.startsWith('..'))).toBe(true);
    const hashed = await listBpfSources(src);
    expect(deps.filter((d) => !hashed.includes(d))).toEqual([]);
  });
});
