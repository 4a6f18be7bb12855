// Offline Kubernetes JSON schemas for kubeconform: converts the OpenAPI v2 spec shipped in the
// k8s.io/kubernetes Go module (api/openapi-spec/swagger.json, fetched at setup time by
// scripts/setup.d/deploy.sh with `go mod download`) into one strict JSON schema per kind, named
// the way kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` template expects.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

/** A tool from PATH or $(go env GOPATH)/bin (where scripts/setup.d/deploy.sh installs it); throws when missing. */
export function findTool(name: string): string {
  const dirs = (process.env.PATH ?? '').split(delimiter);
  try {
    dirs.push(join(execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8' }).trim(), 'bin'));
  } catch {
    // no go: PATH only
  }
  for (const d of dirs) {
    const p = join(d, name);
    if (d !== '' && existsSync(p)) return p;
  }
  throw new Error(`${name} not found in PATH or $(go env GOPATH)/bin: run scripts/setup.d/deploy.sh`);
}

/** Reads KEY=VALUE lines of test/deploy/tool-versions.env. */
export function readToolVersions(repoRoot: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(repoRoot, 'test/deploy/tool-versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)\s*$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Where `go mod download` put the spec; throws a message saying how to get it when missing. */
export function locateSwagger(k8sVersion: string): string {
  let modCache: string;
  try {
    modCache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  } catch (err) {
    throw new Error(`cannot run "go env GOMODCACHE" to find the Kubernetes OpenAPI spec: ${String(err)}`);
  }
  const path = join(modCache, `k8s.io/kubernetes@${k8sVersion}`, 'api/openapi-spec/swagger.json');
  if (!existsSync(path)) {
    throw new Error(
      `Kubernetes OpenAPI spec not found at ${path}: run scripts/setup.d/deploy.sh (go mod download k8s.io/kubernetes@${k8sVersion})`,
    );
  }
  return path;
}

/** kubeconform's file-name suffix for an apiVersion: "apps/v1" → "-apps-v1", "v1" → "-v1". */
export function kindSuffix(apiVersion: string): string {
  const parts = apiVersion.split('/');
  let suffix = '-' + parts[0].split('.')[0].toLowerCase();
  if (parts.length > 1) suffix += '-' + parts[1].toLowerCase();
  return suffix;
}

const INT_OR_STRING: Schema = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
const QUANTITY: Schema = { oneOf: [{ type: 'string' }, { type: 'number' }] };

/** One definition made strict: no unknown fields, int-or-string and quantities typed as the API accepts them. */
function strictify(node: Json, name?: string): Json {
  if (Array.isArray(node)) return node.map((n) => strictify(n));
  if (node === null || typeof node !== 'object') return node;
  if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') return QUANTITY;
  if (node.format === 'int-or-string') return INT_OR_STRING;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key === 'format' || key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const props: Schema = {};
      for (const [p, s] of Object.entries(value)) props[p] = strictify(s);
      out.properties = props;
      continue;
    }
    out[key] = strictify(value);
  }
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

function collectRefs(node: Json, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) collectRefs(n, into);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/definitions/'))
        into.add(value.slice('#/definitions/'.length));
      else collectRefs(value, into);
    }
  }
}

export interface SchemaSet {
  dir: string;
  /** kubeconform -schema-location template for this directory */
  location: string;
  /** "apiVersion/Kind" pairs written */
  kinds: string[];
}

/** Writes one standalone strict schema per API kind of the spec into dir. */
export function generateSchemas(swaggerPath: string, dir: string): SchemaSet {
  const spec = JSON.parse(readFileSync(swaggerPath, 'utf8')) as { definitions: Record<string, Json> };
  const defs: Record<string, Json> = {};
  for (const [name, def] of Object.entries(spec.definitions)) defs[name] = strictify(def, name);
  mkdirSync(dir, { recursive: true });
  const kinds: string[] = [];
  const written = new Set<string>();
  for (const [name, raw] of Object.entries(spec.definitions)) {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) continue;
    const gvks = raw['x-kubernetes-group-version-kind'];
    if (!Array.isArray(gvks) || gvks.length !== 1) continue; // shared types like DeleteOptions
    const gvk = gvks[0] as { group: string; version: string; kind: string };
    const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
    const file = `${gvk.kind.toLowerCase()}${kindSuffix(apiVersion)}.json`;
    if (written.has(file)) continue;
    // Only the definitions this kind reaches, so every file stays small.
    const needed = new Set<string>();
    const queue = [name];
    while (queue.length > 0) {
      const current = queue.pop() as string;
      if (needed.has(current)) continue;
      needed.add(current);
      const refs = new Set<string>();
      collectRefs(defs[current], refs);
      for (const r of refs) if (!needed.has(r)) queue.push(r);
    }
    const definitions: Schema = {};
    for (const n of needed) definitions[n] = defs[n];
    const top = { ...(defs[name] as Schema) };
    const props = { ...(top.properties as Schema) };
    props.apiVersion = { type: 'string', enum: [apiVersion] };
    props.kind = { type: 'string', enum: [gvk.kind] };
    top.properties = props;
    top.required = [...new Set([...(Array.isArray(top.required) ? top.required : []), 'apiVersion', 'kind'])];
    top.definitions = definitions;
    writeFileSync(join(dir, file), JSON.stringify(top));
    written.add(file);
    kinds.push(`${apiVersion}/${gvk.kind}`);
  }
  kinds.push(...writeMonitoringSchemas(dir));
  return { dir, location: join(dir, '{{ .ResourceKind }}{{ .KindSuffix }}.json'), kinds };
}

