import { describe, expect, test } from 'vitest';
import {
  buildKernelMatrix,
  type KernelMatrix,
  matrixCell,
  matrixKernel,
  matrixRequirements,
} from '../../../src/report/matrix.ts';
import { finalizeRun, type Run } from '../../../src/report/model.ts';
import { renderMatrixHtml, renderMatrixMarkdown } from '../../../src/report/render-matrix.ts';
import { NASTY, sampleRun } from '../report/sample-run.ts';

/** A run on one kernel: nodeport in two modes, NP-002 failing in DSR when `broken`. */
function kernelRun(release: string, broken: boolean): Run {
  const base = sampleRun();
  const req = (id: string, verdict: 'conformant' | 'non-conformant') => ({
    id,
    statement: `statement of ${id}`,
    verdict,
    durationMs: 10,
    evidence: [],
  });
  const pass = (serviceMode: 'Tunnel' | 'DSR', bad: boolean) => ({
    mode: { dataplane: 'bpf' as const, serviceMode },
    startedAt: base.startedAt,
    durationMs: 1000,
    verdict: 'conformant' as const,
    problems: [],
    areas: [
      {
        name: 'nodeport',
        verdict: 'conformant' as const,
        problems: [],
        requirements: [req('NP-001', 'conformant'), req('NP-002', bad ? 'non-conformant' : 'conformant')],
      },
    ],
  });
  return finalizeRun({
    ...base,
    environment: {
      ...base.environment,
      kernel: { ...base.environment.kernel, release },
      features: [
        {
          name: 'bpf_skb_set_tunnel_key at the dataplane’s key size',
          state: broken ? 'no' : 'yes',
          detail: NASTY,
        },
      ],
    },
    passes: [pass('Tunnel', false), pass('DSR', broken)],
  });
}

function sample(): KernelMatrix {
  return buildKernelMatrix({
    id: 'kernels-abc123',
    startedAt: '2025-01-01T00:00:00.000Z',
    endedAt: '2025-01-01T00:20:00.000Z',
    floor: { bpf: '5.10', guide: '5.3' },
    argv: ['run', '--kernel', '5.10,6.1,4.19,host'],
    modes: [
      { dataplane: 'bpf', serviceMode: 'Tunnel' },
      { dataplane: 'bpf', serviceMode: 'DSR' },
    ],
    kernels: [
      matrixKernel(
        {
          label: '5.10',
          source: 'Debian package',
          where: 'vm',
          accel: 'tcg',
          accelDetail: 'KVM could not boot it',
          timeScale: { factor: 11.2, source: 'measured', measuredMs: 784, referenceMs: 70 },
          durationMs: 600_000,
          reportDir: '5.10',
        },
        kernelRun('5.10.0-46-amd64', true),
      ),
      matrixKernel(
        { label: '6.1', where: 'vm', durationMs: 1, reportDir: '6.1' },
        kernelRun('6.1.0-57-amd64', false),
      ),
      matrixKernel({
        label: '4.19',
        where: 'vm',
        durationMs: 5000,
        error: `kernel 4.19.0 lacks Linux 5.10 or later ${NASTY}`,
      }),
      matrixKernel(
        { label: 'host', where: 'host', durationMs: 60_000, reportDir: 'host' },
        kernelRun('6.18.44', false),
      ),
    ],
  });
}

describe('the kernel matrix', () => {
  test('each kernel keeps its verdict; a kernel that could not run is an error, not a gap', () => {
    const m = sample();
    expect(m.kernels.map((k) => [k.label, k.verdict, k.release])).toEqual([
      ['5.10', 'non-conformant', '5.10.0-46-amd64'],
      ['6.1', 'conformant', '6.1.0-57-amd64'],
      ['4.19', 'error', undefined],
      ['host', 'conformant', '6.18.44'],
    ]);
    expect(m.verdict).toBe('non-conformant');
    expect(m.modes).toEqual(['bpf/Tunnel', 'bpf/DSR']);
  });

  test('cells: kernel x area x mode, with the tally of their requirements', () => {
    const [k510, k61, k419] = sample().kernels;
    expect(matrixCell(k510!, 'nodeport', 'bpf/Tunnel')).toEqual({
      verdict: 'conformant',
      conformant: 2,
      total: 2,
    });
    expect(matrixCell(k510!, 'nodeport', 'bpf/DSR')).toEqual({
      verdict: 'non-conformant',
      conformant: 1,
      total: 2,
    });
    expect(matrixCell(k61!, 'nodeport', 'bpf/DSR')?.verdict).toBe('conformant');
    expect(matrixCell(k419!, 'nodeport', 'bpf/DSR')).toBeUndefined();
    expect(matrixRequirements(sample()).map((r) => r.id)).toEqual(['NP-001', 'NP-002']);
  });

  test('Markdown: the matrix, the failing cell, the error, the time scale, the floor, links to each report', () => {
    const md = renderMatrixMarkdown(sample());
    expect(md).toContain('# Kernel matrix: ❌ non-conformant');
    expect(md).toContain('| area | 5.10 bpf/Tunnel | 5.10 bpf/DSR | 6.1 bpf/Tunnel |');
    expect(md).toMatch(/\| nodeport \| ✅ 2\/2 \| ❌ 1\/2 \| ✅ 2\/2 \| ✅ 2\/2 \| — \| — \|/);
    expect(md).toContain('bpf/ supports Linux 5.10 and later');
    expect(md).toContain('11.2 (measured: calibration 784 ms vs 70 ms on the host)');
    expect(md).toContain('VM, software emulation (TCG): KVM could not boot it');
    expect(md).toContain('[report](5.10/report.md)');
    expect(md).toContain('**4.19**: kernel 4.19.0 lacks Linux 5.10 or later');
    // Text from a kernel is never markup.
    expect(md).not.toContain('<script>');
  });

  test('HTML: self-contained, every text escaped, each kernel linked to its report', () => {
    const page = renderMatrixHtml(sample());
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page).not.toContain('<script>');
    expect(page).toContain('&lt;script&gt;');
    expect(page).toContain('<a href="5.10/report.html">report.html</a>');
    expect(page).toContain('<span class="s-no">no</span>');
    expect(page).not.toMatch(/<(link|img|script)\b/);
  });
});
