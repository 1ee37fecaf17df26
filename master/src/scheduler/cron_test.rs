use chrono::DateTime;
use raft_store::state::Schedule;
use raft_store::state::ScheduleSpec;
use raft_store::state::Trigger;

use super::*;
use crate::scheduler::plan::Ticks;

fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).expect("test time").timestamp_millis()
}

fn show(v: &[i64]) -> Vec<String> {
    v.iter().map(|t| DateTime::from_timestamp_millis(*t).expect("time").to_rfc3339()).collect()
}

fn cron(expr: &str, tz: &str) -> CompiledTrigger {
    compile(&Trigger::Cron { expr: expr.into(), timezone: tz.into() }).expect("compiles")
}

fn upcoming(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
    show(&cron(expr, tz).upcoming(ms(after), n))
}

fn utc(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| DateTime::parse_from_rfc3339(s).expect("time").to_utc().to_rfc3339()).collect()
}

#[test]
fn five_six_and_seven_fields() {
    assert_eq!(
        upcoming("30 9 * * *", "UTC", "2026-01-01T00:00:00Z", 2),
        utc(&["2026-01-01T09:30:00Z", "2026-01-02T09:30:00Z"])
    );
    assert_eq!(
        upcoming("*/15 * * * * *", "UTC", "2026-01-01T10:00:00Z", 3),
        utc(&["2026-01-01T10:00:15Z", "2026-01-01T10:00:30Z", "2026-01-01T10:00:45Z"])
    );
    assert_eq!(upcoming("0 0 12 1 1 * 2030", "UTC", "2026-01-01T00:00:00Z", 2), utc(&["2030-01-01T12:00:00Z"]));
    assert_eq!(upcoming("@daily", "UTC", "2026-01-01T00:00:00Z", 1), utc(&["2026-01-02T00:00:00Z"]));
    // Strictly after, at second precision even when `after` has milliseconds.
    let c = cron("* * * * *", "UTC");
    assert_eq!(c.next_after(ms("2026-01-01T10:00:00Z")), Some(ms("2026-01-01T10:01:00Z")));
    assert_eq!(c.next_after(ms("2026-01-01T09:59:59.500Z")), Some(ms("2026-01-01T10:00:00Z")));
}

#[test]
fn weekday_numbers_are_unix() {
    // 2026-01-01 is a Thursday; the 4th a Sunday.
    for sunday in ["0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "0 12 * * sunday"] {
        assert_eq!(upcoming(sunday, "UTC", "2026-01-01T00:00:00Z", 1), utc(&["2026-01-04T12:00:00Z"]), "{sunday}");
    }
    assert_eq!(
        upcoming("0 12 * * 5-7", "UTC", "2026-01-01T00:00:00Z", 4),
        utc(&["2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z", "2026-01-09T12:00:00Z"])
    );
    assert_eq!(
        upcoming("0 12 * * MON-FRI", "UTC", "2026-01-02T13:00:00Z", 2),
        utc(&["2026-01-05T12:00:00Z", "2026-01-06T12:00:00Z"])
    );
    assert_eq!(
        upcoming("0 12 * * */3", "UTC", "2026-01-01T13:00:00Z", 3),
        utc(&["2026-01-03T12:00:00Z", "2026-01-04T12:00:00Z", "2026-01-07T12:00:00Z"]),
        "*/3 = Sun, Wed, Sat"
    );
}

#[test]
fn day_of_month_or_day_of_week() {
    // Both restricted: the 13th OR a Friday (Jan 2, 9, 16 are Fridays; the 13th a Tuesday).
    assert_eq!(
        upcoming("0 0 13 * 5", "UTC", "2026-01-01T00:00:00Z", 4),
        utc(&["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"])
    );
    // A star-prefixed day of month is unrestricted for Vixie: AND (odd days that are Fridays).
    assert_eq!(upcoming("0 0 */2 * 5", "UTC", "2026-01-01T00:00:00Z", 1), utc(&["2026-01-09T00:00:00Z"]));
}

#[test]
fn time_zones() {
    assert_eq!(upcoming("0 9 * * *", "Europe/Berlin", "2026-01-10T00:00:00Z", 1), utc(&["2026-01-10T08:00:00Z"]));
    assert_eq!(upcoming("0 9 * * *", "Europe/Berlin", "2026-07-10T00:00:00Z", 1), utc(&["2026-07-10T07:00:00Z"]));
    assert_eq!(upcoming("0 9 * * *", "America/New_York", "2026-01-10T00:00:00Z", 1), utc(&["2026-01-10T14:00:00Z"]));
    let c = cron("0 9 * * *", "Europe/Berlin");
    assert_eq!(c.format(ms("2026-07-10T07:00:00Z")).as_deref(), Some("2026-07-10T09:00:00+02:00"));
}

