#!/usr/bin/env node
// `csi-driver`: the bucketmount CSI plugin. Serves Identity plus the Controller service
// (--mode controller), the Node service (--mode node) or both (--mode all) on a unix socket.
// Node mode first takes an exclusive lock on its state dir (one plugin per state dir; a second
// instance waits up to --lock-timeout, then exits), then reconciles recorded mounts (adopting
// live ones) and never unmounts on shutdown: the FUSE mount processes outlive the plugin.
// SIGTERM/SIGINT stop it gracefully.
import { chmodSync, constants as fsConstants, existsSync, mkdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, quietSdkNodeVersionWarning } from '../src/log.js';
import { ControllerService } from '../src/csi/controller.js';
import { IdentityService, PLUGIN_NAME, pluginVersion, type Readiness } from '../src/csi/identity.js';
import { cacheRootFor, NodeService } from '../src/csi/node.js';
import {
  DEFAULT_INLINE_AUTH_SOURCES,
  parseInlineAuthSources,
  type AuthenticationSource,
} from '../src/credentials/resolve.js';
import { parseBoolValue, parseEndpoint, parseRegion, type S3Settings } from '../src/csi/params.js';
import { socketPathOf, startCsiServer, type ServedServices } from '../src/csi/server.js';
import { startKubeletRegistration } from '../src/csi/kubelet-registration.js';
import {
  createProcessMounter,
  DEFAULT_MOUNT_COMMAND,
  type ProcessMounter,
  type ReconcileOutcome,
} from '../src/mounter/process-mounter.js';
import { lockStateDir } from '../src/mounter/state-lock.js';
import { driverEventRecorder, eventsEnabled } from '../src/k8s/event-config.js';
import { NodeEvents } from '../src/k8s/node-events.js';
import { ControllerEvents } from '../src/k8s/controller-events.js';
import { createClaimLookup } from '../src/k8s/volume-claim.js';
import { defaultKubeConfig } from '../src/k8s/service-account.js';
import { DEFAULT_STATE_DIR } from '../src/mounter/state-store.js';
import { healthThresholdsFrom, type HealthThresholds } from '../src/mounter/health.js';
import { checkLegacyFuseLayer } from '../src/mount-contract/options.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { codeName } from '../src/csi/errors.js';
import { NodeMetrics, exposition } from '../src/metrics/node-metrics.js';
import { ControllerMetrics } from '../src/metrics/controller-metrics.js';
import type { MetricFamily } from '../src/metrics/mount-endpoint.js';
import { parseMetricsAddress, startMetricsServer, type MetricsAddress } from '../src/metrics/http-server.js';

/** Default --metrics-address: loopback only; a deployment opts in to the pod network (docs/metrics.md). */
const DEFAULT_METRICS_ADDRESS = { node: '127.0.0.1:9810', controller: '127.0.0.1:9811' } as const;

