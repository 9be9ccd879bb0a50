/**
 * `dpconform selftest` end to end, on a short list: a control-plane fault and a fault of the C,
 * each caught by the requirement it names, with nothing left behind and the working tree as it was.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { stateDir } from '../../../src/cluster/state.ts';
import { REPO_ROOT } from '../../../src/run/conformance.ts';
import { FAULTS } from '../../../src/selftest/faults.ts';
import { runSelftest } from '../../../src/selftest/runner.ts';
import { allCaught, renderTable } from '../../../src/selftest/table.ts';

const SHORT = ['target-port-ignored', 'etp-local-refused'];

describe('dpconform selftest', () => {
  it(
    'catches a control-plane fault and a C fault, each by an expected requirement, and leaves nothing behind',
    async () => {
      const lines: string[] = [];
      const outcome = await runSelftest({ faults: SHORT, log: (l) => lines.push(l) });
      const table = renderTable(outcome.results);
      expect(
        outcome.results.map((r) => [r.fault.id, r.outcome]),
        `${table}\n${lines.join('\n')}`,
      ).toEqual(SHORT.map((id) => [id, 'caught']));
      expect(allCaught(outcome.results)).toBe(true);
      // The faults went into the copy only.
      for (const f of FAULTS.filter((x) => SHORT.includes(x.id))) {
        for (const e of f.edits) {
          const text = await readFile(join(REPO_ROOT, e.file), 'utf8');
          expect(text).toContain(e.find);
          if (e.replace !== '') expect(text).not.toContain(e.replace);
        }
      }
      await expect(stat(outcome.copy)).rejects.toThrow();
      expect((await listNetns()).filter((n) => n.startsWith(`dpc-${outcome.runId}-`))).toEqual([]);
      await expect(stat(stateDir(outcome.runId))).rejects.toThrow();
    },
    10 * 60_000,
  );
});
