//! spider-master: arrives with issue 4.
