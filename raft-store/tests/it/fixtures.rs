//! Shared builders for the integration tests.

use std::collections::BTreeMap;

use raft_store::command::Command;
use raft_store::command::TickSkip;
use raft_store::state::*;
use raft_store::Tick;

pub fn spec(project: &str) -> ScheduleSpec {
    ScheduleSpec {
        project: project.into(),
        spider: "quotes".into(),
        egg_version: Some("1700000000".into()),
        args: BTreeMap::from([("category".into(), "books".into())]),
        settings: BTreeMap::from([("DOWNLOAD_DELAY".into(), "0.5".into())]),
        priority: 2,
        node_selector: vec!["eu".into()],
        trigger: Trigger::Cron { expr: "0 */5 * * * *".into(), timezone: "Europe/Berlin".into() },
        misfire: MisfirePolicy::FireAll { cap: 100 },
        overlap: OverlapPolicy::Forbid,
    }
}

pub fn node_spec() -> NodeSpec {
    NodeSpec {
        url: "http://10.0.0.5:6800".into(),
        username: Some("scrapy".into()),
        password: Some(Secret("s3cret".into())),
        tags: vec!["eu".into(), "big".into()],
        max_proc: Some(8),
    }
}

pub fn tick(id: &str, tick_ms: i64, v: u64) -> Tick {
    Tick { schedule_id: id.into(), tick_ms, schedule_version: v }
}

