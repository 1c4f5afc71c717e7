import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import type { BuiltFrame } from '../frame/build.js';
import { buildFrame } from '../frame/build.js';
import type { DecodedFrame } from '../frame/decode.js';
import { frameLayout } from '../frame/layout.js';
import { sampleState } from '../frame/sample.js';
import type { SignalState } from '../frame/state.js';
import type { FrameTarget } from '../frame/target.js';
import { frameTarget } from '../frame/target.js';
import type { KernelChoice } from '../kernel/eras.js';
import type { AmxState } from '../kernel/task.js';
import { pagingOf, userRangeError, userSpace } from '../kernel/uaccess.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { toJson } from '../schema/json.js';
import { layoutOf } from '../schema/layout.js';

/** Where sampleState() puts things below --top: its alt stack's size, and the interrupted sp below that. */
const SAMPLE_ALTSTACK_SIZE = 1n << 16n;
const SAMPLE_SP_GAP = 1n << 20n;

/**
 * `sigframe map`: a frame as the regions of the stack it occupies, from the top down — slack,
 * MAGIC2, each XSAVE component, the header, the legacy region's parts, the FSAVE header, the gap,
 * the frame struct's members — with addresses, offsets below the top and whether the kernel wrote
 * them. Derived from the builder's placement and written mask; renderers only draw.
 */
export type RegionKind =
  | 'redzone'
  | 'slack'
  | 'magic2'
  | 'component'
  | 'hole'
  | 'header'
  | 'legacy'
  | 'reserved'
  | 'sw_reserved'
  | 'fsave'
  | 'gap'
  | 'struct';

export interface MapRegion {
  readonly name: string;
  readonly kind: RegionKind;
  readonly start: bigint;
  readonly size: number;
  /** Bytes from the region's end up to the top. */
  readonly below_top: number;
  readonly written: 'all' | 'none' | 'part';
  /** Register values (decoded frames), shown on hover in HTML. */
  readonly values?: string;
}

export interface FrameMap {
  readonly title: string;
  readonly top: bigint;
  readonly frame: bigint;
  readonly regions: readonly MapRegion[];
}

/** The map of a state's frame (a decoded one's register values shown where it gives them). */
export function stateMap(
  state: SignalState,
  t: FrameTarget,
  title: string,
  decoded?: DecodedFrame,
): FrameMap {
  return frameMap(buildFrame(state, t), t, title, decoded);
}

/**
 * The map of a frame with every register zero: where each part of a kind's frames goes for a
 * CPU, kernel and AMX state.
 */
export function sampleMap(
  kind: FrameKindName,
  profile: Profile,
  profileRef: string,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
  top?: bigint,
): FrameMap {
  const t = frameTarget(kind, profile, kernel, config, amx);
  if (top !== undefined) checkSampleTop(top, t, profile);
  const title = `${t.kind} frame, ${profile.file.title}, ${kernel.label}, AMX ${amx}`;
  return frameMap(buildFrame(sampleState(t, profileRef, top), t), t, title);
}

/**
 * --top of a sample frame: sampleState() puts a 64 KiB alt stack below it and the interrupted sp
 * 1 MiB below that, and all of it must be user memory of the task (userRangeError()).
 */
function checkSampleTop(top: bigint, t: FrameTarget, profile: Profile): void {
  const below = SAMPLE_ALTSTACK_SIZE + SAMPLE_SP_GAP;
  const space = userSpace(frameKinds[t.kind].abi, t.config.bits, pagingOf(profile.cpuid));
  const e = userRangeError(
    '--top',
    top,
    top - below,
    below,
    `the sample's 64 KiB alt stack and the interrupted stack 1 MiB below it`,
    space,
  );
  if (e) throw e;
}

