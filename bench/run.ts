/**
 * `npm run bench`: performance figures measured side by side in one run. Not a test: the
 * machines are shared and noisy, so figures are printed, never asserted.
 */
import { bringupSection } from './bringup.ts';
import { dsrSection } from './dsr.ts';
import { mainJobSection } from './main-job.ts';

const sections: (() => Promise<string[]>)[] = [bringupSection, dsrSection, mainJobSection];
const only = process.argv[2];

for (const section of sections) {
  if (only && !section.name.toLowerCase().startsWith(only)) continue;
  for (const line of await section()) process.stdout.write(`${line}\n`);
  process.stdout.write('\n');
}