/// One example of every `Command` variant, named.
pub fn every_command() -> Vec<(&'static str, Command)> {
    vec![
        ("create_schedule", Command::CreateSchedule { spec: spec("demo") }),
        (
            "create_schedule_once",
            Command::CreateSchedule {
                spec: ScheduleSpec {
                    trigger: Trigger::Once { at_ms: 1_800_000_000_000 },
                    misfire: MisfirePolicy::Skip,
                    overlap: OverlapPolicy::Replace,
                    ..spec("demo")
                },
            },
        ),
        (
            "update_schedule",
            Command::UpdateSchedule { id: "sch-1".into(), expected_version: Some(3), spec: spec("demo") },
        ),
        ("pause_schedule", Command::PauseSchedule { id: "sch-1".into() }),
        ("resume_schedule", Command::ResumeSchedule { id: "sch-1".into() }),
        ("delete_schedule", Command::DeleteSchedule { id: "sch-1".into(), expected_version: None }),
        ("fire", Command::Fire(tick("sch-1", 1_700_000_000_000, 2))),
        ("fire_batch", Command::FireBatch { ticks: vec![tick("sch-1", 1, 1), tick("sch-2", 2, 1)] }),
        (
            "skip_tick",
            Command::SkipTick { tick: tick("sch-1", 3, 1), reason: SkipReason::Overlap { job_id: "sch-1-t2".into() } },
        ),
        (
            "skip_tick_misfire",
            Command::SkipTick { tick: tick("sch-1", 4, 1), reason: SkipReason::Misfire { late_ms: 90_000 } },
        ),
        (
            "skip_batch",
            Command::SkipBatch {
                skips: vec![
                    TickSkip { tick: tick("sch-1", 5, 1), reason: SkipReason::PassedOver { ticks: 3, since_ms: 2 } },
                    TickSkip { tick: tick("sch-2", 6, 1), reason: SkipReason::Misfire { late_ms: 90_000 } },
                ],
            },
        ),
        (
            "batch",
            Command::Batch {
                commands: vec![
                    Command::Dispatched { job_id: "sch-1-t3".into(), node_id: "slave-1".into() },
                    Command::DispatchFailed { job_id: "sch-1-t4".into(), reason: "no live node".into() },
                ],
            },
        ),
        ("dispatched", Command::Dispatched { job_id: "sch-1-t3".into(), node_id: "slave-1".into() }),
        ("dispatch_failed", Command::DispatchFailed { job_id: "sch-1-t3".into(), reason: "no live node".into() }),
        ("register_node", Command::RegisterNode { id: "slave-1".into(), spec: node_spec() }),
        ("update_node", Command::UpdateNode { id: "slave-1".into(), spec: node_spec() }),
        ("remove_node", Command::RemoveNode { id: "slave-1".into() }),
        ("mark_node_up", Command::MarkNodeUp { id: "slave-1".into() }),
        ("mark_node_down", Command::MarkNodeDown { id: "slave-1".into(), reason: "connection refused".into() }),
        (
            "add_version",
            Command::AddVersion {
                project: "demo".into(),
                version: "1700000000".into(),
                egg: b"PK\x03\x04egg".to_vec(),
            },
        ),
        ("delete_version", Command::DeleteVersion { project: "demo".into(), version: "1700000000".into() }),
        ("delete_project", Command::DeleteProject { project: "demo".into() }),
        (
            "record_deployment",
            Command::RecordDeployment {
                project: "demo".into(),
                version: "1700000000".into(),
                node_id: "slave-1".into(),
                deployment: Deployment::Deployed { spiders: vec!["quotes".into()], at_ms: 5 },
            },
        ),
        (
            "record_deployment_failed",
            Command::RecordDeployment {
                project: "demo".into(),
                version: "1700000000".into(),
                node_id: "slave-1".into(),
                deployment: Deployment::Failed { reason: "HTTP 500".into(), at_ms: 6 },
            },
        ),
        (
            "report_job",
            Command::ReportJob(JobReport {
                job_id: "sch-1-t3".into(),
                node_id: "slave-1".into(),
                project: "demo".into(),
                spider: "quotes".into(),
                state: JobState::Finished,
                start_ms: Some(10),
                end_ms: Some(20),
                outcome: Some(JobOutcome {
                    exit_code: Some(0),
                    signal: None,
                    finish_reason: Some("finished".into()),
                    items: Some(10),
                    responses: Some(11),
                    errors: Some(0),
                    log_counts: BTreeMap::from([("INFO".into(), 40)]),
                }),
            }),
        ),
        ("cancel_job", Command::CancelJob { job_id: "sch-1-t3".into() }),
        (
            "cancelled",
            Command::Cancelled { job_id: "sch-1-t3".into(), node_id: "slave-1".into(), prevstate: "running".into() },
        ),
        ("cancel_failed", Command::CancelFailed { job_id: "sch-1-t3".into(), reason: "slave-1: unreachable".into() }),
        (
            "create_user",
            Command::CreateUser {
                username: "ann".into(),
                password_hash: "$argon2id$v=19$x".into(),
                role: Role::Operator,
            },
        ),
        ("update_user", Command::UpdateUser { username: "ann".into(), password_hash: None, role: Some(Role::Admin) }),
        ("delete_user", Command::DeleteUser { username: "ann".into() }),
        (
            "create_token",
            Command::CreateToken {
                token_id: "tok_1".into(),
                username: "ann".into(),
                secret_sha256: "00ff".into(),
                name: "ci".into(),
            },
        ),
        ("revoke_token", Command::RevokeToken { token_id: "tok_1".into() }),
        ("put_alert_channel", Command::PutAlertChannel { name: "ops-mail".into(), channel: mail_channel() }),
        ("delete_alert_channel", Command::DeleteAlertChannel { name: "ops-mail".into() }),
        (
            "put_alert_rule",
            Command::PutAlertRule {
                rule: ::alerts::route::Rule::new("nodes", &[::alerts::event::EventKind::NodeDown], &["ops-mail"]),
            },
        ),
        ("delete_alert_rule", Command::DeleteAlertRule { name: "nodes".into() }),
        (
            "create_silence",
            Command::CreateSilence {
                silence: ::alerts::silence::Silence {
                    id: String::new(),
                    matchers: vec![::alerts::silence::Matcher::eq(::alerts::silence::MatchLabel::Node, "slave-1")],
                    starts_at_ms: 1_700_000_000_000,
                    ends_at_ms: 1_700_003_600_000,
                    created_by: "ann".into(),
                    comment: "rack maintenance".into(),
                },
            },
        ),
        ("expire_silence", Command::ExpireSilence { id: "sil-12".into() }),
        (
            "alert_step",
            Command::AlertStep {
                leader: Some(raft_store::state::alerts::LeaderMark {
                    term: 7,
                    node_id: 2,
                    since_ms: 1_700_000_000_000,
                }),
                inputs: vec![
                    ::alerts::group::Input::Event { event: node_down() },
                    ::alerts::group::Input::DeliveryOutcome {
                        delivery_id: ::alerts::delivery::DeliveryId::new("failover:term-6", "ops-mail"),
                        outcome: ::alerts::delivery::DeliveryOutcome::Failed {
                            error: "421 try later".into(),
                            retryable: true,
                        },
                    },
                ],
            },
        ),
        (
            "put_spider_thresholds",
            Command::PutSpiderThresholds {
                scope: "project:demo".into(),
                thresholds: Some(::alerts::spider_error::SpiderErrorThresholds {
                    min_items: Some(1),
                    ..Default::default()
                }),
            },
        ),
        (
            "ack_alert",
            Command::AckAlert { id: "node:slave-1:down:1".into(), by: "ann".into(), comment: "on it".into() },
        ),
        (
            "resolve_alert",
            Command::ResolveAlert { id: "node:slave-1:down:1".into(), by: "ann".into(), comment: String::new() },
        ),
    ]
}

/// An e-mail channel with a password (kept by the stored encoding).
pub fn mail_channel() -> StoredChannel {
    serde_json::from_value(serde_json::json!({
        "type": "email", "host": "127.0.0.1", "port": 2525, "security": "none",
        "username": "alerts", "password": "p4ss", "from": "spider@example.org", "to": ["oncall@example.org"]
    }))
    .expect("a valid channel")
}

pub fn node_down() -> ::alerts::event::AlertEvent {
    ::alerts::event::AlertEvent::NodeDown(::alerts::event::NodeEvent {
        node: "slave-1".into(),
        down_since_ms: 1,
        up_since_ms: None,
        failed_checks: 3,
        last_error: Some("connection refused".into()),
        lost_jobs: vec![],
    })
}
