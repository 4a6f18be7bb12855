// `node dist/test/bench/metrics-cost.js [ops]`: the CPU cost the mount's metrics add to one FUSE
// request, measured without FUSE or S3 so the machine's noise matters less than in the mount
// rows: a request handler that answers at once through a fake addon, called directly (metrics
// off: the adapter is not wrapped) and through op-metrics.ts with PromMountMetrics (metrics on),
// alternating in rounds; prints ns per request for each and the difference. Not a test: no
// assertions. The mount rows (`npm run bench -- --peers ours,ours-metrics`) measure the whole.
import { PromMountMetrics } from '../../src/metrics/mount-metrics.js';
import { instrumentKernel } from '../../src/fs/kernel/op-metrics.js';
import { Op, type Fuse3Addon, type RequestHandler, type Session } from '../../src/fs/kernel/native.js';

const ops = Number(process.argv[2] ?? 1_000_000);
const session = {} as Session;
const buf = Buffer.alloc(4096);
let sink = 0;
const fake = {
  replyBuf: (_s: Session, _id: number, _b: Buffer, n: number) => ((sink += n), true),
  replyAttr: () => ((sink += 1), true),
} as unknown as Fuse3Addon;

function handlerFor(addon: () => Fuse3Addon): RequestHandler {
  return (op, id) => {
    if (op === Op.READ) addon().replyBuf(session, id, buf, 4096);
    else addon().replyAttr(session, id, new Float64Array(0), 1);
  };
}

function timeIt(h: RequestHandler): number {
  const t0 = process.hrtime.bigint();
  for (let i = 1; i <= ops; i++)
    h(i % 4 === 0 ? Op.GETATTR : Op.READ, i, 1, 0, 4096, 0, undefined, undefined, undefined);
  return Number(process.hrtime.bigint() - t0) / ops;
}

const off = handlerFor(() => fake);
let wrapped: Fuse3Addon = fake;
const k = instrumentKernel(
  fake,
  handlerFor(() => wrapped),
  new PromMountMetrics({ fuseLayer: 'fuse3', version: 'bench' }),
);
wrapped = k.addon;
const on = k.handler;
const offs: number[] = [];
const ons: number[] = [];
for (let round = 0; round < 7; round++) {
  offs.push(timeIt(off));
  ons.push(timeIt(on));
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const a = median(offs);
const b = median(ons);
console.log(
  `${ops} requests × 7 rounds (3 READ : 1 GETATTR): metrics off ${a.toFixed(0)} ns/request, on ${b.toFixed(0)} ns/request, added ${(b - a).toFixed(0)} ns (sink ${sink > 0})`,
);
