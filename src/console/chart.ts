import type { ActivityBucket } from '../store/console-types.ts';

const WIDTH = 720;
const HEIGHT = 200;
const LEFT = 36;
const BOTTOM = 24;
const TOP = 8;
/** Sent, delivered, failed: colours that stay apart for the common colour blindnesses (Okabe–Ito). */
const SERIES = [
  { key: 'sent', colour: '#0072B2' },
  { key: 'delivered', colour: '#009E73' },
  { key: 'failed', colour: '#D55E00' },
] as const;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * A grouped bar chart as SVG, made on the server: no script, no package, readable without colour
 * (a legend and a data table beside it). `label` names a bucket on the x axis every `labelEvery`.
 */
export function activityChart(
  buckets: readonly ActivityBucket[],
  options: { title: string; label: (at: number) => string; labelEvery: number; id: string },
): string {
  const peak = Math.max(1, ...buckets.flatMap((bucket) => [bucket.sent, bucket.delivered, bucket.failed]));
  const top = niceCeiling(peak);
  const plotWidth = WIDTH - LEFT;
  const plotHeight = HEIGHT - BOTTOM - TOP;
  const slot = plotWidth / Math.max(1, buckets.length);
  const bar = Math.max(0.5, (slot * 0.8) / SERIES.length);
  const y = (value: number) => TOP + plotHeight - (value / top) * plotHeight;
  const parts: string[] = [];
  // Counts are whole: no 0.5 tick when the peak is 1.
  for (const tick of [0, top / 2, top].filter(Number.isInteger)) {
    parts.push(`<line x1="${LEFT}" x2="${WIDTH}" y1="${y(tick)}" y2="${y(tick)}" stroke="#bbb" stroke-width="0.5"/>`);
    parts.push(`<text x="${LEFT - 4}" y="${y(tick) + 4}" text-anchor="end" font-size="10" fill="#333">${tick}</text>`);
  }
  buckets.forEach((bucket, index) => {
    const x = LEFT + index * slot + slot * 0.1;
    SERIES.forEach((series, position) => {
      const value = bucket[series.key];
      if (value > 0) {
        parts.push(
          `<rect x="${(x + position * bar).toFixed(1)}" y="${y(value).toFixed(1)}" width="${bar.toFixed(1)}" height="${(TOP + plotHeight - y(value)).toFixed(1)}" fill="${series.colour}"><title>${escapeXml(`${options.label(bucket.at)}: ${value} ${series.key}`)}</title></rect>`,
        );
      }
    });
    if (index % options.labelEvery === 0) {
      parts.push(`<text x="${(LEFT + index * slot).toFixed(1)}" y="${HEIGHT - 6}" font-size="10" fill="#333">${escapeXml(options.label(bucket.at))}</text>`);
    }
  });
  const totals = SERIES.map((series) => `${buckets.reduce((sum, bucket) => sum + bucket[series.key], 0)} ${series.key}`).join(', ');
  return [
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${options.id}-title ${options.id}-desc" preserveAspectRatio="none">`,
    `<title id="${options.id}-title">${escapeXml(options.title)}</title><desc id="${options.id}-desc">${escapeXml(`In total: ${totals}`)}</desc>`,
    ...parts,
    '</svg>',
  ].join('');
}

/** The chart's legend entries (key and colour), for the page to show beside the chart. */
export const CHART_SERIES = SERIES;

/** 1, 2, 5 × 10^n at or above `value`: axis ticks people read at a glance. */
function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].map((step) => step * magnitude).find((candidate) => candidate >= value) ?? value) as number;
}
