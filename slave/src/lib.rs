//! spider-slave: arrives with issue 3.
