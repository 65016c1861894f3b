use std::net::TcpListener;
use std::sync::Arc;

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    svc_kit::telemetry::init();
    let cli = queryd::Cli::parse();
    let listener = match TcpListener::bind(cli.query.query_addr) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, addr = %cli.query.query_addr, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    let store = Arc::new(queryd::open_store(&cli.data_dir));
    match queryd::run(listener, store, cli.query, svc_kit::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "queryd failed");
            std::process::ExitCode::FAILURE
        }
    }
}
