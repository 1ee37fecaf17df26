//! The dashboard (server-rendered pages, embedded assets), mounted by the master. Arrives with the dashboard issue; empty until then.
