import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../../src/report/render-html.ts';
import { renderJson } from '../../../src/report/render-json.ts';
import { renderMarkdown } from '../../../src/report/render-md.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { conformantRun } from './sample-run.ts';

describe('FelixConfiguration warnings in the report', () => {
  const run = conformantRun();
  run.config.warnings = ['accepted, not implemented by this dataplane: spec.bpfLogLevel'];

  it('are listed in the Markdown and HTML environment sections', () => {
    expect(renderMarkdown(run)).toContain('accepted, not implemented by this dataplane: spec.bpfLogLevel');
    expect(renderHtml(run)).toContain('accepted, not implemented by this dataplane: spec.bpfLogLevel');
  });

  it('are valid report.json', () => {
    expect(reportProblems(JSON.parse(renderJson(run)))).toEqual([]);
    expect(JSON.parse(renderJson(run)).config.warnings).toEqual(run.config.warnings);
  });
});
