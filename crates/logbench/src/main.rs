//! logbench: benchmarks for logagg.
//!
//! `logbench accuracy [DIR]` scores the pattern pipeline's grouping accuracy
//! on every labelled Loghub-2k dataset under DIR and ends with `mean GA: <v>`.

use logbench::accuracy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "logbench", version, about = "Benchmarks for logagg")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Grouping accuracy of error patterns on labelled Loghub-2k datasets.
    Accuracy {
        /// Folder holding <D>/<D>_2k.log_structured.csv for each dataset D.
        #[arg(default_value = "../shared/datasets/loghub-2k")]
        datasets: PathBuf,
        /// Print one JSON object per dataset instead of a table.
        #[arg(long)]
        json: bool,
        /// Score against the original (2019) labels instead of the corrected ones.
        #[arg(long)]
        original_labels: bool,
        /// Show the wrongly grouped events of this dataset.
        #[arg(long)]
        explain: Option<String>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Accuracy {
            datasets,
            explain: Some(name),
            ..
        } => {
            let path = datasets
                .join(&name)
                .join(format!("{name}_2k.log_structured.csv"));
            match accuracy::explain(&path, 40) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("logbench accuracy: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Accuracy {
            datasets,
            json,
            original_labels,
            ..
        } => match run_accuracy(&datasets, json, original_labels) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("logbench accuracy: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run_accuracy(dir: &std::path::Path, json: bool, original: bool) -> Result<(), String> {
    let sets = accuracy::datasets(dir, original)?;
    if !json {
        println!(
            "{:<12} {:>6} {:>7} {:>7} {:>7}",
            "dataset", "lines", "events", "groups", "GA"
        );
    }
    let mut total = 0.0;
    for (name, path) in &sets {
        let s = accuracy::score(name, path)?;
        if json {
            println!("{}", serde_json::to_string(&s).map_err(|e| e.to_string())?);
        } else {
            println!(
                "{:<12} {:>6} {:>7} {:>7} {:>7.3}",
                s.dataset, s.lines, s.true_events, s.predicted_groups, s.grouping_accuracy
            );
        }
        total += s.grouping_accuracy;
    }
    println!("mean GA: {:.4}", total / sets.len() as f64);
    Ok(())
}