const HELP = `usage: csi-driver [flags]

  --mode <node|controller|all>     which CSI services to serve (default all)
  --endpoint <unix:///path.sock>   gRPC socket (default $CSI_ENDPOINT or unix:///csi/csi.sock)
  --node-id <id>                   node id reported by NodeGetInfo (default $NODE_ID or the hostname)
  --state-dir <dir>                mount state of the node plugin (default $BUCKETMOUNT_STATE_DIR or /var/lib/bucketmount)
  --lock-timeout <seconds>         node mode: how long to wait for the state dir lock another csi-driver
                                   holds before exiting (default $BUCKETMOUNT_LOCK_TIMEOUT or 300; 0 = exit at once)
  --log-level <error|warn|info|debug>  (default $LOG_LEVEL or info)
  --default-endpoint <url>         S3 endpoint when neither volume nor secret names one (default $BUCKETMOUNT_DEFAULT_ENDPOINT; unset = AWS)
  --default-region <region>        region when neither volume nor secret names one (default $BUCKETMOUNT_DEFAULT_REGION or $AWS_REGION)
  --default-force-path-style <true|false>  path-style addressing default (default $BUCKETMOUNT_DEFAULT_FORCE_PATH_STYLE; unset = true for custom endpoints)
  --snapshot-wait <seconds>        how long CreateSnapshot waits for its copy before answering
                                   ready_to_use=false (default $BUCKETMOUNT_SNAPSHOT_WAIT or 20)
  --inline-auth-sources <list>     credential sources inline (ephemeral) volumes may use: comma list of pod, secret;
                                   "" = none (default $BUCKETMOUNT_INLINE_AUTH_SOURCES or pod); driver is never allowed
  --allowed-endpoints <urls>       comma list of S3 endpoints volumes may use besides --default-endpoint; when set it
                                   restricts every volume (default $BUCKETMOUNT_ALLOWED_ENDPOINTS; unset = volumes with
                                   their own credentials may use any endpoint, driver credentials only the default)
  --cache-root <dir>               where data caches live, one 0700 dir per mount (default <state-dir>/cache)
  --cache-max-size <MiB>           data cache bound per mount, LRU (default 10% of the cache-root file system)
  --write-back-max-size <MiB>      ceiling of pending --write-back uploads per mount (default 256; docs/write-back.md)
  --write-back-max-files <n>       ceiling of files with a pending --write-back upload per mount (default 1000)
  --host-proc <dir>                the node's procfs as mounted in this container (e.g. /host/proc), read by mount
                                   processes to tell a forked child's close from the writer's last one (default /proc)
  --fuse-layer fuse3               deprecated, no effect (also $BUCKETMOUNT_FUSE_LAYER): fuse3 is the only FUSE layer
                                   (docs/fuse3.md); fuse-native was removed and is refused
  --supervise-mounts[=true|false]  every mount process holds its FUSE connection and restarts a crashed
                                   server on it, so pods keep reading through a crash (default true;
                                   --supervise-mounts=false or $BUCKETMOUNT_SUPERVISE_MOUNTS=false turns it off)
  --fd-keeper <socket>             the node's fd keeper (\`bucketmount fd-keeper\`): supervised mounts keep a duplicate
                                   of their FUSE connection there, so a restart of this plugin's container does not
                                   end them; reconcile resumes them (docs/architecture.md; default: none)
  --upgrade-mounts[=true|false]    after reconcile, hand every supervised mount whose server runs another plugin
                                   version over to a server started from the binary on disk (default true;
                                   $BUCKETMOUNT_UPGRADE_MOUNTS)
  --kubelet-registration-path <sock>  node/all mode: register with kubelet by serving its plugin-registration
                                   API on this socket, in kubelet's plugins_registry directory (e.g.
                                   /var/lib/kubelet/plugins_registry/bucketmount.csi.io-reg.sock); unset = no registration
  --kubelet-csi-endpoint <path>    the --endpoint socket as kubelet sees it, announced at registration
                                   (default the --endpoint path)
  --events <true|false>            record Kubernetes Events (MountFailed on pods, ProvisioningFailed on PVCs, ...;
                                   docs/events.md) (default $BUCKETMOUNT_EVENTS; unset = on when in-cluster
                                   config or $KUBECONFIG is found)
  --health-s3-failures-per-minute <n>  NodeGetVolumeStats reports a serving mount abnormal (degraded) when n or
                                   more of its S3 requests failed in the last minute (default
                                   $BUCKETMOUNT_HEALTH_S3_FAILURES_PER_MINUTE or 10; docs/volume-health.md)
  --health-credential-expiry-minutes <m>  ... or when its temporary credentials expire within m minutes and
                                   their refresh was due but did not happen (default
                                   $BUCKETMOUNT_HEALTH_CREDENTIAL_EXPIRY_MINUTES or 5)
  --metrics-address <[host]:port|off>  serve Prometheus metrics at http://<address>/metrics (default
                                   $BUCKETMOUNT_METRICS_ADDRESS or ${DEFAULT_METRICS_ADDRESS.node} in node/all mode,
                                   ${DEFAULT_METRICS_ADDRESS.controller} in controller mode: loopback only; ":9810" = every
                                   interface of the pod; off = no metrics, and mount processes keep none)
  --list-volumes                   serve ListVolumes (needs S3 credentials of the controller's own, e.g.
                                   AWS_* env or IRSA, for the default endpoint; $BUCKETMOUNT_LIST_VOLUMES=true)
  --version                        print the version
  -h, --help                       this help`;

