// Kubernetes Event recorder (events.k8s.io/v1, @kubernetes/client-node). record() never blocks
// and never throws: events go into a bounded queue that one worker sends to the API server; a
// full queue, an API error or a missing config drops the event (logged at debug). Like
// kubelet's recorder it deduplicates (the same object + type + reason + action + note within
// `seriesWindowMs` raises the existing Event's series count with a PATCH instead of creating a
// new Event; repeats while a PATCH is queued only raise the count it will send) and rate-limits
// (a token bucket per object: `burst` writes, then one per `refillMs`). Notes are redacted and
// bounded (event-note.ts). events.k8s.io/v1 rather than core/v1: it is the current API, its
// reportingController/reportingInstance/action fields and its series are what we fill in, and
// `kubectl describe` and `kubectl get events` show these Events like any other.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { settleWithin } from '../util/deadline.js';
import { SeriesCache, TokenBuckets, type SeriesEntry } from './event-limits.js';
import { checkEventWord, eventName, eventNote } from './event-note.js';
import type { EventReason, ObjectRef } from './event-reasons.js';

export interface EventInput {
  regarding: ObjectRef;
  /** A second object the event is about (e.g. the PV of a PVC). */
  related?: ObjectRef;
  type: 'Normal' | 'Warning';
  reason: EventReason;
  /** What the driver was doing, UpperCamelCase (e.g. NodePublishVolume). */
  action: string;
  /** Free text; redacted, made one line and cut to 1 kB. */
  note: string;
}

export interface EventRecorder {
  /** Queue an event; returns at once, whatever happens to it. */
  record(e: EventInput): void;
  /** Resolves when everything queued so far was sent or dropped (tests, shutdown). */
  flush(): Promise<void>;
  /** Flush (bounded by timeoutMs) and stop accepting events. */
  close(timeoutMs?: number): Promise<void>;
}

/** Records nothing (events off, tests, the demo). */
export const noopEventRecorder: EventRecorder = {
  record() {},
  flush: async () => {},
  close: async () => {},
};

export interface EventRecorderOptions {
  /** Explicit config, or a loader (default: in-cluster, else $KUBECONFIG; see service-account.ts). */
  kubeConfig: KubeConfig | (() => Promise<KubeConfig>);
  /** reportingController: the driver name. */
  controller: string;
  /** reportingInstance: driver name + node id (event-note.ts reportingInstance). */
  instance: string;
  logger?: Logger;
  now?: () => number;
  /** Events waiting to be sent at most (default 256); more are dropped. */
  queueSize?: number;
  /** A repeat within this time counts on the existing Event (default 10 min). */
  seriesWindowMs?: number;
  /** Token bucket per object: burst (default 25) and refill period (default 5 min), as kubelet's. */
  burst?: number;
  refillMs?: number;
  /** Bound for one API request (default 10 s). */
  requestTimeoutMs?: number;
}

type Job =
  { op: 'create'; key: string; s: SeriesEntry; body: EventBody } | { op: 'patch'; key: string; s: SeriesEntry };

/** An events.k8s.io/v1 Event as the recorder creates it. */
export interface EventBody {
  apiVersion: 'events.k8s.io/v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  type: string;
  note: string;
  regarding: ObjectRef;
  related?: ObjectRef;
}

/** RFC 3339 with microseconds (the API's MicroTime). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** What the worker calls (the API, or a test double). */
interface EventApi {
  create(namespace: string, body: EventBody): Promise<void>;
  patchSeries(namespace: string, name: string, count: number, lastObservedMs: number): Promise<void>;
}

/** An HTTP status from a failed API call, if it had one. */
function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

async function clientNodeApi(kc: KubeConfig): Promise<EventApi> {
  const lib = await import('@kubernetes/client-node');
  const api = kc.makeApiClient(lib.EventsV1Api);
  const merge = lib.setHeaderOptions('Content-Type', lib.PatchStrategy.MergePatch);
  return {
    async create(namespace, body) {
      // The body is plain JSON: MicroTime strings go through the serializer untouched.
      await api.createNamespacedEvent({
        namespace,
        body: body as unknown as import('@kubernetes/client-node').EventsV1Event,
      });
    },
    async patchSeries(namespace, name, count, lastObservedMs) {
      await api.patchNamespacedEvent(
        { namespace, name, body: { series: { count, lastObservedTime: microTime(lastObservedMs) } } },
        merge,
      );
    },
  };
}

export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  return new QueuedEventRecorder(opts);
}

class QueuedEventRecorder implements EventRecorder {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly queue: Job[] = [];
  private readonly queueSize: number;
  private readonly series: SeriesCache;
  private readonly buckets: TokenBuckets;
  private readonly timeoutMs: number;
  private api: Promise<EventApi | undefined> | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private seq = 0;
  /** Events dropped (full queue, rate limit, API errors): logged at debug. */
  dropped = 0;

