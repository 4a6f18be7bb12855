// The metric names of the observability contract (issue 17): one list for the code that registers
// them, the Grafana dashboard and alert rules (test/deploy/monitoring-promql.test.ts checks every
// PromQL expression against it) and the docs. Plain data, no logic: add a row when a metric is added.
//
// `labels` are the metric's own labels. Series of a mount process get VOLUME_LABELS added by the
// node plugin when it aggregates them; prom-client's default process metrics of a mount process
// carry MOUNT_PROCESS_PREFIX (e.g. bucketmount_mount_process_resident_memory_bytes).

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricName {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  /** mount: served by each mount process (volume labels added by the node plugin); node / controller: the plugin's own */
  readonly scope: 'mount' | 'node' | 'controller';
}

/** Labels the node plugin adds to every series it aggregates from a mount process. */
export const VOLUME_LABELS = ['volume_id', 'share', 'bucket', 'pv', 'pvc', 'namespace', 'pod'] as const;

/** Prefix of prom-client's default process metrics in a mount process. */
export const MOUNT_PROCESS_PREFIX = 'bucketmount_mount_';

export const METRICS: readonly MetricName[] = [
  // FUSE, per mount
  { name: 'bucketmount_fuse_operations_total', type: 'counter', labels: ['op'], scope: 'mount' },
  { name: 'bucketmount_fuse_operation_errors_total', type: 'counter', labels: ['op', 'errno'], scope: 'mount' },
  { name: 'bucketmount_fuse_operation_duration_seconds', type: 'histogram', labels: ['op'], scope: 'mount' },
  { name: 'bucketmount_fuse_read_bytes_total', type: 'counter', labels: [], scope: 'mount' },
  { name: 'bucketmount_fuse_written_bytes_total', type: 'counter', labels: [], scope: 'mount' },
  // S3, per mount
  { name: 'bucketmount_s3_requests_total', type: 'counter', labels: ['operation', 'outcome'], scope: 'mount' },
  { name: 'bucketmount_s3_request_duration_seconds', type: 'histogram', labels: ['operation'], scope: 'mount' },
  { name: 'bucketmount_s3_retries_total', type: 'counter', labels: ['operation'], scope: 'mount' },
  { name: 'bucketmount_s3_throttled_total', type: 'counter', labels: ['operation'], scope: 'mount' },
  { name: 'bucketmount_s3_failed_requests_last_minute', type: 'gauge', labels: [], scope: 'mount' },
  // data path, per mount
  { name: 'bucketmount_prefetch_hits_total', type: 'counter', labels: [], scope: 'mount' },
  { name: 'bucketmount_prefetch_misses_total', type: 'counter', labels: [], scope: 'mount' },
  { name: 'bucketmount_cache_hits_total', type: 'counter', labels: ['cache'], scope: 'mount' },
  { name: 'bucketmount_cache_misses_total', type: 'counter', labels: ['cache'], scope: 'mount' },
  { name: 'bucketmount_spool_bytes', type: 'gauge', labels: [], scope: 'mount' },
  { name: 'bucketmount_open_files', type: 'gauge', labels: [], scope: 'mount' },
  { name: 'bucketmount_uploads_in_flight', type: 'gauge', labels: [], scope: 'mount' },
  { name: 'bucketmount_upload_failures_total', type: 'counter', labels: [], scope: 'mount' },
  { name: 'bucketmount_writer_scans_total', type: 'counter', labels: ['result'], scope: 'mount' },
  { name: 'bucketmount_last_error_timestamp_seconds', type: 'gauge', labels: [], scope: 'mount' },
  { name: 'bucketmount_server_restarts_total', type: 'counter', labels: [], scope: 'mount' },
  { name: 'bucketmount_mount_info', type: 'gauge', labels: ['fuse_layer', 'version'], scope: 'mount' },
  // node plugin
  { name: 'bucketmount_node_operations_total', type: 'counter', labels: ['operation', 'result'], scope: 'node' },
  { name: 'bucketmount_node_operation_duration_seconds', type: 'histogram', labels: ['operation'], scope: 'node' },
  { name: 'bucketmount_node_mounts', type: 'gauge', labels: ['state'], scope: 'node' },
  { name: 'bucketmount_node_reconcile_total', type: 'counter', labels: ['outcome'], scope: 'node' },
  { name: 'bucketmount_credential_refreshes_total', type: 'counter', labels: ['result'], scope: 'node' },
  { name: 'bucketmount_node_scrape_errors_total', type: 'counter', labels: [], scope: 'node' },
  // controller
  {
    name: 'bucketmount_controller_operations_total',
    type: 'counter',
    labels: ['operation', 'result'],
    scope: 'controller',
  },
  {
    name: 'bucketmount_controller_operation_duration_seconds',
    type: 'histogram',
    labels: ['operation'],
    scope: 'controller',
  },
  { name: 'bucketmount_controller_copied_objects_total', type: 'counter', labels: [], scope: 'controller' },
  { name: 'bucketmount_controller_copied_bytes_total', type: 'counter', labels: [], scope: 'controller' },
];
