//! Integration tests against the real PostgreSQL and Redis. Each test gets its own database and
//! Redis key prefix (see `helpers`), so they run in parallel and never touch a developer's data.

mod auth;
mod cart;
mod catalog;
mod checkout;
mod doors;
mod engine;
mod events;
mod health;
mod helpers;
mod pages;
mod seed;
mod ws;
mod wsclient;
