// The controller service's metrics: CSI Controller calls by operation and result with their
// durations, and the objects and bytes that clones, snapshots and restores copied server-side.
import { Counter, Histogram, Registry } from 'prom-client';
import type { MetricFamily } from './mount-endpoint.js';
import { OPERATION_BUCKETS, type CallResult } from './node-metrics.js';

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly operations: Counter<'operation' | 'result'>;
  private readonly durations: Histogram<'operation'>;
  private readonly objects: Counter;
  private readonly bytes: Counter;

  constructor() {
    const registers = [this.registry];
    this.operations = new Counter({
      name: 'bucketmount_controller_operations_total',
      help: 'CSI Controller calls by operation and result (ok or the gRPC status code name)',
      labelNames: ['operation', 'result'],
      registers,
    });
    this.durations = new Histogram({
      name: 'bucketmount_controller_operation_duration_seconds',
      help: 'Duration of CSI Controller calls',
      labelNames: ['operation'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.objects = new Counter({
      name: 'bucketmount_controller_copied_objects_total',
      help: 'Objects copied server-side by finished clones, snapshots and restores',
      registers,
    });
    this.bytes = new Counter({
      name: 'bucketmount_controller_copied_bytes_total',
      help: 'Bytes copied server-side by finished clones, snapshots and restores',
      registers,
    });
  }

  /** A finished CSI Controller call. */
  observeCall(operation: string, result: CallResult, seconds: number): void {
    this.operations.inc({ operation, result });
    this.durations.observe({ operation }, seconds);
  }

  /** A finished copy (clone, snapshot or restore). */
  copied(objects: number, bytes: number): void {
    if (objects > 0) this.objects.inc(objects);
    if (bytes > 0) this.bytes.inc(bytes);
  }

  async families(): Promise<MetricFamily[]> {
    return (await this.registry.getMetricsAsJSON()) as MetricFamily[];
  }
}
