import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
  const shoot = (html: string, width: number, extra: string[]) =>
    spawnSync(
      chromium!,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        `--window-size=${width},1400`,
        ...extra,
        `file://${html}`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
  for (const width of [1024, 1920]) {
    test(`the HTML page at ${width} px: every region rendered, the map scaled to fit, the panel not squeezed`, {
      skip: chromium ? undefined : 'no Chromium here (.ci/run installs Debian’s chromium)',
    }, () => {
      const dir = mkdtempSync(join(tmpdir(), 'sigframe-map-'));
      const html = join(dir, 'spr.html');
      assert.equal(cli('map', '--profile', 'intel-sapphire-rapids', '--amx', 'used', '--html', html).code, 0);
      const png = join(dir, 'spr.png');
      const shot = shoot(html, width, [`--screenshot=${png}`]);
      assert.equal(shot.status, 0, shot.stderr);
      const dom = shoot(html, width, ['--dump-dom']);
      assert.match(dom.stdout, /data-regions="20"/, 'the page script ran over all 20 regions');
      // The layout, measured in the page once the panel holds the longest register dump (hovered).
      const page = readFileSync(html, 'utf8');
      // The panel's widest size, as the page's own CSS sets it beside the map.
      const PANEL_MAX = Number(/clamp\(\d+px,\d+vw,(\d+)px\)/.exec(page)?.[1]);
      assert.ok(PANEL_MAX > 0, 'the page sizes the panel with clamp()');
      const probe = join(dir, 'probe.html');
      writeFileSync(
        probe,
        page.replace(
          '</body>',
          `<script>
const longest = [...document.querySelectorAll('.region')].sort((a, b) => regions[b.dataset.index].values?.length - regions[a.dataset.index].values?.length || 0)[0];
longest.dispatchEvent(new MouseEvent('mouseenter'));
const panel = document.getElementById('panel');
// A register dump as long as the widest (Hi16_ZMM), to see how the panel wraps it.
panel.textContent += Array.from({ length: 16 }, (_, i) => 'zmm' + (16 + i) + ' 0x' + 'f'.repeat(128)).join('\\n');
const p = panel.getBoundingClientRect();
const s = document.querySelector('#map svg').getBoundingClientRect();
document.title = 'layout ' + [innerWidth, innerHeight, document.documentElement.scrollWidth, Math.round(s.left), Math.round(s.width), Math.round(p.left), Math.round(p.top), Math.round(p.width), Math.round(p.height), Math.round(s.bottom)].join(' ');
</script></body>`,
        ),
      );
      const m = /<title>layout ([\d -]+)<\/title>/.exec(shoot(probe, width, ['--dump-dom']).stdout);
      assert.ok(m, 'the probe script wrote the layout into the title');
      const [inner, innerH, scroll, svgLeft, svgW, panelLeft, panelTop, panelW, panelH, svgBottom] = m[1]!
        .split(' ')
        .map(Number);
      assert.equal(inner, width, 'the page is laid out at the window width');
      assert.ok(scroll! <= inner!, `no horizontal scrolling (content ${scroll} px wide in ${inner})`);
      assert.ok(
        svgLeft! >= 0 && svgLeft! + svgW! <= inner!,
        `the map (${svgW} px at ${svgLeft}) fits the window`,
      );
      assert.ok(
        svgW! >= Math.min(1160, inner! - 32 - 16 - PANEL_MAX) - 1,
        `the map uses the width it has (${svgW} px)`,
      );
      assert.ok(panelW! >= 240, `the panel is ${panelW} px wide, not squeezed`);
      assert.ok(
        panelTop! >= 0 && panelTop! + panelH! <= innerH!,
        `the panel (${panelTop}..${panelTop! + panelH!}) is in the ${innerH} px window`,
      );
      if (width >= 1280) assert.ok(panelLeft! >= svgLeft! + svgW!, 'wide windows: the panel beside the map');
      else
        assert.ok(
          panelTop! >= svgBottom! || panelTop! + panelH! === innerH,
          'narrow windows: the panel below the map, or at the foot of the window',
        );
      const img = readPng(readFileSync(png));
      assert.equal(img.width, width);
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
  }
});