export function frameMap(b: BuiltFrame, t: FrameTarget, title: string, decoded?: DecodedFrame): FrameMap {
  const kind = frameKinds[t.kind];
  const regions: MapRegion[] = [];
  const add = (name: string, k: RegionKind, start: bigint, size: number, values?: unknown) => {
    if (size <= 0) return;
    const from = Number(start - b.address);
    const slice = b.written.subarray(Math.max(0, from), Math.max(0, from + size));
    const ones = slice.reduce((n, x) => n + x, 0);
    regions.push({
      name,
      kind: k,
      start,
      size,
      below_top: Number(b.top - start) - size,
      written: ones === 0 ? 'none' : ones === slice.length ? 'all' : 'part',
      ...(values === undefined ? {} : { values: toJson(values) }),
    });
  };
  const p = b.placement;
  // The frame struct, member by member.
  const sl = layoutOf(kind.struct, t.model);
  let cursor = 0;
  for (const f of sl.fields) {
    if (f.offset > cursor)
      add(`${kind.struct.name} padding`, 'gap', b.address + BigInt(cursor), f.offset - cursor);
    add(
      `${kind.struct.name}.${f.name}`,
      f.node.kind === 'pad' ? 'gap' : 'struct',
      b.address + BigInt(f.offset),
      f.size,
    );
    cursor = f.offset + f.size;
  }
  if (sl.size > cursor)
    add(`${kind.struct.name} tail padding`, 'gap', b.address + BigInt(cursor), sl.size - cursor);
  const structEnd = b.address + BigInt(sl.size);
  add('gap (alignment)', 'gap', structEnd, Number(p.fpstate - structEnd));
  const l = frameLayout(t);
  add('FSAVE header (fregs_state)', 'fsave', p.fpstate, l.fsaveHeader);
  const buf = p.bufFx;
  const img = l.image;
  const at = (s: { offset: number }) => buf + BigInt(s.offset);
  const values = decoded?.registers;
  add('x87 (FP): control, status, st0–7', 'legacy', at(img.fp), img.fp.size);
  add('SSE: xmm0–15', 'legacy', at(img.sse), img.sse.size, values?.xmm);
  add('FXSAVE reserved', 'reserved', at(img.reserved), img.reserved.size);
  add(
    'sw_reserved (_fpx_sw_bytes)',
    'sw_reserved',
    at(img.swReserved),
    img.swReserved.size,
    decoded?.sw_reserved,
  );
  add(
    'XSAVE header (XSTATE_BV)',
    'header',
    at(img.header),
    img.header.size,
    decoded ? { xstate_bv: decoded.state.fpu?.xstate_bv } : undefined,
  );
  let end = img.header.offset + img.header.size;
  for (const r of img.components.values()) {
    if (r.offset > end) add('hole', 'hole', buf + BigInt(end), r.offset - end);
    const regs = decoded?.state.fpu?.components as Record<string, unknown> | undefined;
    add(`${r.name} (component ${r.nr})`, 'component', at(r), r.size, regs?.[r.name]);
    end = Math.max(end, r.offset + r.size);
  }
  if (p.magic2 !== null) {
    add('MAGIC2', 'magic2', p.magic2, 4);
    add(
      'slack (alignment)',
      'slack',
      p.magic2 + 4n,
      Number(b.top - p.magic2 - 4n) - (p.onAltstack ? 0 : kind.redZone),
    );
  }
  if (!p.onAltstack && kind.redZone > 0)
    add('red zone', 'redzone', b.top - BigInt(kind.redZone), kind.redZone);
  regions.sort((a, c) => (a.start < c.start ? 1 : a.start > c.start ? -1 : 0));
  return { title, top: b.top, frame: b.address, regions };
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const mark = { all: '█ written', none: '░ not written', part: '▒ partly written' } as const;

/** For a terminal: one line per region, top first. */
export function renderMapText(m: FrameMap): string {
  const lines = [
    `${m.title}`,
    `top ${hex(m.top)} — frame ${hex(m.frame)} (${Number(m.top - m.frame)} bytes)`,
    '',
  ];
  const w = Math.max(...m.regions.map((r) => r.name.length));
  for (const r of m.regions) {
    lines.push(
      `${hex(r.start).padStart(16)}  top-${String(r.below_top + r.size).padEnd(6)} ${String(r.size).padStart(6)} B  ${r.name.padEnd(w)}  ${mark[r.written]}`,
    );
  }
  return lines.join('\n');
}

/** Region colours: one per kind; unwritten regions are drawn pale and hatched. */
export const COLORS: Record<RegionKind, string> = {
  redzone: '#9e9e9e',
  slack: '#cfd8dc',
  magic2: '#e53935',
  component: '#1e88e5',
  hole: '#eceff1',
  header: '#8e24aa',
  legacy: '#43a047',
  reserved: '#b0bec5',
  sw_reserved: '#fb8c00',
  fsave: '#6d4c41',
  gap: '#eeeeee',
  struct: '#fdd835',
};

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** An SVG of the stack, top at the top; heights grow with the square root of the size. */
export function renderMapSvg(m: FrameMap): string {
  const width = 760;
  const hOf = (size: number) => Math.max(16, Math.round(Math.sqrt(size) * 2.2));
  let y = 56;
  const rects: string[] = [];
  for (const [i, r] of m.regions.entries()) {
    const h = hOf(r.size);
    const fill = COLORS[r.kind];
    const faded = r.written === 'none';
    rects.push(
      `<g class="region ${r.kind}" data-index="${i}" data-name="${esc(r.name)}" data-written="${r.written}">` +
        `<title>${esc(`${r.name}: ${r.size} bytes at ${hex(r.start)}, ${r.written === 'all' ? 'written' : r.written === 'none' ? 'not written by the kernel' : 'partly written'}${r.values ? `\n${r.values.slice(0, 600)}` : ''}`)}</title>` +
        `<rect x="170" y="${y}" width="380" height="${h}" fill="${fill}" fill-opacity="${faded ? 0.35 : 1}" stroke="#37474f" stroke-width="1"${faded ? ' stroke-dasharray="4 3"' : ''}/>` +
        (faded ? `<rect x="170" y="${y}" width="380" height="${h}" fill="url(#hatch)"/>` : '') +
        `<text x="560" y="${y + Math.min(h, 16) - 4}" font-size="12" font-family="monospace">${esc(r.name)} — ${r.size} B</text>` +
        `<text x="10" y="${y + Math.min(h, 16) - 4}" font-size="11" font-family="monospace" fill="#455a64">top-${r.below_top + r.size}</text>` +
        '</g>',
    );
    y += h;
  }
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width + 400}" height="${height}" viewBox="0 0 ${width + 400} ${height}">`,
    '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="8" stroke="#607d8b" stroke-width="2" stroke-opacity="0.5"/></pattern></defs>',
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-family="sans-serif" font-weight="bold">${esc(m.title)}</text>`,
    `<text x="10" y="42" font-size="13" font-family="sans-serif">alt stack top ${hex(m.top)}, frame ${hex(m.frame)}: ${Number(m.top - m.frame)} bytes</text>`,
    ...rects,
    `<text x="10" y="${height - 10}" font-size="11" font-family="sans-serif" fill="#455a64">hatched: bytes the kernel leaves as they were on the stack (INIT-skipped tiles, padding, reserved words)</text>`,
    '</svg>',
  ].join('\n');
}

/** A self-contained page: the SVG, and the hovered region's register values beside it. */
export function renderMapHtml(m: FrameMap): string {
  const data = JSON.stringify(
    m.regions.map((r) => ({ name: r.name, values: r.values ?? null, written: r.written, size: r.size })),
  );
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(m.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
/* The map scales to the width it has (viewBox, width 100%, never wider than drawn); the panel sits
   beside it from 1280 px, at least 280 px wide, and below that stays in view at the window's foot. */
*{box-sizing:border-box}
body{font-family:sans-serif;margin:16px;display:grid;grid-template-columns:minmax(0,1fr) clamp(280px,26vw,480px);gap:16px;align-items:start}
#map{min-width:0}
#map svg{display:block;width:100%;max-width:1160px;height:auto}
#panel{position:sticky;top:16px;min-width:280px;max-height:calc(100vh - 32px);overflow:auto;font-family:monospace;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
@media (max-width:1279px){
body{grid-template-columns:minmax(0,1fr)}
#panel{top:auto;bottom:0;min-width:0;max-height:40vh;background:#fff;border-top:1px solid #b0bec5;padding:8px 0}
}
.region:hover rect{stroke-width:3}
</style>
</head><body>
<div id="map">${renderMapSvg(m)}</div>
<div id="panel">Hover a region for its bytes and register values.</div>
<script>
const regions = ${data.replace(/</g, '\\u003c')};
for (const g of document.querySelectorAll('.region')) {
  g.addEventListener('mouseenter', () => {
    const r = regions[Number(g.dataset.index)];
    document.getElementById('panel').textContent = r.name + ' (' + r.size + ' bytes, ' + r.written + ')\\n' + (r.values ?? '');
  });
}
document.body.dataset.regions = String(regions.length);
</script>
</body></html>
`;
}