  constructor(private readonly opts: EventRecorderOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'events' });
    this.now = opts.now ?? Date.now;
    this.queueSize = opts.queueSize ?? 256;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.series = new SeriesCache({ windowMs: opts.seriesWindowMs ?? 10 * 60_000, maxKeys: 4096, now: this.now });
    this.buckets = new TokenBuckets({
      burst: opts.burst ?? 25,
      refillMs: opts.refillMs ?? 5 * 60_000,
      maxKeys: 4096,
      now: this.now,
    });
  }

  record(e: EventInput): void {
    try {
      this.recordOrThrow(e);
    } catch (err) {
      this.drop('event refused', e, err);
    }
  }

  private recordOrThrow(e: EventInput): void {
    if (this.closed) return;
    checkEventWord('reason', e.reason);
    checkEventWord('action', e.action);
    const note = eventNote(e.note);
    const r = e.regarding;
    const objectKey = `${r.kind}/${r.namespace ?? ''}/${r.name}/${r.uid ?? ''}`;
    const key = JSON.stringify([objectKey, e.type, e.reason, e.action, note, e.related ?? null]);
    const now = this.now();
    const live = this.series.live(key);
    if (live) {
      live.count++;
      live.lastMs = now;
      if (live.patchQueued) return;
      if (!this.buckets.take(objectKey)) return this.drop('rate limited (repeat counted locally)', e);
      live.patchQueued = true;
      this.enqueue({ op: 'patch', key, s: live }, e);
      return;
    }
    if (!this.buckets.take(objectKey)) return this.drop('rate limited', e);
    const namespace = r.namespace ?? 'default';
    const s: SeriesEntry = {
      name: eventName(r.name, now, this.seq++),
      namespace,
      count: 1,
      firstMs: now,
      lastMs: now,
      patchQueued: false,
    };
    const body: EventBody = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: s.name, namespace },
      eventTime: microTime(now),
      reportingController: this.opts.controller,
      reportingInstance: this.opts.instance,
      action: e.action,
      reason: e.reason,
      type: e.type,
      note,
      regarding: r,
      ...(e.related ? { related: e.related } : {}),
    };
    this.series.set(key, s);
    this.enqueue({ op: 'create', key, s, body }, e);
  }

  private drop(why: string, e: EventInput, err?: unknown): void {
    this.dropped++;
    this.log.debug(`event not sent: ${why}`, {
      reason: e.reason,
      object: `${e.regarding.kind} ${e.regarding.namespace ?? ''}/${e.regarding.name}`,
      ...(err ? { error: (err as Error).message } : {}),
    });
  }

  private enqueue(job: Job, e: EventInput): void {
    if (this.queue.length >= this.queueSize) {
      if (job.op === 'create') this.series.delete(job.key, job.s);
      else job.s.patchQueued = false;
      return this.drop('queue full', e);
    }
    this.queue.push(job);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  private getApi(): Promise<EventApi | undefined> {
    this.api ??= (async () => {
      try {
        const kc = typeof this.opts.kubeConfig === 'function' ? await this.opts.kubeConfig() : this.opts.kubeConfig;
        return await clientNodeApi(kc);
      } catch (err) {
        this.log.debug('no Kubernetes API for events; events are dropped', { error: (err as Error).message });
        return undefined;
      }
    })();
    return this.api;
  }

  private async drain(): Promise<void> {
    // One job at a time, in order: a series' create always precedes its patches.
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      const api = await this.getApi();
      if (!api) {
        this.dropped++;
        continue;
      }
      try {
        await this.withTimeout(this.send(api, job));
      } catch (err) {
        this.dropped++;
        if (job.op === 'create') this.series.delete(job.key, job.s);
        this.log.debug('sending event failed', {
          op: job.op,
          event: `${job.s.namespace}/${job.s.name}`,
          status: httpStatus(err),
          error: (err as Error).message?.slice(0, 300),
        });
      }
    }
  }

  private async send(api: EventApi, job: Job): Promise<void> {
    if (job.op === 'create') {
      try {
        await api.create(job.s.namespace, job.body);
      } catch (err) {
        if (httpStatus(err) !== 409) throw err; // already there: a retried create
      }
      return;
    }
    job.s.patchQueued = false;
    try {
      await api.patchSeries(job.s.namespace, job.s.name, job.s.count, job.s.lastMs);
    } catch (err) {
      // The Event expired (the API server keeps Events about an hour) or its create failed: forget the series.
      if (httpStatus(err) === 404) this.series.delete(job.key, job.s);
      throw err;
    }
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    return settleWithin(p, this.timeoutMs, (): never => {
      throw new Error(`no answer within ${this.timeoutMs} ms`);
    });
  }

  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(timeoutMs = 5_000): Promise<void> {
    this.closed = true;
    await settleWithin(this.flush(), timeoutMs, () => undefined);
  }
}
