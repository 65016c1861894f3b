//! Integration tests: the real services on 127.0.0.1:0, spoken to over HTTP.

mod abuse;
mod api;
mod auth;
mod browser;
mod budgets;
mod clients;
mod conformance;
mod damage;
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
mod traces;
mod util;
