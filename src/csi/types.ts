// TypeScript shapes of the CSI v1 messages as @grpc/proto-loader decodes them in this driver
// (camelCase fields, enums as strings, int64 as number, oneofs with their case name, defaults
// filled in). Requests the driver receives may omit fields; the client accepts partial requests.

export type AccessModeName =
  | 'UNKNOWN'
  | 'SINGLE_NODE_WRITER'
  | 'SINGLE_NODE_READER_ONLY'
  | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER'
  | 'MULTI_NODE_MULTI_WRITER'
  | 'SINGLE_NODE_SINGLE_WRITER'
  | 'SINGLE_NODE_MULTI_WRITER';

export type StringMap = Record<string, string>;

export interface VolumeCapability {
  block?: Record<string, never> | null;
  mount?: { fsType?: string; mountFlags?: string[]; volumeMountGroup?: string } | null;
  accessMode?: { mode?: AccessModeName } | null;
  /** Set by the decoder: which access type is present. */
  accessType?: 'block' | 'mount';
}

export interface CapacityRange {
  requiredBytes?: number;
  limitBytes?: number;
}

export interface VolumeContentSource {
  snapshot?: { snapshotId?: string } | null;
  volume?: { volumeId?: string } | null;
  /** Set by the decoder: which source is present. */
  type?: 'snapshot' | 'volume';
}

export interface Topology {
  segments?: StringMap;
}

export interface Volume {
  capacityBytes?: number;
  volumeId: string;
  volumeContext?: StringMap;
  contentSource?: VolumeContentSource | null;
  accessibleTopology?: Topology[];
}

export interface VolumeCondition {
  abnormal: boolean;
  message: string;
}

// ---------------------------------------------------------------- identity

export type GetPluginInfoRequest = Record<string, never>;
export interface GetPluginInfoResponse {
  name: string;
  vendorVersion: string;
  manifest?: StringMap;
}
export type GetPluginCapabilitiesRequest = Record<string, never>;
export interface PluginCapability {
  service?: { type: 'UNKNOWN' | 'CONTROLLER_SERVICE' | 'VOLUME_ACCESSIBILITY_CONSTRAINTS' | 'GROUP_CONTROLLER_SERVICE' };
  volumeExpansion?: { type: 'UNKNOWN' | 'ONLINE' | 'OFFLINE' };
}
export interface GetPluginCapabilitiesResponse {
  capabilities: PluginCapability[];
}
export type ProbeRequest = Record<string, never>;
export interface ProbeResponse {
  ready?: { value: boolean } | null;
}

// ---------------------------------------------------------------- controller

export interface CreateVolumeRequest {
  name?: string;
  capacityRange?: CapacityRange | null;
  volumeCapabilities?: VolumeCapability[];
  parameters?: StringMap;
  secrets?: StringMap;
  volumeContentSource?: VolumeContentSource | null;
  accessibilityRequirements?: unknown;
  mutableParameters?: StringMap;
}
export interface CreateVolumeResponse {
  volume: Volume;
}
export interface DeleteVolumeRequest {
  volumeId?: string;
  secrets?: StringMap;
}
export type DeleteVolumeResponse = Record<string, never>;
export interface ValidateVolumeCapabilitiesRequest {
  volumeId?: string;
  volumeContext?: StringMap;
  volumeCapabilities?: VolumeCapability[];
  parameters?: StringMap;
  secrets?: StringMap;
  mutableParameters?: StringMap;
}
export interface ValidateVolumeCapabilitiesResponse {
  confirmed?: {
    volumeContext?: StringMap;
    volumeCapabilities?: VolumeCapability[];
    parameters?: StringMap;
    mutableParameters?: StringMap;
  } | null;
  message?: string;
}
export type ControllerRpcType =
  | 'UNKNOWN'
  | 'CREATE_DELETE_VOLUME'
  | 'PUBLISH_UNPUBLISH_VOLUME'
  | 'LIST_VOLUMES'
  | 'GET_CAPACITY'
  | 'CREATE_DELETE_SNAPSHOT'
  | 'LIST_SNAPSHOTS'
  | 'CLONE_VOLUME'
  | 'PUBLISH_READONLY'
  | 'EXPAND_VOLUME'
  | 'LIST_VOLUMES_PUBLISHED_NODES'
  | 'VOLUME_CONDITION'
  | 'GET_VOLUME'
  | 'SINGLE_NODE_MULTI_WRITER'
  | 'MODIFY_VOLUME';