function fail(msg: string): never {
  process.stderr.write(`csi-driver: error: ${msg}\n`);
  process.exit(2);
}

function parseFlags(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.map(bareBooleanFlag),
      options: {
        mode: { type: 'string' },
        endpoint: { type: 'string' },
        'node-id': { type: 'string' },
        'state-dir': { type: 'string' },
        'lock-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        'default-endpoint': { type: 'string' },
        'default-region': { type: 'string' },
        'default-force-path-style': { type: 'string' },
        'snapshot-wait': { type: 'string' },
        'inline-auth-sources': { type: 'string' },
        'allowed-endpoints': { type: 'string' },
        'cache-root': { type: 'string' },
        'cache-max-size': { type: 'string' },
        'write-back-max-size': { type: 'string' },
        'write-back-max-files': { type: 'string' },
        'host-proc': { type: 'string' },
        'fd-keeper': { type: 'string' },
        'fuse-layer': { type: 'string' },
        'supervise-mounts': { type: 'string' },
        'upgrade-mounts': { type: 'string' },
        'list-volumes': { type: 'boolean' },
        events: { type: 'string' },
        'kubelet-registration-path': { type: 'string' },
        'kubelet-csi-endpoint': { type: 'string' },
        'health-s3-failures-per-minute': { type: 'string' },
        'health-credential-expiry-minutes': { type: 'string' },
        'metrics-address': { type: 'string' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${HELP}`);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  if (v.version) {
    process.stdout.write(`${PLUGIN_NAME} ${pluginVersion()}\n`);
    process.exit(0);
  }
  const env = process.env;
  const mode = v.mode ?? 'all';
  if (mode !== 'node' && mode !== 'controller' && mode !== 'all')
    fail(`--mode must be node, controller or all, got "${mode}"`);
  const logLevel = v['log-level'] ?? env.LOG_LEVEL ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel))
    fail(`--log-level must be error, warn, info or debug, got "${logLevel}"`);
  let defaults: S3Settings;
  try {
    defaults = {
      endpoint: parseEndpoint(
        '--default-endpoint',
        v['default-endpoint'] ?? (env.BUCKETMOUNT_DEFAULT_ENDPOINT || undefined),
      ),
      region: parseRegion(
        '--default-region',
        v['default-region'] ?? (env.BUCKETMOUNT_DEFAULT_REGION || env.AWS_REGION || undefined),
      ),
      forcePathStyle: parseBoolValue(
        '--default-force-path-style',
        v['default-force-path-style'] ?? (env.BUCKETMOUNT_DEFAULT_FORCE_PATH_STYLE || undefined),
      ),
    };
  } catch (err) {
    fail((err as Error).message);
  }
  const waitRaw = v['snapshot-wait'] ?? (env.BUCKETMOUNT_SNAPSHOT_WAIT || '20');
  const snapshotWaitS = Number(waitRaw);
  if (!/^\d+(\.\d+)?$/.test(waitRaw) || !Number.isFinite(snapshotWaitS))
    fail(`--snapshot-wait must be a number of seconds >= 0, got "${waitRaw}"`);
  let listVolumes = v['list-volumes'] ?? false;
  try {
    listVolumes ||= parseBoolValue('BUCKETMOUNT_LIST_VOLUMES', env.BUCKETMOUNT_LIST_VOLUMES || undefined) ?? false;
  } catch (err) {
    fail((err as Error).message);
  }
  let inlineAuthSources: AuthenticationSource[] = [...DEFAULT_INLINE_AUTH_SOURCES];
  let allowedEndpoints: string[] = [];
  try {
    const inlineRaw = v['inline-auth-sources'] ?? env.BUCKETMOUNT_INLINE_AUTH_SOURCES;
    if (inlineRaw !== undefined) inlineAuthSources = parseInlineAuthSources(inlineRaw);
    const allowedRaw = v['allowed-endpoints'] ?? env.BUCKETMOUNT_ALLOWED_ENDPOINTS ?? '';
    allowedEndpoints = allowedRaw
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')
      .map((e) => parseEndpoint('--allowed-endpoints', e)!);
  } catch (err) {
    fail((err as Error).message);
  }
  if (v['host-proc'] !== undefined && !v['host-proc'].startsWith('/'))
    fail(`--host-proc must be an absolute path, got "${v['host-proc']}"`);
  if (v['fd-keeper'] !== undefined && !v['fd-keeper'].startsWith('/'))
    fail(`--fd-keeper must be an absolute path, got "${v['fd-keeper']}"`);
  const fuseLayer = v['fuse-layer'] ?? (env.BUCKETMOUNT_FUSE_LAYER || undefined);
  if (fuseLayer !== undefined) {
    try {
      checkLegacyFuseLayer(fuseLayer, v['fuse-layer'] !== undefined ? '--fuse-layer' : 'BUCKETMOUNT_FUSE_LAYER');
    } catch (err) {
      fail((err as Error).message);
    }
  }
  let superviseMounts: boolean;
  let upgradeMounts: boolean;
  try {
    superviseMounts =
      parseBoolValue('--supervise-mounts', v['supervise-mounts'] ?? (env.BUCKETMOUNT_SUPERVISE_MOUNTS || undefined)) ??
      true;
    upgradeMounts =
      parseBoolValue('--upgrade-mounts', v['upgrade-mounts'] ?? (env.BUCKETMOUNT_UPGRADE_MOUNTS || undefined)) ?? true;
  } catch (err) {
    fail((err as Error).message);
  }
  const cacheMaxRaw = v['cache-max-size'];
  if (cacheMaxRaw !== undefined && (!/^\d+$/.test(cacheMaxRaw) || Number(cacheMaxRaw) < 1))
    fail(`--cache-max-size must be a whole number of MiB >= 1, got "${cacheMaxRaw}"`);
  // Node ceilings of --write-back volumes, handed to every mount (the mount command validates the range).
  const writeBackFlags: string[] = [];
  for (const name of ['write-back-max-size', 'write-back-max-files'] as const) {
    const raw = v[name];
    if (raw === undefined) continue;
    if (!/^\d+$/.test(raw)) fail(`--${name} must be a whole number, got "${raw}"`);
    writeBackFlags.push(`--${name}=${raw}`);
  }
  const lockRaw = v['lock-timeout'] ?? (env.BUCKETMOUNT_LOCK_TIMEOUT || '300');
  if (!/^\d+(\.\d+)?$/.test(lockRaw)) fail(`--lock-timeout must be a number of seconds >= 0, got "${lockRaw}"`);
  const endpoint = v.endpoint ?? env.CSI_ENDPOINT ?? 'unix:///csi/csi.sock';
  try {
    socketPathOf(endpoint);
  } catch (err) {
    fail((err as Error).message);
  }
  let kubeletRegistration: { registrationPath: string; csiEndpoint: string } | undefined;
  const registrationRaw = v['kubelet-registration-path'];
  if (registrationRaw !== undefined) {
    if (mode === 'controller') fail('--kubelet-registration-path is for the node plugin (--mode node or all)');
    kubeletRegistration = {
      registrationPath: socketPathFlag('--kubelet-registration-path', registrationRaw),
      csiEndpoint: socketPathFlag('--kubelet-csi-endpoint', v['kubelet-csi-endpoint'] ?? socketPathOf(endpoint)),
    };
  } else if (v['kubelet-csi-endpoint'] !== undefined) fail('--kubelet-csi-endpoint needs --kubelet-registration-path');
  const stateDir = v['state-dir'] ?? env.BUCKETMOUNT_STATE_DIR ?? DEFAULT_STATE_DIR;
  let health: HealthThresholds;
  try {
    health = healthThresholdsFrom(
      {
        s3FailuresPerMinute: v['health-s3-failures-per-minute'],
        credentialExpiryMinutes: v['health-credential-expiry-minutes'],
      },
      env,
    );
  } catch (err) {
    fail((err as Error).message);
  }
  let metricsAddress: MetricsAddress | undefined;
  try {
    metricsAddress = parseMetricsAddress(
      v['metrics-address'] ??
        env.BUCKETMOUNT_METRICS_ADDRESS ??
        (mode === 'controller' ? DEFAULT_METRICS_ADDRESS.controller : DEFAULT_METRICS_ADDRESS.node),
    );
  } catch (err) {
    fail(`--metrics-address: ${(err as Error).message}`);
  }
  let events = false;
  try {
    events = eventsEnabled(v.events, env);
  } catch (err) {
    fail((err as Error).message);
  }
  return {
    events,
    health,
    mode,
    endpoint,
    nodeId: v['node-id'] ?? env.NODE_ID ?? hostname(),
    stateDir,
    inlineAuthSources,
    allowedEndpoints,
    cacheRoot: resolvePath(v['cache-root'] ?? cacheRootFor(stateDir)),
    cacheMaxSize: cacheMaxRaw,
    writeBackFlags,
    hostProc: v['host-proc'],
    fdKeeper: v['fd-keeper'],
    fuseLayer,
    superviseMounts,
    upgradeMounts,
    logLevel,
    defaults,
    snapshotWaitMs: Math.round(snapshotWaitS * 1000),
    listVolumes,
    kubeletRegistration,
    lockTimeoutMs: Math.round(Number(lockRaw) * 1000),
    metricsAddress,
  };
}

/** Flags that take an optional true/false value: the bare form means true. */
const OPTIONAL_BOOLEAN_FLAGS = ['--supervise-mounts', '--upgrade-mounts'];
function bareBooleanFlag(arg: string): string {
  return OPTIONAL_BOOLEAN_FLAGS.includes(arg) ? `${arg}=true` : arg;
}

/** A socket given as an absolute path or unix:// URL, as a path. */
function socketPathFlag(flag: string, value: string): string {
  try {
    return socketPathOf(value);
  } catch {
    fail(`${flag} must be an absolute socket path (or unix:///path), got "${value}"`);
  }
}

async function nodeReadiness(mounterReady: () => boolean): Promise<Readiness> {
  try {
    await access('/dev/fuse', fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    return {
      ready: false,
      reason:
        '/dev/fuse is not accessible: the node plugin needs the FUSE device (privileged container or /dev/fuse mounted)',
    };
  }
  const script = DEFAULT_MOUNT_COMMAND[1];
  if (script && !existsSync(script)) return { ready: false, reason: `mount command ${script} is missing` };
  if (!mounterReady()) return { ready: false, reason: 'still reconciling recorded mounts' };
  return { ready: true };
}

async function main(): Promise<void> {
  quietSdkNodeVersionWarning();
  const cfg = parseFlags(process.argv.slice(2));
  const log = createLogger({ level: cfg.logLevel, defaultMeta: { component: 'csi-driver', mode: cfg.mode } });
  if (cfg.fuseLayer !== undefined) log.warn('--fuse-layer (BUCKETMOUNT_FUSE_LAYER) is deprecated and has no effect');
  const serveController = cfg.mode !== 'node';
  const serveNode = cfg.mode !== 'controller';
  // Fire-and-forget Kubernetes Events (a no-op recorder when off); reportingInstance = driver + node id.
  const recorder = driverEventRecorder(cfg.events, cfg.nodeId, log);
  const nodeEvents = new NodeEvents(recorder);

  // Metrics (docs/metrics.md): the services' registries, the process's own (prefix bucketmount_plugin_).
  const nodeMetrics =
    serveNode && cfg.metricsAddress ? new NodeMetrics({ state: () => mounter!.snapshot(), logger: log }) : undefined;
  const controllerMetrics = serveController && cfg.metricsAddress ? new ControllerMetrics() : undefined;
  const processRegistry = cfg.metricsAddress ? new Registry() : undefined;
  if (processRegistry) collectDefaultMetrics({ register: processRegistry, prefix: 'bucketmount_plugin_' });

  let mounter: ProcessMounter | undefined;
  let nodeService: NodeService | undefined;
  let reconciled = false;
  const services: ServedServices = {
    identity: new IdentityService({
      controllerService: serveController,
      readiness: async () => (serveNode ? nodeReadiness(() => reconciled) : { ready: true }),
      onNotReady: (reason) => log.warn('probe: not ready', { reason }),
    }).handlers(),
  };
  const controller = serveController
    ? new ControllerService({
        logger: log,
        defaults: cfg.defaults,
        snapshotWaitMs: cfg.snapshotWaitMs,
        listVolumes: cfg.listVolumes,
        ...(controllerMetrics ? { onCopied: (o: number, b: number) => controllerMetrics.copied(o, b) } : {}),
        ...(cfg.events
          ? {
              events: new ControllerEvents(
                recorder,
                createClaimLookup({ kubeConfig: defaultKubeConfig, driver: PLUGIN_NAME }),
                log,
              ),
            }
          : {}),
      })
    : undefined;
  if (controller) services.controller = controller.handlers();
  if (serveNode) {
    // Before anything reads or writes the state dir or touches the socket: one plugin per state dir.
    try {
      await lockStateDir({
        stateDir: cfg.stateDir,
        timeoutMs: cfg.lockTimeoutMs,
        logger: log,
      });
    } catch (err) {
      log.error('cannot lock the state dir', { error: (err as Error).message });
      fail((err as Error).message);
    }
    log.info('state dir locked', { stateDir: cfg.stateDir });
    if (cfg.fdKeeper !== undefined && !existsSync(cfg.fdKeeper))
      log.warn('no fd keeper serves --fd-keeper (yet): until one does, mounts end with this container', {
        socket: cfg.fdKeeper,
      });
    if (cfg.fdKeeper !== undefined && !cfg.superviseMounts)
      log.warn('--fd-keeper has no effect with --supervise-mounts=false (only supervised mounts are kept)');
    // Host paths are node decisions: the cache root is the node's, 0700, one subdirectory per share.
    mkdirSync(cfg.cacheRoot, { recursive: true, mode: 0o700 });
    chmodSync(cfg.cacheRoot, 0o700);
    mounter = createProcessMounter({
      stateDir: cfg.stateDir,
      logger: log,
      cacheRoot: cfg.cacheRoot,
      // Events (deaths, restores) and metrics (reconcile outcomes) observe the mounter.
      observer: {
        ...(cfg.events ? nodeEvents.observer() : {}),
        ...(nodeMetrics ? { reconciled: (o: ReconcileOutcome) => nodeMetrics.reconciled(o) } : {}),
      },
      health: cfg.health,
      // Metrics off: mount processes keep none either.
      mountMetrics: nodeMetrics !== undefined,
      serverVersion: pluginVersion(),
      ...(cfg.fdKeeper !== undefined ? { fdKeeper: cfg.fdKeeper } : {}),
    });
    nodeService = new NodeService({
      nodeId: cfg.nodeId,
      mounter,
      logger: log,
      defaults: cfg.defaults,
      inlineAuthSources: cfg.inlineAuthSources,
      allowedEndpoints: cfg.allowedEndpoints,
      cacheRoot: cfg.cacheRoot,
      ...(nodeMetrics ? { observer: { credentialRefresh: (ok) => nodeMetrics.credentialRefresh(ok) } } : {}),
      ...(cfg.events ? { events: nodeEvents } : {}),
      baseMountFlags: [
        ...(cfg.cacheMaxSize !== undefined ? [`--cache-max-size=${cfg.cacheMaxSize}`] : []),
        ...(cfg.hostProc !== undefined ? [`--proc-root=${cfg.hostProc}`] : []),
        ...cfg.writeBackFlags,
        ...(cfg.superviseMounts ? ['--supervise'] : []),
      ],
    });
    services.node = nodeService.handlers();
  }

  // Started before the socket exists: node calls that arrive meanwhile wait for it (the mounter gates them).
  const reconciling = mounter?.reconcile().then(
    () => {
      reconciled = true;
      // A new plugin version: supervised mounts of the previous one move to the binary on disk (docs/fuse3.md).
      if (cfg.upgradeMounts)
        void mounter
          ?.upgradeMounts()
          .then((ids) => ids.length && log.info('asked mounts to upgrade their server', { shares: ids }))
          .catch((err: unknown) => log.error('upgrading mount servers failed', { error: (err as Error).message }));
    },
    (err: unknown) =>
      log.error('reconciling recorded mounts failed; Probe stays not-ready', { error: (err as Error).message }),
  );
  // Signals are caught before the socket exists: a SIGTERM during start-up waits for start-up to end and then
  // stops gracefully (an early default-action death would skip closing the state and the event recorder).
  const started: { stop?: (signal: string) => void } = {};
  let signalDuringStartup: string | undefined;
  const onSignal = (signal: string): void => {
    if (started.stop) started.stop(signal);
    else signalDuringStartup ??= signal;
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  const server = await startCsiServer(cfg.endpoint, services, log, {
    onCallDone: (service, method, code, seconds) => {
      const result = code === 0 ? 'ok' : codeName(code);
      if (service === 'Node') nodeMetrics?.observeCall(method, result, seconds);
      else if (service === 'Controller') controllerMetrics?.observeCall(method, result, seconds);
    },
  });
  // A port already taken is logged, not fatal: metrics never stop the CSI services.
  const metricsServer =
    cfg.metricsAddress && processRegistry
      ? await startMetricsServer({
          address: cfg.metricsAddress,
          logger: log,
          render: async () => {
            const sources: MetricFamily[][] = [(await processRegistry.getMetricsAsJSON()) as MetricFamily[]];
            if (controllerMetrics) sources.push(await controllerMetrics.families());
            if (nodeMetrics) sources.push(...(await nodeMetrics.families()));
            return { contentType: processRegistry.contentType, body: await exposition(sources) };
          },
        }).catch((err: unknown) => {
          log.error('cannot serve metrics; running without them', {
            metricsAddress: cfg.metricsAddress,
            error: (err as Error).message,
          });
          return undefined;
        })
      : undefined;
  // After the CSI socket listens: kubelet calls NodeGetInfo right after registering.
  const registration =
    serveNode && cfg.kubeletRegistration
      ? await startKubeletRegistration({ ...cfg.kubeletRegistration, logger: log })
      : undefined;
  log.info('started', {
    version: pluginVersion(),
    nodeId: cfg.nodeId,
    stateDir: serveNode ? cfg.stateDir : undefined,
    inlineAuthSources: serveNode ? cfg.inlineAuthSources : undefined,
    allowedEndpoints: serveNode && cfg.allowedEndpoints.length ? cfg.allowedEndpoints : undefined,
    cacheRoot: serveNode ? cfg.cacheRoot : undefined,
    defaultEndpoint: cfg.defaults.endpoint,
    defaultRegion: cfg.defaults.region,
    listVolumes: serveController ? cfg.listVolumes : undefined,
    snapshotWaitMs: serveController ? cfg.snapshotWaitMs : undefined,
    events: cfg.events,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down (mounts stay up)', { signal });
    void (async () => {
      await registration?.shutdown();
      await server.shutdown(10_000);
      await metricsServer?.close();
      // Running snapshot copies stop; their markers stay not ready and the next CreateSnapshot redoes them.
      controller?.snapshots.abortAll();
      nodeService?.close();
      await mounter?.close();
      await recorder.close(2_000);
      log.info('stopped');
      process.exit(0);
    })();
  };
  started.stop = stop;
  if (signalDuringStartup) stop(signalDuringStartup);
  await reconciling;
}

main().catch((err: unknown) => {
  process.stderr.write(`csi-driver: error: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
