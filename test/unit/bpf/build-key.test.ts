/**
 * The bpf/ build cache key: it must follow every header an object includes, bpf/lib/ included,
 * while only top-level C files become objects.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildKey, listBpfSources, objectSources } from '../../../src/dataplane/bpf/build.ts';

const text = (s: string) => new TextEncoder().encode(s);
const DEFINES = ['-DDPC_CT_SIZE=128'];
const TREE = [
  { path: 'dpc.c', content: text('#include "lib/maps.h"\n') },
  { path: 'dpc.h', content: text('struct k { int a; };\n') },
  { path: 'lib/maps.h', content: text('#include "dpc.h"\n') },
];

const scratch: string[] = [];
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

describe('bpf build key', () => {
  it('changes when a header under lib/ changes, and only then', () => {
    const key = buildKey(DEFINES, TREE);
    expect(
      buildKey(
        DEFINES,
        TREE.map((f) => ({ ...f })),
      ),
    ).toBe(key);
    const edited = TREE.map((f) =>
      f.path === 'lib/maps.h' ? { ...f, content: text('#include "dpc.h"\n ') } : f,
    );
    expect(buildKey(DEFINES, edited)).not.toBe(key);
    expect(buildKey(['-DDPC_CT_SIZE=129'], TREE)).not.toBe(key);
  });

  it('tells where one file ends and the next begins', () => {
    const a = [
      { path: 'a.h', content: text('xy') },
      { path: 'b.h', content: text('') },
    ];
    const b = [
      { path: 'a.h', content: text('x') },
      { path: 'b.h', content: text('y') },
    ];
    expect(buildKey(DEFINES, a)).not.toBe(buildKey(DEFINES, b));
    expect(buildKey(DEFINES, [{ path: 'lib/x.h', content: text('') }])).not.toBe(
      buildKey(DEFINES, [{ path: 'x.h', content: text('') }]),
    );
  });

  it('compiles top-level .c files only', () => {
    expect(objectSources(['dpc.c', 'dpc.h', 'lib/maps.h', 'lib/helper.c', 'xdp.c'])).toEqual([
      'dpc.c',
      'xdp.c',
    ]);
  });

  it('lists every .c and .h however deep, sorted, and nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpc-srcs-'));
    scratch.push(dir);
    await mkdir(join(dir, 'lib', 'deeper'), { recursive: true });
    await mkdir(join(dir, 'odd.h'));
    for (const f of ['dpc.c', 'dpc.h', 'README.md', 'lib/maps.h', 'lib/deeper/x.h', 'lib/notes.txt']) {
      await writeFile(join(dir, f), '');
    }
    expect(await listBpfSources(dir)).toEqual(['dpc.c', 'dpc.h', 'lib/deeper/x.h', 'lib/maps.h']);
  });
});
