import { describe, expect, it } from 'vitest';
import { scrapeNode } from '../../../src/observe/scrape.ts';
import type { ProbeRequest, ProbeResult } from '../../../src/workload/types.ts';

const node = { name: 'dpc-worker', ip: '172.18.0.3' };

function answering(result: Partial<ProbeResult>) {
  const asked: { from: string; req: ProbeRequest }[] = [];
  const probe = async (from: string, req: ProbeRequest): Promise<ProbeResult> => {
    asked.push({ from, req });
    return { ok: true, kind: 'http', target: `${req.host}:${req.port}`, totalMs: 1, ...result };
  };
  return { probe, asked };
}

describe('scraping a node', () => {
  it('probes the endpoint from the node itself and parses the exposition', async () => {
    const { probe, asked } = answering({ status: 200, body: 'calico_bpf_connections_total 3\n' });
    const s = await scrapeNode(probe, node, 1234);
    expect(asked).toEqual([
      {
        from: 'dpc-worker',
        req: { kind: 'http', host: '172.18.0.3', port: 9091, path: '/metrics', timeoutMs: 1234 },
      },
    ]);
    expect(s).toMatchObject({ node: 'dpc-worker', url: 'http://172.18.0.3:9091/metrics' });
    expect(s.samples).toEqual([{ name: 'calico_bpf_connections_total', labels: {}, value: 3 }]);
  });

  it('says which node and URL failed, and how', async () => {
    const refused = answering({ ok: false, error: 'refused', errorMessage: 'ECONNREFUSED' });
    await expect(scrapeNode(refused.probe, node)).rejects.toThrow(
      'no metrics from dpc-worker at http://172.18.0.3:9091/metrics: refused (ECONNREFUSED)',
    );
    const broken = answering({ status: 500, body: 'cannot read the dataplane maps: gone\n' });
    await expect(scrapeNode(broken.probe, node)).rejects.toThrow(/HTTP 500: cannot read the dataplane maps/);
  });
});
