use std::net::TcpListener;

/// mimalloc gives memory back after a burst of expensive reads, where
/// glibc's arenas keep it (BENCHMARKS.md, "Expensive reads").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Outside the runtime: the OTLP exporter's HTTP client must not be made
    // or dropped inside it. Dropping the guard flushes buffered spans.
    let _telemetry = svc_kit::telemetry::init("ingestd");
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> std::process::ExitCode {
    let mut cli = ingestd::Cli::parse();
    match svc_kit::auth::Access::from_args(&cli.auth, "ingestd") {
        Ok(access) => cli.ingest.access = access,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    }
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