// prometheus-operator's kinds (monitoring.coreos.com/v1) are CRDs, absent from the Kubernetes spec:
// minimal strict schemas with the fields of the operator's CRDs that deploy/monitoring/ and the
// chart use (names as in the operator's CRDs; an unknown or misspelt field is rejected).
const DURATION: Schema = { type: 'string', pattern: '^(0|([0-9]+(ms|s|m|h|d|w|y))+)$' };
const STRING_MAP: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const STRINGS: Schema = { type: 'array', items: { type: 'string' } };
const strict = (properties: Record<string, Json>, required: string[] = []): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...(required.length > 0 ? { required } : {}),
});
const RELABELINGS: Schema = {
  type: 'array',
  items: strict({
    sourceLabels: STRINGS,
    separator: { type: 'string' },
    targetLabel: { type: 'string' },
    regex: { type: 'string' },
    modulus: { type: 'integer' },
    replacement: { type: 'string' },
    action: {
      type: 'string',
      enum: [
        'replace',
        'keep',
        'drop',
        'hashmod',
        'labelmap',
        'labeldrop',
        'labelkeep',
        'lowercase',
        'uppercase',
        'keepequal',
        'dropequal',
      ],
    },
  }),
};
const ENDPOINT_FIELDS: Record<string, Json> = {
  port: { type: 'string' },
  path: { type: 'string' },
  scheme: { type: 'string', enum: ['http', 'https'] },
  interval: DURATION,
  scrapeTimeout: DURATION,
  honorLabels: { type: 'boolean' },
  honorTimestamps: { type: 'boolean' },
  relabelings: RELABELINGS,
  metricRelabelings: RELABELINGS,
};
const MONITOR_COMMON: Record<string, Json> = {
  jobLabel: { type: 'string' },
  podTargetLabels: STRINGS,
  namespaceSelector: strict({ any: { type: 'boolean' }, matchNames: STRINGS }),
  selector: strict({ matchLabels: STRING_MAP, matchExpressions: { type: 'array' } }),
};
const OBJECT_META: Schema = strict({
  name: { type: 'string' },
  namespace: { type: 'string' },
  labels: STRING_MAP,
  annotations: STRING_MAP,
});
const MONITORING_KINDS: Record<string, Schema> = {
  ServiceMonitor: strict(
    {
      ...MONITOR_COMMON,
      targetLabels: STRINGS,
      endpoints: { type: 'array', minItems: 1, items: strict(ENDPOINT_FIELDS) },
    },
    ['selector', 'endpoints'],
  ),
  PodMonitor: strict(
    { ...MONITOR_COMMON, podMetricsEndpoints: { type: 'array', minItems: 1, items: strict(ENDPOINT_FIELDS) } },
    ['selector', 'podMetricsEndpoints'],
  ),
  PrometheusRule: strict({
    groups: {
      type: 'array',
      items: strict(
        {
          name: { type: 'string', minLength: 1 },
          interval: DURATION,
          limit: { type: 'integer' },
          labels: STRING_MAP,
          rules: {
            type: 'array',
            items: strict(
              {
                alert: { type: 'string' },
                record: { type: 'string' },
                expr: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
                for: DURATION,
                keep_firing_for: DURATION,
                labels: STRING_MAP,
                annotations: STRING_MAP,
              },
              ['expr'],
            ),
          },
        },
        ['name'],
      ),
    },
  }),
};

/** Writes the monitoring.coreos.com/v1 schemas into dir; returns their "apiVersion/Kind" pairs. */
export function writeMonitoringSchemas(dir: string): string[] {
  const apiVersion = 'monitoring.coreos.com/v1';
  return Object.entries(MONITORING_KINDS).map(([kind, spec]) => {
    const top = strict(
      {
        apiVersion: { type: 'string', enum: [apiVersion] },
        kind: { type: 'string', enum: [kind] },
        metadata: OBJECT_META,
        spec,
      },
      ['apiVersion', 'kind', 'metadata', 'spec'],
    );
    writeFileSync(join(dir, `${kind.toLowerCase()}${kindSuffix(apiVersion)}.json`), JSON.stringify(top));
    return `${apiVersion}/${kind}`;
  });
}

/** What a deploy test renders and validates with: the pinned tools and the schemas, in a fresh work dir. */
export interface DeployTools {
  helm: string;
  kustomize: string;
  kubeconform: string;
  schemas: SchemaSet;
  /** Temp dir of the test file (remove it after the tests). */
  work: string;
}

/** Find helm, kustomize and kubeconform and generate the schemas of `k8sSchemaVersion` in a new temp dir. */
export function prepareDeployTools(prefix: string, k8sSchemaVersion: string): DeployTools {
  const work = mkdtempSync(join(tmpdir(), prefix));
  return {
    helm: findTool('helm'),
    kustomize: findTool('kustomize'),
    kubeconform: findTool('kubeconform'),
    schemas: generateSchemas(locateSwagger(k8sSchemaVersion), join(work, 'schemas')),
    work,
  };
}
