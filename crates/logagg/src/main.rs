//! The all-in-one single-node binary: ingestd and queryd in one process, on
//! the embedded store. Commits made by the ingest side are visible to the
//! query side at once (the readers reload on each commit).

use std::net::TcpListener;

/// mimalloc gives memory back after a burst of expensive reads, where
/// glibc's arenas keep it (BENCHMARKS.md, "Expensive reads").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "logagg",
    version,
    about = "Log aggregator, all in one: ingest and query on the embedded store"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    store: ingestd::StoreArgs,
    #[command(flatten)]
    ingest: ingestd::IngestArgs,
    #[command(flatten)]
    query: queryd::QueryArgs,
    #[command(flatten)]
    auth: svc_kit::auth::AuthArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Verify the WAL and every day index of a data directory (read only;
    /// safe while the services run) and say what is damaged and what can be
    /// done. Exits 0 when nothing is damaged, 1 when something is, 2 when
    /// the directory cannot be read.
    Check {
        /// The data directory.
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: std::path::PathBuf,
        /// Also verify the checksum of every index file (reads all of them).
        #[arg(long)]
        deep: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Back up the day indexes and the checkpoint of a data directory into
    /// a new backup under a repository directory, while the services run.
    /// Segment files the repository's previous backup holds are hard-linked
    /// from it (only new ones are copied); every backup restores on its own.
    Backup {
        /// The data directory.
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: std::path::PathBuf,
        /// The backup repository (created if missing).
        #[arg(long)]
        to: std::path::PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into an empty data directory (stop the services
    /// first; start them on it after). Every file is checked against the
    /// backup's manifest before anything is written.
    Restore {
        /// A backup, or a repository (its newest backup is restored).
        #[arg(long)]
        from: std::path::PathBuf,
        /// The data directory to restore into: it must hold no index or WAL.
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: std::path::PathBuf,
        /// Only check the backup (every file's size and CRC-32 against the
        /// manifest, and each segment file against its own checksum); write nothing.
        #[arg(long)]
        verify_only: bool,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Add a key to a keys file (created if missing, mode 600) and print
    /// its secret on stdout, once: only its hash is kept.
    Add {
        /// The keys file (as --auth-keys of the services).
        #[arg(long, env = "AUTH_KEYS_FILE")]
        keys_file: std::path::PathBuf,
        /// The key's id (letters, digits, '-', '_', '.'; at most 64).
        #[arg(long)]
        id: String,
        /// The tenant whose logs the key writes and reads.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Comma-separated: ingest, query, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<svc_kit::auth::Scope>,
    },
}

fn keys(command: &KeysCommand) -> std::process::ExitCode {
    let KeysCommand::Add {
        keys_file,
        id,
        tenant,
        scopes,
    } = command;
    match svc_kit::auth::add_key(keys_file, id, tenant, scopes) {
        Ok(secret) => {
            println!("{secret}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("logagg keys add: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

fn check(data_dir: &std::path::Path, deep: bool, json: bool) -> std::process::ExitCode {
    match ingestd::check::check(data_dir, deep) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            } else {
                print!("{}", report.render());
            }
            if report.problems == 0 {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("logagg check: cannot read {}: {error}", data_dir.display());
            std::process::ExitCode::from(2)
        }
    }
}

/// Prints `value` as one line of JSON, or `text` for a person.
fn print_report<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string(value).expect("a report serialises")
        );
    } else {
        println!("{}", text());
    }
}

fn backup(data_dir: &std::path::Path, to: &std::path::Path, json: bool) -> std::process::ExitCode {
    match log_store::backup::backup(data_dir, to) {
        Ok(summary) => {
            print_report(json, &summary, || {
                let mut text = format!(
                    "backed up {} logs in {} day indexes to {}\n\
                     every log of WAL records up to position {} is in it\n\
                     {} files, {} bytes: {} copied ({} bytes), {} linked from the previous backup",
                    summary.docs,
                    summary.partitions,
                    summary.dir.display(),
                    summary.position,
                    summary.files,
                    summary.total_bytes,
                    summary.copied_files,
                    summary.copied_bytes,
                    summary.linked_files
                );
                for (day, reason) in &summary.skipped {
                    text.push_str(&format!(
                        "\nleft out: day index {day}, which does not open: {reason}"
                    ));
                }
                text
            });
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("logagg backup: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

fn restore(
    from: &std::path::Path,
    data_dir: &std::path::Path,
    verify_only: bool,
    json: bool,
) -> std::process::ExitCode {
    use log_store::backup;
    if verify_only {
        return match backup::verify(from) {
            Ok((dir, manifest)) => {
                print_report(json, &manifest, || {
                    format!(
                        "{}: intact ({} day indexes, every file's size and CRC-32 as its manifest says)",
                        dir.display(),
                        manifest.partitions.len()
                    )
                });
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("logagg restore: the backup is damaged: {error}");
                std::process::ExitCode::from(1)
            }
        };
    }
    match backup::restore(from, data_dir) {
        Ok(summary) => {
            print_report(json, &summary, || {
                format!(
                    "restored {} logs in {} day indexes ({} bytes) from {} into {}\n\
                     the WAL will start at position {}",
                    summary.docs,
                    summary.partitions,
                    summary.bytes,
                    summary.from.display(),
                    data_dir.display(),
                    summary.resume_at
                )
            });
            std::process::ExitCode::SUCCESS
        }
        Err(error @ backup::BackupError::Damaged(_)) => {
            eprintln!("logagg restore: the backup is damaged, nothing was written: {error}");
            std::process::ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("logagg restore: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    if let Some(Command::Backup { data_dir, to, json }) = &cli.command {
        return backup(data_dir, to, *json);
    }
    if let Some(Command::Restore {
        from,
        data_dir,
        verify_only,
        json,
    }) = &cli.command
    {
        return restore(from, data_dir, *verify_only, *json);
    }
    if let Some(Command::Keys { command }) = &cli.command {
        return keys(command);
    }
    if let Some(Command::Check {
        data_dir,
        deep,
        json,
    }) = &cli.command
    {
        return check(data_dir, *deep, *json);
    }
    // Outside the runtime: the OTLP exporter's HTTP client must not be made
    // or dropped inside it. Dropping the guard flushes buffered spans.
    let _telemetry = svc_kit::telemetry::init("logagg");
    match svc_kit::auth::Access::from_args(&cli.auth, "logagg") {
        Ok(access) => {
            cli.ingest.access = access.clone();
            cli.query.access = access;
        }
        Err(error) => {
            tracing::error!(%error, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    }
    actix_web::rt::System::new().block_on(serve(cli))
}

async fn serve(cli: Cli) -> std::process::ExitCode {
    let bind = |addr| {
        TcpListener::bind(addr).map_err(|error| tracing::error!(%error, %addr, "cannot listen"))
    };
    let (Ok(ingest_listener), Ok(query_listener)) =
        (bind(cli.ingest.ingest_addr), bind(cli.query.query_addr))
    else {
        return std::process::ExitCode::FAILURE;
    };
    // On the embedded store, each commit reloads the query side's readers at once.
    let (reader, on_commit) = match log_store::Backend::new(&cli.store).shared_reader() {
        Ok(opened) => opened,
        Err(error) => {
            tracing::error!(%error, "cannot open the store");
            return std::process::ExitCode::FAILURE;
        }
    };

    // One signal stops both: queryd first (it holds no data), then ingestd drains.
    let (stop_tx, stop_rx) = watch::channel(false);
    let wait_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let query = queryd::run(
        query_listener,
        reader,
        cli.query,
        wait_stop(stop_rx.clone()),
    );
    let ingest = ingestd::run(
        ingest_listener,
        cli.store,
        cli.ingest,
        on_commit,
        async move {
            svc_kit::shutdown_signal().await;
            let _ = stop_tx.send(true);
        },
    );
    let (ingest_result, query_result) = tokio::join!(ingest, query);
    match (ingest_result, query_result) {
        (Ok(()), Ok(())) => std::process::ExitCode::SUCCESS,
        (ingest, query) => {
            if let Err(error) = ingest {
                tracing::error!(%error, "ingestd failed");
            }
            if let Err(error) = query {
                tracing::error!(%error, "queryd failed");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
