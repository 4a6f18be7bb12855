// deploy/monitoring/'s copies of the chart's monitoring files: the Grafana dashboard ConfigMap and
// the PrometheusRule are built from charts/bucketmount/dashboards/bucketmount.json and
// charts/bucketmount/alerts/bucketmount-alerts.yaml (the one home of each), so kubectl users get the
// same dashboard and alerts as Helm users. test/deploy/monitoring.test.ts fails when a copy is stale;
// `node dist/test/bench/dashboard-manifests.js` rewrites them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const DASHBOARD_JSON = 'charts/bucketmount/dashboards/bucketmount.json';
export const ALERTS_YAML = 'charts/bucketmount/alerts/bucketmount-alerts.yaml';
export const DEPLOY_DASHBOARD = 'deploy/monitoring/grafana-dashboard.yaml';
export const DEPLOY_RULE = 'deploy/monitoring/prometheus-rule.yaml';

const indent = (text: string, by: number): string =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => (l === '' ? '' : ' '.repeat(by) + l))
    .join('\n');

/** deploy/monitoring/grafana-dashboard.yaml for `dashboardJson`. */
export function dashboardConfigMap(dashboardJson: string): string {
  return [
    `# Generated from ${DASHBOARD_JSON} by test/bench/dashboard-manifests.ts: edit that file, not this one.`,
    "# The bucketmount Grafana dashboard for Grafana's dashboard sidecar (it loads ConfigMaps labelled",
    '# grafana_dashboard: "1"; move it to the namespace your sidecar watches). Or import the JSON in',
    '# Grafana: Dashboards > New > Import. See docs/monitoring.md.',
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    '  name: bucketmount-dashboard',
    '  labels:',
    '    grafana_dashboard: "1"',
    'data:',
    '  bucketmount.json: |-',
    indent(dashboardJson, 4),
    '',
  ].join('\n');
}

/** deploy/monitoring/prometheus-rule.yaml for the rule file `alertsYaml`. */
export function prometheusRule(alertsYaml: string): string {
  return [
    `# Generated from ${ALERTS_YAML} by test/bench/dashboard-manifests.ts: edit that file, not this one.`,
    '# The bucketmount alerts (docs/monitoring.md) for prometheus-operator. Your Prometheus may select',
    '# rules by label (kube-prometheus-stack: release: <its release name>): add it under labels.',
    'apiVersion: monitoring.coreos.com/v1',
    'kind: PrometheusRule',
    'metadata:',
    '  name: bucketmount',
    'spec:',
    indent(alertsYaml, 2),
    '',
  ].join('\n');
}

export function expectedDeployFiles(root = ROOT): Record<string, string> {
  return {
    [DEPLOY_DASHBOARD]: dashboardConfigMap(readFileSync(join(root, DASHBOARD_JSON), 'utf8')),
    [DEPLOY_RULE]: prometheusRule(readFileSync(join(root, ALERTS_YAML), 'utf8')),
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [file, text] of Object.entries(expectedDeployFiles())) {
    writeFileSync(join(ROOT, file), text);
    console.log(`wrote ${file}`);
  }
}
