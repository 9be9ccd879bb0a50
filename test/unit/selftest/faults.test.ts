import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../src/run/conformance.ts';
import { AREA_OF_PREFIX, applyEdits, areaOf, areasOf } from '../../../src/selftest/fault.ts';
import { FAULTS } from '../../../src/selftest/faults.ts';
import { checkFaults, runOrder, selectFaults } from '../../../src/selftest/runner.ts';

/** Requirement ids the suites define (`it('NP-001: ...'`). */
function suiteIds(area: string): string[] {
  const text = readFileSync(join(REPO_ROOT, 'suites', `${area}.test.ts`), 'utf8');
  return [...text.matchAll(/it\(\s*['"`]([A-Z]+-\d+):/g)].map((m) => m[1]!);
}

describe('the fault list', () => {
  it('has at least 15 faults with distinct kebab-case ids, each naming requirements that exist', () => {
    expect(FAULTS.length).toBeGreaterThanOrEqual(15);
    const ids = FAULTS.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const f of FAULTS) {
      expect(f.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(f.catches.length).toBeGreaterThan(0);
      for (const id of f.catches) expect(suiteIds(areaOf(id)), `${f.id} names ${id}`).toContain(id);
    }
  });

  it('covers every area of the suites it knows', () => {
    const covered = new Set(FAULTS.flatMap(areasOf));
    expect([...covered].sort()).toEqual(Object.values(AREA_OF_PREFIX).sort());
  });

  it('applies to the project as it is: each edit finds its text exactly once', async () => {
    // A failure here names the fault whose source moved on: update its edit in src/selftest/faults.ts.
    await expect(checkFaults(FAULTS)).resolves.toBeUndefined();
  });

  it('refuses an edit whose text is missing or not unique, naming the fault', () => {
    const edit = { file: 'a.c', find: 'x = 1;', replace: 'x = 2;' };
    expect(applyEdits({ id: 'f' }, 'a.c', 'int x = 1;', [edit])).toBe('int x = 2;');
    expect(() => applyEdits({ id: 'f' }, 'a.c', 'int y;', [edit])).toThrow(
      /fault f: a.c holds the text to replace 0 times/,
    );
    expect(() => applyEdits({ id: 'f' }, 'a.c', 'x = 1; x = 1;', [edit])).toThrow(/2 times/);
    // `$&` and friends in a replacement are text, not patterns.
    expect(applyEdits({ id: 'f' }, 'a.c', 'x = 1;', [{ ...edit, replace: '$&$&' }])).toBe('$&$&');
  });

  it('runs eBPF Tunnel faults first and control-plane faults before C ones within a mode', () => {
    const order = runOrder(FAULTS);
    const modes = order.map((f) => f.mode.serviceMode);
    expect(modes.indexOf('DSR')).toBeGreaterThan(modes.lastIndexOf('Tunnel'));
    const tunnel = order.filter((f) => f.mode.serviceMode === 'Tunnel');
    const firstC = tunnel.findIndex((f) => f.edits.some((e) => e.file.startsWith('bpf/')));
    expect(tunnel.slice(firstC).every((f) => f.edits.some((e) => e.file.startsWith('bpf/')))).toBe(true);
  });

  it('selects faults by id and names the unknown ones', () => {
    expect(selectFaults(FAULTS, [FAULTS[1]!.id]).map((f) => f.id)).toEqual([FAULTS[1]!.id]);
    expect(selectFaults(FAULTS, undefined)).toHaveLength(FAULTS.length);
    expect(() => selectFaults(FAULTS, ['no-such-fault'])).toThrow(/unknown fault "no-such-fault" \(faults: /);
  });
});