#[test]
fn berlin_fall_back_fires_a_repeated_wall_time_once() {
    // 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z; 02:30 happens at 00:30Z and 01:30Z.
    assert_eq!(
        upcoming("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", 2),
        utc(&["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
    );
    assert_eq!(
        upcoming("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:45:00Z", 3),
        utc(&["2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z"]),
        "the second pass through 02:00-03:00 fires nothing"
    );
    // Asked from inside the second pass.
    assert_eq!(upcoming("*/30 * * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1), utc(&["2026-10-25T02:00:00Z"]));
}

#[test]
fn berlin_spring_forward_fires_a_missing_wall_time_once() {
    // 2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z; 02:30 does not exist.
    assert_eq!(
        upcoming("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", 2),
        utc(&["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"])
    );
    assert_eq!(
        upcoming("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:50:00Z", 3),
        utc(&["2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z"]),
        "02:00-02:45 collapse into one fire at 03:00 CEST"
    );
}

#[test]
fn new_york_dst_both_ways() {
    // 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00Z.
    assert_eq!(
        upcoming("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
        utc(&["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"])
    );
    // 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z; 01:30 happens at 05:30Z and 06:30Z.
    assert_eq!(
        upcoming("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
        utc(&["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
    );
}

#[test]
fn errors_name_the_field() {
    let now = ms("2026-01-01T00:00:00Z");
    let field = |t: Trigger| validate(&t, now).err().map(|e| e.field);
    let c = |e: &str, tz: &str| Trigger::Cron { expr: e.into(), timezone: tz.into() };
    for bad in ["61 * * * *", "* * *", "* * * * * * * *", "0 12 * * 8", "0 12 * * 5-2", "@sometimes", "0 0 30 2 *", ""]
    {
        assert_eq!(field(c(bad, "UTC")), Some("trigger.expr"), "{bad:?}");
    }
    assert_eq!(field(c("* * * * *", "Mars/Olympus")), Some("trigger.timezone"));
    assert_eq!(field(Trigger::Once { at_ms: now - 60_000 }), Some("trigger.at_ms"));
    assert_eq!(field(Trigger::Once { at_ms: now - 500 }), None, "a little latency is tolerated");
    assert_eq!(field(Trigger::Once { at_ms: now + 60_000 }), None);
    assert_eq!(field(c("0 0 12 1 1 * 2025", "UTC")), Some("trigger.expr"), "only in the past");
    let e = validate(&c("* * * * *", "Nowhere"), now).expect_err("bad zone");
    assert!(e.message.contains("Nowhere"), "{e}");
}

#[test]
fn once_fires_once() {
    let t = compile(&Trigger::Once { at_ms: 5000 }).expect("compiles");
    assert_eq!(t.upcoming(0, 5), vec![5000]);
    assert_eq!(t.next_after(5000), None);
}

fn schedule(version: u64, expr: &str) -> Schedule {
    Schedule {
        id: "sch-1".into(),
        version,
        spec: ScheduleSpec {
            project: "p".into(),
            spider: "s".into(),
            egg_version: None,
            args: Default::default(),
            settings: Default::default(),
            priority: 0,
            node_selector: vec![],
            trigger: Trigger::Cron { expr: expr.into(), timezone: "UTC".into() },
            misfire: Default::default(),
            overlap: Default::default(),
        },
        paused: false,
        created_at_ms: 0,
        updated_at_ms: 0,
        last_decided_tick: None,
    }
}

#[test]
fn cron_ticks_cache_by_version() {
    let ticks = CronTicks::new();
    let after = ms("2026-01-01T00:00:00Z");
    assert_eq!(ticks.next_after(&schedule(1, "0 * * * *"), after), Some(ms("2026-01-01T01:00:00Z")));
    // Same version: the cached compilation is used, whatever the spec says.
    assert_eq!(ticks.next_after(&schedule(1, "30 * * * *"), after), Some(ms("2026-01-01T01:00:00Z")));
    assert_eq!(ticks.next_after(&schedule(2, "30 * * * *"), after), Some(ms("2026-01-01T00:30:00Z")));
    assert_eq!(ticks.next_after(&schedule(3, "not cron"), after), None);
    assert_eq!(ticks.next_after(&schedule(3, "not cron"), after), None);
    ticks.retain(|_| false);
    assert_eq!(ticks.next_after(&schedule(3, "0 * * * *"), after), Some(ms("2026-01-01T01:00:00Z")));
}
