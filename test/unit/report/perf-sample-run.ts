/**
 * A run whose performance area recorded the figures the report's performance section draws:
 * throughput ratios held against the guide's claims, absolute throughput per dataplane (a bar
 * chart across passes), latency, CPU cost, and per-packet cost against the number of Services (a
 * line chart over three decades).
 */
import type { FigureEvidence, Pass, Requirement, Run } from '../../../src/report/model.ts';
import { finalizeRun } from '../../../src/report/model.ts';
import { sampleRun } from './sample-run.ts';

function figure(partial: Omit<FigureEvidence, 'kind'>): FigureEvidence {
  return { kind: 'figure', ...partial };
}

function perf(partial: Partial<Requirement> & Pick<Requirement, 'id' | 'statement'>): Requirement {
  return { verdict: 'conformant', durationMs: 42_000, evidence: [], ...partial };
}

const THROUGHPUT = 'throughput, Gbit/s';
const PER_PACKET = 'per-packet cost, ns';

function bpfArea(mode: 'Tunnel' | 'DSR'): Pass['areas'][number] {
  const dsr = mode === 'DSR';
  return {
    name: 'performance',
    verdict: 'conformant',
    problems: [],
    requirements: [
      perf({
        id: 'PERF-001',
        statement: 'NodePort throughput is at least that of the iptables dataplane',
        evidence: [
          figure({
            name: `throughput NodePort client->pod, eBPF ${mode} / iptables`,
            value: dsr ? 1.31 : 1.18,
            spread: 0.04,
            better: 'higher',
            claim: '10-25 % more throughput than iptables',
          }),
          figure({
            name: `throughput NodePort client->pod, eBPF ${mode}`,
            value: dsr ? 10.4 : 9.41,
            unit: 'Gbit/s',
            spread: dsr ? 0.2 : 0.12,
            better: 'higher',
            chart: { title: THROUGHPUT, series: `eBPF ${mode}` },
          }),
        ],
      }),
      perf({
        id: 'PERF-002',
        statement: 'the eBPF dataplane spends less CPU per byte than iptables',
        evidence: [
          figure({
            name: `CPU seconds per GB, eBPF ${mode}`,
            value: dsr ? 0.52 : 0.61,
            unit: 's/GB',
            spread: 0.03,
            better: 'lower',
            claim: 'lower CPU usage than iptables',
            chart: { title: 'CPU per GB moved, s', series: `eBPF ${mode}` },
          }),
        ],
      }),
      perf({
        id: 'PERF-003',
        statement: 'request latency through a NodePort is no worse than with iptables',
        verdict: dsr ? 'non-conformant' : 'conformant',
        evidence: [
          figure({
            name: `latency p50, eBPF ${mode}`,
            value: dsr ? 61 : 48,
            unit: 'µs',
            spread: 2,
            better: 'lower',
            claim: 'lower latency than iptables',
          }),
          figure({
            name: `latency p99, eBPF ${mode}`,
            value: dsr ? 212 : 131,
            unit: 'µs',
            spread: 9,
            better: 'lower',
            claim: 'lower latency than iptables',
          }),
        ],
      }),
      ...(dsr
        ? []
        : [
            perf({
              id: 'PERF-004',
              statement: 'per-packet cost stays flat as Services grow, where iptables grows with them',
              evidence: [10, 1000, 10_000].flatMap((services, i) => [
                figure({
                  name: `per-packet cost at ${services} Services, eBPF`,
                  value: [92, 95, 101][i] ?? 0,
                  unit: 'ns',
                  spread: 3,
                  better: 'lower',
                  claim: 'constant-time service lookup',
                  chart: { title: PER_PACKET, series: 'eBPF', x: services, xLabel: 'Services' },
                }),
                figure({
                  name: `per-packet cost at ${services} Services, iptables`,
                  value: [118, 1240, 11_800][i] ?? 0,
                  unit: 'ns',
                  spread: [4, 30, 260][i] ?? 0,
                  better: 'lower',
                  chart: { title: PER_PACKET, series: 'iptables', x: services, xLabel: 'Services' },
                }),
              ]),
            }),
          ]),
    ],
  };
}

/** The sample run with a performance area in each pass; the iptables pass gives the baseline. */
export function perfRun(): Run {
  const base = sampleRun();
  const [tunnel, dsr, iptables] = base.passes;
  if (!tunnel || !dsr || !iptables) throw new Error('the sample run has three passes');
  const baseline: Pass['areas'][number] = {
    name: 'performance',
    verdict: 'conformant',
    problems: [],
    requirements: [
      perf({
        id: 'PERF-001',
        statement: 'NodePort throughput is at least that of the iptables dataplane',
        evidence: [
          figure({
            name: 'throughput NodePort client->pod, iptables',
            value: 7.95,
            unit: 'Gbit/s',
            spread: 0.15,
            better: 'higher',
            chart: { title: THROUGHPUT, series: 'iptables' },
          }),
          figure({
            name: 'connections per second, iptables',
            value: 18_400,
            unit: 'conn/s',
            spread: 500,
            better: 'higher',
          }),
        ],
      }),
      perf({
        id: 'PERF-002',
        statement: 'the eBPF dataplane spends less CPU per byte than iptables',
        evidence: [
          figure({
            name: 'CPU seconds per GB, iptables',
            value: 0.83,
            unit: 's/GB',
            spread: 0.04,
            better: 'lower',
            chart: { title: 'CPU per GB moved, s', series: 'iptables' },
          }),
        ],
      }),
    ],
  };
  return finalizeRun({
    ...base,
    passes: [
      { ...tunnel, areas: [...tunnel.areas, bpfArea('Tunnel')] },
      { ...dsr, areas: [...dsr.areas, bpfArea('DSR')] },
      { ...iptables, areas: [...iptables.areas, baseline] },
    ],
  });
}

/** A run without a single figure. */
export function figureFreeRun(): Run {
  const base = sampleRun();
  return finalizeRun({
    ...base,
    passes: base.passes.map((p) => ({
      ...p,
      areas: p.areas.map((a) => ({
        ...a,
        requirements: a.requirements.map((r) => ({
          ...r,
          evidence: r.evidence.filter((e) => e.kind !== 'figure'),
        })),
      })),
    })),
  });
}
