//! End-to-end tests of spider-slave: in-process slaves on port 0 and the real binary, real
//! Scrapy (from `SPIDER_PYTHON`), a local HTTP server for the spiders to crawl.

mod support;

mod t10_api;
mod t20_crawl;
mod t30_cancel;
mod t40_restart;
mod t50_clients;
mod t60_extras;
