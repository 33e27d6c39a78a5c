-- Rollback, promote, cancel and compensation: when a deployment was cancelled or cleaned up, the
-- compensate step in the timeline, and every move of a project's live pointer.

alter table deployments
  add column cancelled_at    timestamptz,
  add column compensated_at  timestamptz;

alter table deployment_steps drop constraint deployment_steps_step_check;
alter table deployment_steps add constraint deployment_steps_step_check
  check (step in ('build', 'krane-create', 'await-instances', 'scrape-openapi', 'assign-domains', 'go-live', 'compensate'));

-- One row per LiveSwitched (deploy, rollback or promote), at the stream sequence of its envelope.
create table live_history (
  project_id          text not null,
  stream_seq          bigint not null,
  at                  timestamptz not null,
  from_deployment_id  text,
  to_deployment_id    text not null,
  reason              text not null check (reason in ('deploy', 'rollback', 'promote')),
  primary key (project_id, stream_seq)
);
