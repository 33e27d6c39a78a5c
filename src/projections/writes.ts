/**
 * The SQL writes of a batch: what the fold changed in the row cache since the last flush, as a few
 * set-based statements per table (one insert of the new rows, one update of the changed ones with only
 * the columns the fold can change, one delete where rows can go). Parameters are array literals, built
 * now (arrays.ts).
 */
import type { Statement } from "./Database.js"
import { bools, jsonValues, numbers, texts, times } from "./arrays.js"
import type { ReadModelRows } from "./rowCache.js"

/**
 * The batch's outcome, a few statements per table in a fixed order (projects before their environments).
 * Updates set only the columns the fold changes on an existing row; the others are written once, on
 * insert. Instants travel as epoch milliseconds (`to_timestamp(x / 1000)`, see arrays.ts).
 */
export const writes = async (state: ReadModelRows, pause: () => Promise<void>): Promise<Array<Statement>> => {
  const statements: Array<Statement> = []
  const projects = state.projects.flush()
  if (projects.inserts.length > 0) {
    const p = projects.inserts
    const [ids, workspaces, slugs, apexes, branches, paths, lives, rolledBack, created, updated, versions] = [
      texts(p, (r) => r.project_id), texts(p, (r) => r.workspace), texts(p, (r) => r.slug), texts(p, (r) => r.apex_domain),
      texts(p, (r) => r.default_branch), texts(p, (r) => r.openapi_path), texts(p, (r) => r.live_deployment_id),
      bools(p, (r) => r.rolled_back), times(p, (r) => r.created_at), times(p, (r) => r.updated_at), numbers(p, (r) => r.version)
    ]
    statements.push((tx) => tx`
      insert into projects (project_id, workspace, slug, apex_domain, default_branch, openapi_path, live_deployment_id, rolled_back,
        created_at, updated_at, version)
      select id, w, s, ad, db, op, ld, rb, to_timestamp(ca / 1000), to_timestamp(ua / 1000), v
      from unnest(${ids}::text[], ${workspaces}::text[], ${slugs}::text[], ${apexes}::text[], ${branches}::text[], ${paths}::text[],
        ${lives}::text[], ${rolledBack}::bool[], ${created}::float8[], ${updated}::float8[], ${versions}::bigint[])
        as u(id, w, s, ad, db, op, ld, rb, ca, ua, v)`)
  }
  if (projects.updates.length > 0) {
    const p = projects.updates
    const [ids, lives, rolledBack, updated, versions] = [
      texts(p, (r) => r.project_id), texts(p, (r) => r.live_deployment_id), bools(p, (r) => r.rolled_back),
      times(p, (r) => r.updated_at), numbers(p, (r) => r.version)
    ]
    statements.push((tx) => tx`
      update projects p set live_deployment_id = u.ld, rolled_back = u.rb, updated_at = to_timestamp(u.ua / 1000), version = u.v
      from unnest(${ids}::text[], ${lives}::text[], ${rolledBack}::bool[], ${updated}::float8[], ${versions}::bigint[])
        as u(id, ld, rb, ua, v)
      where p.project_id = u.id`)
  }
  await pause()
  const environments = state.environments.flush()
  if (environments.length > 0) {
    const e = environments
    const [ids, projectIds, slugs, kinds] = [
      texts(e, (r) => r.environment_id), texts(e, (r) => r.project_id), texts(e, (r) => r.slug), texts(e, (r) => r.kind)
    ]
    statements.push((tx) => tx`
      insert into environments (environment_id, project_id, slug, kind)
      select * from unnest(${ids}::text[], ${projectIds}::text[], ${slugs}::text[], ${kinds}::text[])
      on conflict (project_id, environment_id) do update set slug = excluded.slug, kind = excluded.kind`)
  }
  await pause()
  const deployments = state.deployments.flush()
  if (deployments.inserts.length > 0) {
    const d = deployments.inserts
    const [ids, projectIds, environmentIds, statuses, sources, shas, branches, messages, replicas, ports, failedSteps, reasons] = [
      texts(d, (r) => r.deployment_id), texts(d, (r) => r.project_id), texts(d, (r) => r.environment_id), texts(d, (r) => r.status),
      jsonValues(d, (r) => r.source), texts(d, (r) => r.git_sha), texts(d, (r) => r.git_branch), texts(d, (r) => r.git_message),
      numbers(d, (r) => r.replicas), numbers(d, (r) => r.port), texts(d, (r) => r.failed_step), texts(d, (r) => r.failure_reason)
    ]
    const [created, updated, building, deploying, ready, failed, cancelled, compensated] = [
      times(d, (r) => r.created_at), times(d, (r) => r.updated_at), times(d, (r) => r.building_at), times(d, (r) => r.deploying_at),
      times(d, (r) => r.ready_at), times(d, (r) => r.failed_at), times(d, (r) => r.cancelled_at), times(d, (r) => r.compensated_at)
    ]
    statements.push((tx) => tx`
      insert into deployments (deployment_id, project_id, environment_id, status, source, git_sha, git_branch, git_message, replicas, port,
        failed_step, failure_reason, created_at, updated_at, building_at, deploying_at, ready_at, failed_at, cancelled_at, compensated_at)
      select d, p, e, s, j, gs, gb, gm, r, po, fs, fr, to_timestamp(ca / 1000), to_timestamp(ua / 1000), to_timestamp(ba / 1000),
        to_timestamp(da / 1000), to_timestamp(ra / 1000), to_timestamp(fa / 1000), to_timestamp(cc / 1000), to_timestamp(co / 1000)
      from rows from (unnest(${ids}::text[]), unnest(${projectIds}::text[]), unnest(${environmentIds}::text[]),
        unnest(${statuses}::text[]), jsonb_array_elements(${sources}::text::jsonb), unnest(${shas}::text[]),
        unnest(${branches}::text[]), unnest(${messages}::text[]), unnest(${replicas}::int[]), unnest(${ports}::int[]),
        unnest(${failedSteps}::text[]), unnest(${reasons}::text[]), unnest(${created}::float8[]), unnest(${updated}::float8[]),
        unnest(${building}::float8[]), unnest(${deploying}::float8[]), unnest(${ready}::float8[]), unnest(${failed}::float8[]),
        unnest(${cancelled}::float8[]), unnest(${compensated}::float8[]))
        as u(d, p, e, s, j, gs, gb, gm, r, po, fs, fr, ca, ua, ba, da, ra, fa, cc, co)`)
  }
  if (deployments.updates.length > 0) {
    const d = deployments.updates
    const [projectIds, ids, statuses, failedSteps, reasons] = [
      texts(d, (r) => r.project_id), texts(d, (r) => r.deployment_id), texts(d, (r) => r.status), texts(d, (r) => r.failed_step),
      texts(d, (r) => r.failure_reason)
    ]
    const [updated, building, deploying, ready, failed, cancelled, compensated] = [
      times(d, (r) => r.updated_at), times(d, (r) => r.building_at), times(d, (r) => r.deploying_at), times(d, (r) => r.ready_at),
      times(d, (r) => r.failed_at), times(d, (r) => r.cancelled_at), times(d, (r) => r.compensated_at)
    ]
    statements.push((tx) => tx`
      update deployments d set status = u.s, failed_step = u.fs, failure_reason = u.fr, updated_at = to_timestamp(u.ua / 1000),
        building_at = to_timestamp(u.ba / 1000), deploying_at = to_timestamp(u.da / 1000), ready_at = to_timestamp(u.ra / 1000),
        failed_at = to_timestamp(u.fa / 1000), cancelled_at = to_timestamp(u.cc / 1000), compensated_at = to_timestamp(u.co / 1000)
      from unnest(${projectIds}::text[], ${ids}::text[], ${statuses}::text[], ${failedSteps}::text[], ${reasons}::text[],
        ${updated}::float8[], ${building}::float8[], ${deploying}::float8[], ${ready}::float8[], ${failed}::float8[],
        ${cancelled}::float8[], ${compensated}::float8[]) as u(p, id, s, fs, fr, ua, ba, da, ra, fa, cc, co)
      where d.project_id = u.p and d.deployment_id = u.id`)
  }
  await pause()
  const steps = state.steps.flush()
  if (steps.inserts.length > 0) {
    const s = steps.inserts
    const [projectIds, ids, names, started, ended, errors] = [
      texts(s, (r) => r.project_id), texts(s, (r) => r.deployment_id), texts(s, (r) => r.step), times(s, (r) => r.started_at),
      times(s, (r) => r.ended_at), texts(s, (r) => r.error)
    ]
    statements.push((tx) => tx`
      insert into deployment_steps (project_id, deployment_id, step, started_at, ended_at, error)
      select p, d, st, to_timestamp(sa / 1000), to_timestamp(ea / 1000), er
      from unnest(${projectIds}::text[], ${ids}::text[], ${names}::text[], ${started}::float8[], ${ended}::float8[], ${errors}::text[])
        as u(p, d, st, sa, ea, er)`)
  }
  if (steps.updates.length > 0) {
    const s = steps.updates
    const [projectIds, ids, names, ended, errors] = [
      texts(s, (r) => r.project_id), texts(s, (r) => r.deployment_id), texts(s, (r) => r.step), times(s, (r) => r.ended_at),
      texts(s, (r) => r.error)
    ]
    statements.push((tx) => tx`
      update deployment_steps s set ended_at = to_timestamp(u.ea / 1000), error = u.er
      from unnest(${projectIds}::text[], ${ids}::text[], ${names}::text[], ${ended}::float8[], ${errors}::text[]) as u(p, d, st, ea, er)
      where s.project_id = u.p and s.deployment_id = u.d and s.step = u.st`)
  }
  await pause()
  const instances = state.instances.flush()
  if (instances.deletes.length > 0) {
    const i = instances.deletes
    const [projectIds, deploymentIds, ids] = [texts(i, (r) => r.project_id), texts(i, (r) => r.deployment_id), texts(i, (r) => r.instance_id)]
    statements.push((tx) => tx`
      delete from instances i using unnest(${projectIds}::text[], ${deploymentIds}::text[], ${ids}::text[]) as u(p, d, n)
      where i.project_id = u.p and i.deployment_id = u.d and i.instance_id = u.n`)
  }
  if (instances.inserts.length > 0) {
    const i = instances.inserts
    const [projectIds, ids, deploymentIds, addresses, statuses, updated] = [
      texts(i, (r) => r.project_id), texts(i, (r) => r.instance_id), texts(i, (r) => r.deployment_id), texts(i, (r) => r.address),
      texts(i, (r) => r.status), times(i, (r) => r.updated_at)
    ]
    statements.push((tx) => tx`
      insert into instances (project_id, instance_id, deployment_id, address, status, updated_at)
      select p, n, d, a, s, to_timestamp(ua / 1000)
      from unnest(${projectIds}::text[], ${ids}::text[], ${deploymentIds}::text[], ${addresses}::text[], ${statuses}::text[],
        ${updated}::float8[]) as u(p, n, d, a, s, ua)`)
  }
  if (instances.updates.length > 0) {
    const i = instances.updates
    const [projectIds, deploymentIds, ids, addresses, statuses, updated] = [
      texts(i, (r) => r.project_id), texts(i, (r) => r.deployment_id), texts(i, (r) => r.instance_id), texts(i, (r) => r.address),
      texts(i, (r) => r.status), times(i, (r) => r.updated_at)
    ]
    statements.push((tx) => tx`
      update instances i set address = u.a, status = u.s, updated_at = to_timestamp(u.ua / 1000)
      from unnest(${projectIds}::text[], ${deploymentIds}::text[], ${ids}::text[], ${addresses}::text[], ${statuses}::text[],
        ${updated}::float8[]) as u(p, d, n, a, s, ua)
      where i.project_id = u.p and i.deployment_id = u.d and i.instance_id = u.n`)
  }
  await pause()
  const domains = state.domains.flush()
  if (domains.deletes.length > 0) {
    const hostnames = texts(domains.deletes, (r) => r.hostname)
    statements.push((tx) => tx`delete from domains where hostname = any(${hostnames}::text[])`)
  }
  if (domains.inserts.length > 0 || domains.updates.length > 0) {
    // A few rows per deployment: one upsert for new and changed ones.
    const h = [...domains.inserts, ...domains.updates]
    const [hostnames, projectIds, environmentIds, deploymentIds, stickies, updated] = [
      texts(h, (r) => r.hostname), texts(h, (r) => r.project_id), texts(h, (r) => r.environment_id), texts(h, (r) => r.deployment_id),
      texts(h, (r) => r.sticky), times(h, (r) => r.updated_at)
    ]
    statements.push((tx) => tx`
      insert into domains (hostname, project_id, environment_id, deployment_id, sticky, updated_at)
      select h, p, e, d, s, to_timestamp(ua / 1000)
      from unnest(${hostnames}::text[], ${projectIds}::text[], ${environmentIds}::text[], ${deploymentIds}::text[],
        ${stickies}::text[], ${updated}::float8[]) as u(h, p, e, d, s, ua)
      on conflict (hostname) do update set project_id = excluded.project_id, environment_id = excluded.environment_id,
        deployment_id = excluded.deployment_id, sticky = excluded.sticky, updated_at = excluded.updated_at`)
  }
  await pause()
  const specs = state.specs.flush()
  if (specs.length > 0) {
    const s = specs
    const [projectIds, ids, paths, objects, contents, sizes, shas, captured] = [
      texts(s, (r) => r.project_id), texts(s, (r) => r.deployment_id), texts(s, (r) => r.path), texts(s, (r) => r.object_name),
      texts(s, (r) => (r.content === null ? null : Buffer.from(r.content).toString("hex"))), numbers(s, (r) => r.size_bytes),
      texts(s, (r) => r.sha256), times(s, (r) => r.captured_at)
    ]
    statements.push((tx) => tx`
      insert into openapi_specs (project_id, deployment_id, path, object_name, content, size_bytes, sha256, captured_at)
      select pr, d, p, o, decode(c, 'hex'), s, h, to_timestamp(a / 1000)
      from unnest(${projectIds}::text[], ${ids}::text[], ${paths}::text[], ${objects}::text[], ${contents}::text[], ${sizes}::int[],
        ${shas}::text[], ${captured}::float8[]) as u(pr, d, p, o, c, s, h, a)
      on conflict (project_id, deployment_id) do update set path = excluded.path, object_name = excluded.object_name, content = excluded.content,
        size_bytes = excluded.size_bytes, sha256 = excluded.sha256, captured_at = excluded.captured_at`)
  }
  const history = state.liveHistory.flush()
  if (history.length > 0) {
    const h = history
    const [projectIds, seqs, at, from, to, reasons] = [
      texts(h, (r) => r.project_id), numbers(h, (r) => r.stream_seq), times(h, (r) => r.at), texts(h, (r) => r.from_deployment_id),
      texts(h, (r) => r.to_deployment_id), texts(h, (r) => r.reason)
    ]
    statements.push((tx) => tx`
      insert into live_history (project_id, stream_seq, at, from_deployment_id, to_deployment_id, reason)
      select p, s, to_timestamp(a / 1000), f, t, r
      from unnest(${projectIds}::text[], ${seqs}::bigint[], ${at}::float8[], ${from}::text[], ${to}::text[], ${reasons}::text[])
        as u(p, s, a, f, t, r)
      on conflict (project_id, stream_seq) do nothing`)
  }
  return statements
}
