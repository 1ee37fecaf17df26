//! Users and API tokens.

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::state::ApiToken;
use crate::state::Role;
use crate::state::State;
use crate::state::User;

pub(super) fn create_user(state: &mut State, now: u64, username: &str, password_hash: &str, role: Role) -> Applied {
    let key = username.to_string();
    if state.users.contains(&key) {
        return Applied::rejected(Rejection::AlreadyExists);
    }
    state.users.insert(
        key,
        User { username: username.to_string(), password_hash: password_hash.to_string(), role, created_at_ms: now },
    );
    Applied::Done
}

pub(super) fn update_user(
    state: &mut State,
    username: &str,
    password_hash: Option<&str>,
    role: Option<Role>,
) -> Applied {
    let Some(u) = state.users.get_mut(&username.to_string()) else {
        return Applied::rejected(Rejection::UnknownUser);
    };
    if let Some(h) = password_hash {
        u.password_hash = h.to_string();
    }
    if let Some(r) = role {
        u.role = r;
    }
    Applied::Done
}

pub(super) fn delete_user(state: &mut State, username: &str) -> Applied {
    if state.users.remove(&username.to_string()).is_none() {
        return Applied::rejected(Rejection::UnknownUser);
    }
    let tokens: Vec<String> =
        state.tokens.values().filter(|t| t.username == username).map(|t| t.token_id.clone()).collect();
    for t in tokens {
        state.tokens.remove(&t);
    }
    Applied::Done
}

pub(super) fn create_token(
    state: &mut State,
    now: u64,
    token_id: &str,
    username: &str,
    secret_sha256: &str,
    name: &str,
) -> Applied {
    if !state.users.contains(&username.to_string()) {
        return Applied::rejected(Rejection::UnknownUser);
    }
    let key = token_id.to_string();
    if state.tokens.contains(&key) {
        return Applied::rejected(Rejection::AlreadyExists);
    }
    state.tokens.insert(
        key,
        ApiToken {
            token_id: token_id.to_string(),
            username: username.to_string(),
            secret_sha256: secret_sha256.to_string(),
            name: name.to_string(),
            created_at_ms: now,
        },
    );
    Applied::Done
}

pub(super) fn revoke_token(state: &mut State, token_id: &str) -> Applied {
    match state.tokens.remove(&token_id.to_string()) {
        None => Applied::rejected(Rejection::UnknownToken),
        Some(_) => Applied::Done,
    }
}
