//! System tests: the real services (in this process or as the built
//! binaries) on 127.0.0.1:0, spoken to over HTTP by real clients and peers.
//! One binary for the whole workspace; shared helpers are in `util`.

mod abuse;
mod api;
mod auth;
mod backup;
mod browser;
mod budgets;
mod cli;
mod clients;
mod conformance;
mod damage;
mod deploy;
mod durability;
mod elasticsearch;
mod fake_es;
mod fake_search;
mod faults;
mod gateway;
mod monitoring;
mod openapi;
mod reads;
mod shippers;
mod storage;
mod tenants;
mod tls;
mod traces;
mod util;
