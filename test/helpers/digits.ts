import sharp from 'sharp';
import { seededRandom } from '../../engine/ml/random.js';

/**
 * Synthetic handwritten-ish digits for training tests, drawn without fonts (none are installed
 * on CI machines): seven-segment strokes jittered per segment, then shifted, scaled, rotated,
 * with random stroke width and colours. Deterministic in (digit, seed).
 */
const SEGMENTS: Record<string, [number, number, number, number]> = {
  a: [2, 0, 18, 0],
  b: [18, 0, 18, 18],
  c: [18, 18, 18, 36],
  d: [2, 36, 18, 36],
  e: [2, 18, 2, 36],
  f: [2, 0, 2, 18],
  g: [2, 18, 18, 18],
};
const DIGITS = ['abcdef', 'bc', 'abged', 'abgcd', 'fgbc', 'afgcd', 'afgedc', 'abc', 'abcdefg', 'abcdfg'];

export function digitPng(digit: number, seed: number, size = 32): Promise<Buffer> {
  const r = seededRandom(digit * 1_000_003 + seed);
  const between = (lo: number, hi: number) => lo + (hi - lo) * r();
  const jitter = () => between(-1.5, 1.5);
  const bg = Math.round(between(0, 90));
  const fg = Math.round(between(170, 255));
  const lines = [...DIGITS[digit]!]
    .map((s) => {
      const [x1, y1, x2, y2] = SEGMENTS[s]!;
      return `<line x1="${x1 + jitter()}" y1="${y1 + jitter()}" x2="${x2 + jitter()}" y2="${y2 + jitter()}"/>`;
    })
    .join('');
  const scale = between(0.75, 1.0);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 48 48">
    <rect width="48" height="48" fill="rgb(${bg},${bg},${bg})"/>
    <g transform="translate(${24 + between(-4, 4)} ${24 + between(-3, 3)}) rotate(${between(-12, 12)}) scale(${scale}) translate(-10 -18)"
       stroke="rgb(${fg},${fg},${fg})" stroke-width="${between(2.5, 4.5)}" stroke-linecap="round" fill="none">${lines}</g>
  </svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}
