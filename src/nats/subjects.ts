/**
 * Every NATS name Berth uses, in one place: streams, subjects, buckets. Part of the wire contract.
 */
export const streams = {
  commands: "BERTH_COMMANDS",
  events: "BERTH_EVENTS",
  deadLetters: "BERTH_DLQ"
} as const

export const subjects = {
  command: (projectId: string) => `berth.cmd.${projectId}`,
  commandsAll: "berth.cmd.>",
  /**
   * Where a server with Berth's partition mapping (src/partitions/) stores `berth.cmd.<projectId>`:
   * publishers never use it, the intake of the partition's owner consumes it.
   */
  partitionedCommand: (partition: number | string, projectId: string) => `berth.pcmd.${partition}.${projectId}`,
  partitionCommands: (partition: number) => `berth.pcmd.${partition}.*`,
  partitionedCommandsAll: "berth.pcmd.>",
  events: (projectId: string) => `berth.evt.${projectId}`,
  eventsAll: "berth.evt.>",
  deadLetter: (reason: string) => `berth.dlq.${reason}`,
  deadLettersAll: "berth.dlq.>"
} as const

export const buckets = {
  /** projectId -> snapshot of the project's hot state at a version. */
  snapshots: "berth_snapshots",
  /**
   * Retired deployments (src/domain/retirement.ts): `<projectId>.<deploymentId>` -> the deployment,
   * `<projectId>` -> the routes of the project's retired deployments. Derived from the log, like snapshots.
   */
  archive: "berth_archive",
  /** projectId -> the project's route table (RoutingService). */
  routes: "berth_routes",
  /** projectId -> marker present while the project has deployments in flight (resumed at start). */
  inflight: "berth_inflight",
  /**
   * projectId -> {reason, since, seq?}: a project whose log cannot be decoded; its commands are
   * rejected (`project_unavailable`) until its log decodes again. Deleted when lifted.
   */
  quarantine: "berth_quarantine",
  /** Object store: OpenAPI documents scraped from deployments. */
  openApi: "berth_openapi",
  /** `<role>.<instance>` -> the role process's last health report (entries expire: src/health/). */
  health: "berth_health",
  /** tokenId -> an API token's sha256 hash, workspace, role and expiry, never the token; owned by the API role (src/auth/TokenStore.ts). */
  tokens: "berth_tokens",
  /** hostname -> the project holding its claim (first owner wins), owned by the orchestrator. */
  hostnames: "berth_hostnames",
  /**
   * `partitions.<n>` -> the orchestrator holding partition n's lease, `members.<instance>` -> an
   * orchestrator taking part (src/partitions/). The bucket's max_age is the lease TTL.
   */
  partitions: "berth_partitions"
} as const

/** The stream behind a KV bucket / an object store (nats.js naming). */
export const kvStream = (bucket: string): string => `KV_${bucket}`
export const objectStream = (bucket: string): string => `OBJ_${bucket}`

/** The project id is the last token of a project subject. */
export const projectIdOfSubject = (subject: string): string => subject.slice(subject.lastIndexOf(".") + 1)
