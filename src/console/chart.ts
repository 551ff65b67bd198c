import { counted } from '../admin.ts';
import type { ActivityBucket } from '../store/console-types.ts';

/**
 * The plot's own units: its bars are drawn in a WIDTH × HEIGHT box stretched to the chart's width (any screen's), its
 * labels apart from it in CSS pixels, so a phone's narrow chart keeps them at their size rather than squeezed with the bars.
 */
const WIDTH = 720;
const HEIGHT = 200;
const BOTTOM = 24;
/** Room above the top gridline for its label, which stands above its line. */
const TOP = 18;
/** Labels' size in CSS pixels: small print, read at a glance, at every width. */
const LABEL_PX = 11;
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
 * (a legend and a data table beside it). `label` names a bucket on the x axis every `labelEvery`; every other one of
 * those is a `minor-tick`, which a narrow screen leaves out (console.css), so that labels never run into each other.
 * Counts are written as everywhere in the console (`3,001`): axis, bars' tooltips and the totals a screen reader reads.
 */
export function activityChart(
  buckets: readonly ActivityBucket[],
  options: { title: string; label: (at: number) => string; labelEvery: number; id: string },
): string {
  const peak = Math.max(1, ...buckets.flatMap((bucket) => [bucket.sent, bucket.delivered, bucket.failed]));
  const top = niceCeiling(peak);
  const plotHeight = HEIGHT - BOTTOM - TOP;
  const slot = WIDTH / Math.max(1, buckets.length);
  const bar = Math.max(0.5, (slot * 0.8) / SERIES.length);
  const y = (value: number) => TOP + plotHeight - (value / top) * plotHeight;
  const plot: string[] = [];
  const labels: string[] = [];
  const text = (x: string, at: number, content: string, className?: string) =>
    `<text${className ? ` class="${className}"` : ''} x="${x}" y="${at}" font-size="${LABEL_PX}" fill="#333" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeXml(content)}</text>`;
  // Counts are whole: no 0.5 tick when the peak is 1.
  for (const tick of [0, top / 2, top].filter(Number.isInteger)) {
    plot.push(`<line x1="0" x2="${WIDTH}" y1="${y(tick)}" y2="${y(tick)}" stroke="#bbb" stroke-width="0.5" vector-effect="non-scaling-stroke"/>`);
    // Above its line at the left, on a white halo over any bar.
    labels.push(text('4', y(tick) - 3, counted.format(tick)));
  }
  buckets.forEach((bucket, index) => {
    const x = index * slot + slot * 0.1;
    SERIES.forEach((series, position) => {
      const value = bucket[series.key];
      if (value > 0) {
        plot.push(
          `<rect x="${(x + position * bar).toFixed(1)}" y="${y(value).toFixed(1)}" width="${bar.toFixed(1)}" height="${(TOP + plotHeight - y(value)).toFixed(1)}" fill="${series.colour}"><title>${escapeXml(`${options.label(bucket.at)}: ${counted.format(value)} ${series.key}`)}</title></rect>`,
        );
      }
    });
    if (index % options.labelEvery === 0) {
      // Where its bucket starts, as a share of the chart's width: the plot's units stretch, the label's do not.
      const minor = (index / options.labelEvery) % 2 === 1;
      labels.push(text(`${((index * slot * 100) / WIDTH).toFixed(2)}%`, HEIGHT - 6, options.label(bucket.at), minor ? 'minor-tick' : undefined));
    }
  });
  const totals = SERIES.map((series) => `${counted.format(buckets.reduce((sum, bucket) => sum + bucket[series.key], 0))} ${series.key}`).join(', ');
  return [
    `<svg class="chart" width="100%" height="${HEIGHT}" role="img" aria-labelledby="${options.id}-title ${options.id}-desc">`,
    `<title id="${options.id}-title">${escapeXml(options.title)}</title><desc id="${options.id}-desc">${escapeXml(`In total: ${totals}`)}</desc>`,
    `<svg width="100%" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" preserveAspectRatio="none">`,
    ...plot,
    '</svg>',
    ...labels,
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
