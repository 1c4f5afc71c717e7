import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { COLORS } from '../src/report/map.js';
import { cli, fixture } from './support/helpers.js';
import { readPng } from './support/png.js';

const json = (r: { stdout: string }) => JSON.parse(r.stdout);

describe('sigframe map', () => {
  test('a built AMX frame: the tile region is reserved and not written; regions tile the frame exactly', () => {
    const r = cli('map', '--profile', 'intel-sapphire-rapids', '--amx', 'used', '--json');
    assert.equal(r.code, 0, r.stderr);
    const m = json(r);
    const tiles = m.regions.find((x: { name: string }) => x.name.startsWith('XTILE_DATA'));
    assert.deepEqual([tiles.size, tiles.written], [8192, 'none']);
    const magic = m.regions.find((x: { kind: string }) => x.kind === 'magic2');
    assert.equal(BigInt(m.top) - BigInt(magic.start), 64n, 'MAGIC2 64 bytes below a page-aligned top');
    const total = m.regions.reduce((n: number, x: { size: number }) => n + x.size, 0);
    assert.equal(total, Number(BigInt(m.top) - BigInt(m.frame)), 'no byte unaccounted for');
    assert.equal(total, 11528);
  });

  test('a captured frame: the kernel-unwritten regions are the capture’s own unwritten ranges', () => {
    const file = fixture('frames', 'ia32-legacy-sigusr1.json');
    const m = json(cli('map', file, '--json'));
    const info = JSON.parse(readFileSync(file, 'utf8'));
    const address = BigInt(info.address);
    const none = m.regions
      .filter((x: { written: string }) => x.written === 'none')
      .map((x: { start: string; size: number }) => [
        Number(BigInt(x.start) - address),
        Number(BigInt(x.start) - address) + x.size,
      ])
      .sort((a: number[], b: number[]) => a[0]! - b[0]!)
      .reduce((runs: number[][], r: number[]) => {
        const last = runs.at(-1);
        if (last && last[1] === r[0]) last[1] = r[1]!;
        else runs.push([...r]);
        return runs;
      }, []);
    assert.deepEqual(none, info.unwritten);
    assert.match(cli('map', file).stdout, /sigframe_ia32\.fpstate_unused\s+░ not written/);
  });

  const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find(
    (c) => spawnSync(c, ['--version']).status === 0,
  );
  test('the HTML page renders every region in headless Chromium', {
    skip: chromium ? undefined : 'no Chromium here (.ci/run installs Debian’s chromium)',
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-map-'));
    const html = join(dir, 'spr.html');
    assert.equal(cli('map', '--profile', 'intel-sapphire-rapids', '--amx', 'used', '--html', html).code, 0);
    const png = join(dir, 'spr.png');
    const flags = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      '--window-size=1160,1400',
    ];
    const shot = spawnSync(chromium!, [...flags, `--screenshot=${png}`, `file://${html}`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(shot.status, 0, shot.stderr);
    const dom = spawnSync(chromium!, [...flags, '--dump-dom', `file://${html}`], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.match(dom.stdout, /data-regions="20"/, 'the page script ran over all 20 regions');
    const img = readPng(readFileSync(png));
    const counts = new Map<string, number>();
    for (let y = 0; y < img.height; y += 2) {
      for (let x = 0; x < img.width; x += 2) {
        const [r, g, b] = img.pixel(x, y);
        const key = `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    // Written regions in their colours; the unwritten 8 KiB tile region as pale, hatched blue.
    for (const kind of ['magic2', 'component', 'header', 'sw_reserved', 'legacy', 'struct'] as const) {
      assert.ok((counts.get(COLORS[kind]) ?? 0) > 20, `${kind} (${COLORS[kind]}) is on the screen`);
    }
    const pale = [...counts.entries()].filter(([c]) => {
      const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(c.slice(i, i + 2), 16));
      return Math.abs(r! - 176) < 12 && Math.abs(g! - 213) < 12 && Math.abs(b! - 247) < 12;
    });
    assert.ok(pale.reduce((n, [, k]) => n + k, 0) > 5000, 'a large pale-blue (unwritten tile) region');
  });
});
