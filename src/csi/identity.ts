// CSI Identity service: plugin name and version, the CONTROLLER_SERVICE capability (when the
// controller runs in this process or beside it), and Probe, which reports ready only once the
// plugin can do its work (node: /dev/fuse usable, mount command present, mounts reconciled).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PluginCapability, ResponseOf, ServiceHandlers } from './types.js';

export const PLUGIN_NAME = 'bucketmount.csi.io';

/** The package version (package.json next to dist/ and proto/). */
export function pluginVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'bucketmount' && pkg.version) return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return process.env.BUCKETMOUNT_VERSION ?? '0.0.0-unknown';
}

export interface Readiness {
  ready: boolean;
  /** Why not ready (logged). */
  reason?: string;
}

export interface IdentityOptions {
  /** Advertise CONTROLLER_SERVICE (true for controller/all modes and for node plugins of a cluster with a controller). */
  controllerService: boolean;
  readiness: () => Promise<Readiness>;
  onNotReady?: (reason: string) => void;
}

export class IdentityService {
  private readonly version = pluginVersion();
  constructor(private readonly opts: IdentityOptions) {}

  getPluginInfo(): ResponseOf<'GetPluginInfo'> {
    return { name: PLUGIN_NAME, vendorVersion: this.version };
  }

  getPluginCapabilities(): ResponseOf<'GetPluginCapabilities'> {
    const caps: PluginCapability[] = [{ volumeExpansion: { type: 'ONLINE' } }];
    if (this.opts.controllerService) caps.unshift({ service: { type: 'CONTROLLER_SERVICE' } });
    return { capabilities: caps };
  }

  async probe(): Promise<ResponseOf<'Probe'>> {
    const r = await this.opts.readiness();
    if (!r.ready && r.reason) this.opts.onNotReady?.(r.reason);
    return { ready: { value: r.ready } };
  }

  handlers(): ServiceHandlers<'Identity'> {
    return {
      GetPluginInfo: async () => this.getPluginInfo(),
      GetPluginCapabilities: async () => this.getPluginCapabilities(),
      Probe: () => this.probe(),
    };
  }
}
