//! Integration tests of the alerts crate against real servers on loopback: aiosmtpd from the project's
//! venv for SMTP, an axum server for webhooks.

mod smtp;
mod support;
mod webhook;
