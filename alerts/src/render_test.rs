use super::*;
use crate::sample::sample_notifications;
use crate::sample::single;

fn renderer() -> Renderer {
    Renderer::new(RenderConfig { public_base_url: "https://spiders.example.org/".into(), ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_sample_renders_with_the_defaults() {
    let r = renderer();
    for n in sample_notifications(1_700_000_000_000) {
        let m = r.render(&n).unwrap_or_else(|e| panic!("{}: {e}", n.id));
        assert!(!m.subject.is_empty() && !m.subject.contains('\n'), "{}", m.subject);
        assert!(m.text.contains("https://spiders.example.org/alerts"), "{}", m.text);
        // minijinja's HTML escaping writes '/' as &#x2f; (valid in an href).
        assert!(m.html.contains("https:&#x2f;&#x2f;spiders.example.org&#x2f;alerts"), "{}", m.html);
    }
}

#[test]
fn spider_error_mail_carries_the_facts() {
    let n = single(crate::sample::sample_events(1_700_000_000_000).remove(1), 1_700_000_000_000);
    let m = renderer().render(&n).unwrap_or_else(|e| panic!("{e}"));
    assert!(m.subject.starts_with("[ERROR] shop/books job shop.books.1700000000 failed on slave-1"), "{}", m.subject);
    for needle in [
        "Duration: 1m 5s",
        "Exit:     1",
        "item_scraped_count: 0",
        "ValueError: no books on page",
        "Job:     https://spiders.example.org/jobs/shop.books.1700000000",
    ] {
        assert!(m.text.contains(needle), "missing {needle:?} in\n{}", m.text);
    }
    // HTML is escaped: the log line's <GET ...> must not become a tag.
    assert!(m.html.contains("&lt;GET https:"), "{}", m.html);
}

#[test]
fn digest_is_truncated_with_a_count() {
    let mut r = renderer();
    r.cfg.digest_max_listed = 3;
    let n = sample_notifications(1_700_000_000_000).pop().unwrap_or_else(|| panic!("no digest"));
    let total = n.alerts.len();
    let m = r.render(&n).unwrap_or_else(|e| panic!("{e}"));
    assert!(m.subject.contains(&format!("{total} alerts")), "{}", m.subject);
    assert!(m.text.contains(&format!("... and {} more not listed.", total - 3)), "{}", m.text);
    assert_eq!(m.text.matches("\n- [").count() + usize::from(m.text.starts_with("- [")), 3, "{}", m.text);
}

#[test]
fn override_is_validated_at_set_time_with_name_and_line() {
    let mut r = renderer();
    let e = r.set_override("body.txt", "ok\n{% if alert.kind %}\nunclosed").err();
    assert!(matches!(&e, Some(RenderError::Template { name, .. }) if name == "body.txt"), "{e:?}");
    let e = r.set_override("body.txt", "line one\n{{ alert.evnt.job_id }}").err();
    match &e {
        Some(RenderError::Template { name, line, message }) => {
            assert_eq!((name.as_str(), *line), ("body.txt", Some(2)), "{message}");
            assert!(e.as_ref().map(|e| e.to_string()).unwrap_or_default().starts_with("template body.txt line 2:"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(r.set_override("nope.txt", "x"), Err(RenderError::UnknownTemplate { .. })));
    // A failed override leaves the old template in place; a good one takes effect.
    let n = single(crate::sample::sample_events(0).remove(0), 0);
    assert!(r.render(&n).map(|m| m.text.contains("New leader:")).unwrap_or(false));
    // Validation renders every kind: a field only failovers have must be guarded.
    let unguarded = r.set_override("subject.txt", "{{ alert.kind }} on {{ alert.event.new_leader }}");
    assert!(matches!(unguarded, Err(RenderError::Template { .. })), "{unguarded:?}");
    let guarded = "{% if alert.kind == 'failover' %}failover on {{ alert.event.new_leader }}{% else %}{{ alert.summary }}{% endif %}";
    r.set_override("subject.txt", guarded).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.render(&n).map(|m| m.subject).unwrap_or_default(), "failover on master-2");
    r.clear_override("subject.txt").unwrap_or_else(|e| panic!("{e}"));
    assert!(r.render(&n).map(|m| m.subject.starts_with("[CRITICAL]")).unwrap_or(false));
}
