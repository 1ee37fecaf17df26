//! Process facts from the OS: start time (to tell a re-used pid apart), liveness, signals.
//!
//! Linux `/proc` is read for the start time; elsewhere the start time is unknown and liveness
//! falls back to `kill(pid, 0)`.

use crate::error::{Error, Result};

/// The process start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`), and its state.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // rest starts at field 3 (state); field 22 is index 19.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Start time of a live process, if it can be read.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, s)| s)
}

/// Whether `pid` is alive (not a zombie) and, when `expected_start` is known, is the same process.
pub fn is_alive(pid: u32, expected_start: Option<u64>) -> bool {
    match stat(pid) {
        Some((state, start)) => state != 'Z' && state != 'X' && expected_start.is_none_or(|e| e == start),
        None => {
            if std::path::Path::new("/proc/self/stat").exists() {
                return false;
            }
            let Ok(pid) = i32::try_from(pid) else { return false };
            // SAFETY: kill with signal 0 only checks for existence.
            unsafe { libc::kill(pid, 0) == 0 }
        }
    }
}

/// Parses a cancel `signal` parameter: a number, or a name with or without `SIG`.
pub fn parse_signal(text: &str) -> Result<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return Ok(n);
    }
    let name = text.trim().to_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let sig = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "ABRT" => libc::SIGABRT,
        "ALRM" => libc::SIGALRM,
        _ => return Err(Error::InvalidSignal(text.to_string())),
    };
    Ok(sig)
}

/// Sends `sig` to `pid`.
pub fn send_signal(pid: u32, sig: i32) -> std::io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    // SAFETY: plain kill(2) on a pid we recorded; errors are reported through errno.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_signals_parse() {
        let me = std::process::id();
        let start = start_ticks(me);
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start.map(|s| s + 1)));
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("NOPE").is_err());
    }
}
