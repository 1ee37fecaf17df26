//! Who is calling and what they may do, for every front door.
//!
//! - [`principal`]: bearer tokens → [`Principal`] (the admin token; `spt_<id>.<secret>` API
//!   tokens of users).
//! - [`routes`]: THE table from route (method + path) to the access it needs. `/api/v1`'s one
//!   middleware (`api::guard`) checks every request against it; a route missing from the table
//!   is refused, never allowed.
//!
//! **Invariant:** no handler decides access itself; a role is granted only by the table.

pub mod principal;
pub mod routes;

pub use self::principal::authenticate;
pub use self::principal::Principal;
pub use self::routes::Access;
pub use self::routes::Verb;
