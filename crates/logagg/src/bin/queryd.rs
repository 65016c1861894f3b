use std::net::TcpListener;

/// mimalloc gives memory back after a burst of expensive reads, where
/// glibc's arenas keep it (BENCHMARKS.md, "Expensive reads").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Outside the runtime: the OTLP exporter's HTTP client must not be made
    // or dropped inside it. Dropping the guard flushes buffered spans.
    let _telemetry = svc_kit::telemetry::init("queryd");
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> std::process::ExitCode {
    let mut cli = queryd::Cli::parse();
    match svc_kit::auth::Access::from_args(&cli.auth, "queryd") {
        Ok(access) => cli.query.access = access,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    }
    let listener = match TcpListener::bind(cli.query.query_addr) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, addr = %cli.query.query_addr, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    let store = match log_store::Backend::new(&cli.store).reader() {
        Ok(store) => store,
        Err(error) => {
            tracing::error!(%error, "cannot open the store");
            return std::process::ExitCode::FAILURE;
        }
    };
    match queryd::run(listener, store, cli.query, svc_kit::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "queryd failed");
            std::process::ExitCode::FAILURE
        }
    }
}
