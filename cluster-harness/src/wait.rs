//! Waiting on a condition with a deadline: tests and benches poll what they can observe instead
//! of sleeping a fixed time.

use std::future::Future;
use std::time::Duration;
use std::time::Instant;

/// Waits until `f` returns `Ok`, polling every 50 ms; panics with `what` and the last value
/// seen (the `Err` text) after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match f().await {
            Ok(v) => return v,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
}
