-- The read model: what the projector derives from BERTH_EVENTS and the status API reads.
-- Every row is rebuildable from the log (see rebuild.ts); timestamps are the envelopes' `at`.

create table projects (
  project_id          text primary key,
  workspace           text not null,
  slug                text not null,
  apex_domain         text not null,
  default_branch      text not null,
  openapi_path        text,
  live_deployment_id  text,
  rolled_back         boolean not null default false,
  created_at          timestamptz not null,
  updated_at          timestamptz not null,
  -- stream sequence of the last envelope applied to this project
  version             bigint not null
);

create table environments (
  environment_id  text not null,
  project_id      text not null references projects (project_id) on delete cascade,
  slug            text not null,
  kind            text not null check (kind in ('production', 'preview')),
  primary key (project_id, environment_id)
);

create table deployments (
  deployment_id   text primary key,
  project_id      text not null,
  environment_id  text not null,
  status          text not null check (status in ('pending', 'building', 'deploying', 'ready', 'failed', 'cancelled')),
  source          jsonb not null,
  git_sha         text,
  git_branch      text,
  git_message     text,
  replicas        integer not null,
  port            integer not null,
  failed_step     text,
  failure_reason  text,
  created_at      timestamptz not null,
  updated_at      timestamptz not null,
  building_at     timestamptz,
  deploying_at    timestamptz,
  ready_at        timestamptz,
  failed_at       timestamptz
);
create index deployments_project_created on deployments (project_id, created_at desc, deployment_id desc);

create table deployment_steps (
  deployment_id  text not null,
  step           text not null check (step in ('build', 'krane-create', 'await-instances', 'scrape-openapi', 'assign-domains', 'go-live')),
  started_at     timestamptz not null,
  ended_at       timestamptz,
  error          text,
  primary key (deployment_id, step)
);

create table instances (
  instance_id    text not null,
  deployment_id  text not null,
  address        text not null,
  status         text not null,
  updated_at     timestamptz not null,
  primary key (deployment_id, instance_id)
);

create table domains (
  hostname        text primary key,
  project_id      text not null,
  environment_id  text not null,
  deployment_id   text not null,
  sticky          text not null,
  updated_at      timestamptz not null
);
create index domains_deployment on domains (deployment_id);

create table openapi_specs (
  deployment_id  text primary key,
  path           text not null,
  object_name    text not null,
  -- null when the object was missing from the bucket when projected
  content        bytea,
  size_bytes     integer not null,
  sha256         text not null,
  captured_at    timestamptz not null
);

-- Every event, append-only: (stream sequence of the envelope, index within it).
create table audit_events (
  stream_seq  bigint not null,
  idx         integer not null,
  project_id  text not null,
  event_type  text not null,
  command_id  text,
  at          timestamptz not null,
  payload     jsonb not null,
  primary key (stream_seq, idx)
);
create index audit_events_project on audit_events (project_id, stream_seq);

create table projection_checkpoints (
  name        text primary key,
  stream_seq  bigint not null
);
