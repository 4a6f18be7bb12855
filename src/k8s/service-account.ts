// Reads a ServiceAccount's annotations from the Kubernetes API with @kubernetes/client-node
// (in-cluster config in the driver pod, $KUBECONFIG / ~/.kube/config elsewhere). Used to find
// the IAM role of a pod (`eks.amazonaws.com/role-arn`). Results are cached briefly because
// kubelet republishes every volume with requiresRepublish about once a minute.
// The library is imported lazily: only pod-identity volumes need it, and a load failure must
// become a clear error on those volumes instead of taking the whole driver down.
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

type ClientNode = typeof import('@kubernetes/client-node');
let clientNode: Promise<ClientNode> | undefined;

async function loadClientNode(): Promise<ClientNode> {
  clientNode ??= import('@kubernetes/client-node');
  try {
    return await clientNode;
  } catch (err) {
    clientNode = undefined;
    throw new K8sApiError(undefined, `cannot load @kubernetes/client-node: ${(err as Error).message}`, { cause: err });
  }
}

export class K8sApiError extends Error {
  override name = 'K8sApiError';
  constructor(
    /** HTTP status from the API server; undefined when it could not be reached. */
    readonly status: number | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface ServiceAccountReader {
  /** Annotations of namespace/name (empty object when it has none). */
  annotations(namespace: string, name: string): Promise<Record<string, string>>;
}

export interface ServiceAccountReaderOptions {
  /** Explicit config (tests pass one pointing at a local server); default: in-cluster or $KUBECONFIG. */
  kubeConfig?: KubeConfig | (() => Promise<KubeConfig>);
  /** How long a looked-up ServiceAccount is reused (default 30 s; 0 disables the cache). */
  cacheTtlMs?: number;
  now?: () => number;
}

/** In-cluster config when running in a pod, otherwise the default kubeconfig. */
export async function defaultKubeConfig(): Promise<KubeConfig> {
  const { KubeConfig } = await loadClientNode();
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export function createServiceAccountReader(opts: ServiceAccountReaderOptions = {}): ServiceAccountReader {
  let api: CoreV1Api | undefined;
  const ttl = opts.cacheTtlMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; value: Record<string, string> }>();
  return {
    async annotations(namespace: string, name: string) {
      const key = `${namespace}/${name}`;
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttl) return hit.value;
      const lib = await loadClientNode();
      if (!api) {
        const kc =
          typeof opts.kubeConfig === 'function'
            ? await opts.kubeConfig()
            : (opts.kubeConfig ?? (await defaultKubeConfig()));
        api = kc.makeApiClient(lib.CoreV1Api);
      }
      try {
        const sa = await api.readNamespacedServiceAccount({ name, namespace });
        const value = { ...(sa.metadata?.annotations ?? {}) };
        if (ttl > 0) cache.set(key, { at: now(), value });
        return value;
      } catch (err) {
        if (err instanceof lib.ApiException) {
          const code = err.code;
          const what =
            code === 404
              ? 'not found'
              : code === 401 || code === 403
                ? 'access refused (the driver needs RBAC get on serviceaccounts)'
                : `HTTP ${code}`;
          throw new K8sApiError(code, `reading ServiceAccount ${key} from the Kubernetes API: ${what}`, { cause: err });
        }
        throw new K8sApiError(
          undefined,
          `reading ServiceAccount ${key}: Kubernetes API unreachable: ${(err as Error).message}`,
          { cause: err },
        );
      }
    },
  };
}
