use std::net::TcpListener;

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    svc_kit::telemetry::init();
    let cli = ingestd::Cli::parse();
    let listener = match TcpListener::bind(cli.ingest.ingest_addr) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, addr = %cli.ingest.ingest_addr, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    match ingestd::run(
        listener,
        cli.store,
        cli.ingest,
        None,
        svc_kit::shutdown_signal(),
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "ingestd failed");
            std::process::ExitCode::FAILURE
        }
    }
}