export type ControllerGetCapabilitiesRequest = Record<string, never>;
export interface ControllerGetCapabilitiesResponse {
  capabilities: { rpc: { type: ControllerRpcType } }[];
}

export interface ControllerExpandVolumeRequest {
  volumeId?: string;
  capacityRange?: CapacityRange | null;
  secrets?: StringMap;
  volumeCapability?: VolumeCapability | null;
}
export interface ControllerExpandVolumeResponse {
  capacityBytes: number;
  nodeExpansionRequired: boolean;
}

export interface ListVolumesRequest {
  maxEntries?: number;
  startingToken?: string;
}
export interface ListVolumesResponse {
  entries: { volume: Volume }[];
  nextToken: string;
}

// ---------------------------------------------------------------- snapshots

export interface Timestamp {
  seconds: number;
  nanos: number;
}
export interface Snapshot {
  sizeBytes: number;
  snapshotId: string;
  sourceVolumeId: string;
  creationTime: Timestamp;
  readyToUse: boolean;
  groupSnapshotId?: string;
}
export interface CreateSnapshotRequest {
  sourceVolumeId?: string;
  name?: string;
  secrets?: StringMap;
  parameters?: StringMap;
}
export interface CreateSnapshotResponse {
  snapshot: Snapshot;
}
export interface DeleteSnapshotRequest {
  snapshotId?: string;
  secrets?: StringMap;
}
export type DeleteSnapshotResponse = Record<string, never>;
export interface ListSnapshotsRequest {
  maxEntries?: number;
  startingToken?: string;
  sourceVolumeId?: string;
  snapshotId?: string;
  secrets?: StringMap;
}
export interface ListSnapshotsResponse {
  entries: { snapshot: Snapshot }[];
  nextToken: string;
}

// ---------------------------------------------------------------- node

export interface NodePublishVolumeRequest {
  volumeId?: string;
  publishContext?: StringMap;
  stagingTargetPath?: string;
  targetPath?: string;
  volumeCapability?: VolumeCapability | null;
  readonly?: boolean;
  secrets?: StringMap;
  volumeContext?: StringMap;
}
export type NodePublishVolumeResponse = Record<string, never>;
export interface NodeUnpublishVolumeRequest {
  volumeId?: string;
  targetPath?: string;
}
export type NodeUnpublishVolumeResponse = Record<string, never>;
export interface NodeGetVolumeStatsRequest {
  volumeId?: string;
  volumePath?: string;
  stagingTargetPath?: string;
}
export interface VolumeUsage {
  available: number;
  total: number;
  used: number;
  unit: 'UNKNOWN' | 'BYTES' | 'INODES';
}
export interface NodeGetVolumeStatsResponse {
  usage: VolumeUsage[];
  volumeCondition?: VolumeCondition | null;
}
export type NodeRpcType =
  | 'UNKNOWN'
  | 'STAGE_UNSTAGE_VOLUME'
  | 'GET_VOLUME_STATS'
  | 'EXPAND_VOLUME'
  | 'VOLUME_CONDITION'
  | 'SINGLE_NODE_MULTI_WRITER'
  | 'VOLUME_MOUNT_GROUP';
export type NodeGetCapabilitiesRequest = Record<string, never>;
export interface NodeGetCapabilitiesResponse {
  capabilities: { rpc: { type: NodeRpcType } }[];
}
export type NodeGetInfoRequest = Record<string, never>;
export interface NodeGetInfoResponse {
  nodeId: string;
  maxVolumesPerNode?: number;
  accessibleTopology?: Topology | null;
}
