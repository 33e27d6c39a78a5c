/**
 * NATS least privilege: what each of Berth's NATS users may publish and subscribe to, built from the
 * names in subjects.ts (so a renamed bucket cannot leave a stale grant behind). Berth's own
 * nats-server is configured from this table (src/local/natsUsers.ts); a platform team running an
 * external server copies it (README "NATS users").
 *
 * The rules that matter:
 * - only the orchestrator appends to BERTH_EVENTS, dead-letters, writes the route table and the
 *   other buckets it derives from the log, and creates or updates streams;
 * - the gateway only reads routes and hostname claims; the projector only reads;
 * - the API and publishers only publish `berth.cmd.<projectId>` (`*`: one token, extra tokens refused;
 *   `berth.pcmd.*.*` too, what a partitioning server's mapping makes of it);
 *   publishers read events (the API serves them from PostgreSQL); the API also owns its token bucket.
 * Every user gets `$JS.API.INFO` (the client's JetStream check) and replies on its own inbox prefix
 * `_INBOX_<user>.` only, so no user can read another's replies (connect with `inboxPrefix`).
 * Pure: no I/O.
 */
import { buckets, kvStream, objectStream, streams, subjects } from "./subjects.js"

/**
 * The roles' users, `publisher` for services that send commands, and `admin` for operators (repairs
 * such as deleting an undecodable event, inspecting dead letters with the `nats` CLI): used by no role.
 */
export const natsUsers = ["orchestrator", "projector", "api", "gateway", "publisher", "admin"] as const
export type NatsUser = (typeof natsUsers)[number]

export interface NatsPermissions {
  readonly publish: ReadonlyArray<string>
  readonly subscribe: ReadonlyArray<string>
}

/** The inbox prefix a user's connection must use (`inboxPrefix` / NATS_INBOX_PREFIX). */
export const inboxPrefixOf = (user: string): string => `_INBOX_${user}`

const api = "$JS.API"

/** Read a stream: info, message gets, and (ephemeral, ordered or durable) consumers with their acks. */
const readStream = (stream: string): ReadonlyArray<string> => [
  `${api}.STREAM.INFO.${stream}`,
  `${api}.STREAM.MSG.GET.${stream}`,
  `${api}.DIRECT.GET.${stream}`,
  `${api}.DIRECT.GET.${stream}.>`,
  `${api}.CONSUMER.CREATE.${stream}`,
  `${api}.CONSUMER.CREATE.${stream}.>`,
  `${api}.CONSUMER.DURABLE.CREATE.${stream}.>`,
  `${api}.CONSUMER.INFO.${stream}.>`,
  `${api}.CONSUMER.DELETE.${stream}.>`,
  `${api}.CONSUMER.MSG.NEXT.${stream}.>`,
  `${api}.CONSUMER.LIST.${stream}`,
  `${api}.CONSUMER.NAMES.${stream}`,
  `$JS.ACK.${stream}.>`,
  `$JS.FC.${stream}.>`
]

/** Own a stream: create and update it (settings brought up to date on every start) besides reading it. */
const ownStream = (stream: string): ReadonlyArray<string> => [
  `${api}.STREAM.CREATE.${stream}`,
  `${api}.STREAM.UPDATE.${stream}`,
  ...readStream(stream)
]

const kvSubjects = (bucket: string) => `$KV.${bucket}.>`

/** A KV bucket its owner creates, reads and writes. */
const ownBucket = (bucket: string): ReadonlyArray<string> => [...ownStream(kvStream(bucket)), kvSubjects(bucket)]
const readBucket = (bucket: string): ReadonlyArray<string> => readStream(kvStream(bucket))

/** Replacing an object purges its old chunks (a stream purge). */
const ownObjectStore = (bucket: string): ReadonlyArray<string> => [
  ...ownStream(objectStream(bucket)),
  `${api}.STREAM.PURGE.${objectStream(bucket)}`,
  `$O.${bucket}.>`
]
const readObjectStore = (bucket: string): ReadonlyArray<string> => readStream(objectStream(bucket))

/** A role writes its own health report only (`<role>.<instance>`), and reads the others'. */
const reportHealth = (role: string): ReadonlyArray<string> => [`$KV.${buckets.health}.${role}.>`, ...readBucket(buckets.health)]

/**
 * `berth.cmd.*`: exactly one token, so `berth.cmd.a.b.proj_x` is refused by the server. nats-server
 * checks a publish against the subject its mapping made of it, so on a server that partitions commands
 * (src/partitions/) `berth.cmd.proj_x` is checked as `berth.pcmd.<partition>.proj_x`: that form is
 * allowed too, and the intake refuses a partition that is not the project's own (commandSubject.ts).
 */
const publishCommands = [subjects.command("*"), subjects.partitionedCommand("*", "*")]

/** The partitioning probe (src/partitions/detect.ts): a message JetStream refuses to store, heard on both forms. */
const partitionProbe = publishCommands

const publishes: Readonly<Record<Exclude<NatsUser, "admin">, ReadonlyArray<string>>> = {
  orchestrator: [
    ...ownStream(streams.commands),
    // The intake erases a settled command that held cleartext env values (src/actors/cleartext.ts).
    `${api}.STREAM.MSG.DELETE.${streams.commands}`,
    ...ownStream(streams.events),
    ...ownStream(streams.deadLetters),
    subjects.eventsAll,
    subjects.deadLettersAll,
    ...ownBucket(buckets.snapshots),
    ...ownBucket(buckets.archive),
    ...ownBucket(buckets.routes),
    ...ownBucket(buckets.inflight),
    ...ownBucket(buckets.quarantine),
    ...ownBucket(buckets.health),
    ...ownBucket(buckets.hostnames),
    ...ownBucket(buckets.partitions),
    ...ownObjectStore(buckets.openApi),
    ...partitionProbe
  ],
  projector: [...reportHealth("projector"), ...readStream(streams.events), ...readObjectStore(buckets.openApi)],
  api: [
    ...publishCommands,
    ...ownBucket(buckets.tokens),
    ...reportHealth("api"),
    ...readBucket(buckets.quarantine)
  ],
  gateway: [...reportHealth("gateway"), ...readBucket(buckets.routes), ...readBucket(buckets.hostnames)],
  publisher: [...publishCommands, ...readStream(streams.events)]
}

/** Core subscriptions beyond the user's inbox: a publisher may follow `berth.evt.>` live (`npm run send -- … --follow`). */
const subscribes: Readonly<Record<Exclude<NatsUser, "admin">, ReadonlyArray<string>>> = {
  orchestrator: partitionProbe,
  projector: [],
  api: [],
  gateway: [],
  publisher: [subjects.eventsAll]
}

export const permissionsOf = (user: NatsUser): NatsPermissions =>
  user === "admin"
    ? { publish: [">"], subscribe: [">"] }
    : { publish: [`${api}.INFO`, ...publishes[user]], subscribe: [`${inboxPrefixOf(user)}.>`, ...subscribes[user]] }
