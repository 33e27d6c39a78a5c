/**
 * `berth nats config`: the `authorization` block for an external nats-server, with Berth's users and
 * the permissions each needs (the same table Berth's own server is configured from), so a platform
 * team does not copy subjects by hand. Passwords are config variables defined elsewhere (an included
 * file); the block holds no secret. No API, no NATS connection.
 */
import { defineCommand, exitCodes, integerOption, usageError } from "../command.js"
import { externalAuthorizationBlock } from "../../local/natsUsers.js"
import { mappingConfig } from "../../partitions/partitioning.js"

export const natsConfig = defineCommand({
  name: "nats config",
  summary: "print the nats-server users and permissions Berth needs, for an external server",
  usage: "",
  description: [
    "Prints an `authorization { users: [...] }` block for nats-server: one user per role (orchestrator,",
    "projector, api, gateway), `publisher` for services that send commands and `admin` for operators, each",
    "with the subjects it may use. Passwords are config variables (BERTH_NATS_<USER>_PASSWORD: \"…\"),",
    "defined before the block, e.g. in an included file only nats-server can read. Give each Berth role",
    "its user: BERTH_NATS_USERS_DIR=<dir of <role>.password files> (one `berth up` for several roles), or",
    "NATS_USER, NATS_PASSWORD and NATS_INBOX_PREFIX=_INBOX_<user> (one role per process).",
    "With --partitions <n>, also the `mappings` block that partitions commands (berth.cmd.* ->",
    "berth.pcmd.<partition>.*) so several orchestrators share the projects; start them with",
    "BERTH_PARTITIONS=<n>. Put it in every node's config of a cluster."
  ],
  positionals: { min: 0, max: 0 },
  options: {
    partitions: { kind: "string", value: "<n>", description: "also print the partition mapping for n partitions (BERTH_PARTITIONS, e.g. 64)" }
  },
  examples: [
    "berth nats config >> /etc/nats/nats-server.conf   # after: include ./berth-passwords.conf",
    "berth nats config --partitions 64 >> /etc/nats/nats-server.conf"
  ],
  run: async ({ options }, context) => {
    const partitions = integerOption("nats config", "partitions", options.partitions)
    if (partitions !== undefined && (partitions < 1 || partitions > 1024)) throw usageError("nats config", "--partitions must be between 1 and 1024")
    context.out(externalAuthorizationBlock())
    if (partitions !== undefined) {
      context.out(`# Partitioned project ownership (README "Running on several machines"): orchestrators run with BERTH_PARTITIONS=${partitions}.`)
      context.out(mappingConfig(partitions))
    }
    return exitCodes.ok
  }
})
