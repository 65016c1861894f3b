//! Grouping accuracy (GA) of the pattern pipeline on labelled Loghub data.
//!
//! GA as defined by Zhu et al., "Tools and Benchmarks for Automated Log
//! Parsing" (ICSE-SEIP 2019): a line is parsed right when the set of lines in
//! its predicted group equals the set of lines sharing its true `EventId`.
//! The prediction runs the endpoint's code path: each message gets its
//! ingest-time template ([`log_patterns::template_of`]), then the distinct
//! templates are merged as at query time ([`log_patterns::merge_templates`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DatasetScore {
    pub dataset: String,
    pub lines: usize,
    pub true_events: usize,
    pub predicted_groups: usize,
    pub grouping_accuracy: f64,
}

/// Reads `<dir>/<D>/<D>_2k.log_structured.csv` (or, with `original`, the
/// 2019 labels in `<D>_2k.log_structured_original.csv`) for every dataset `D`.
pub fn datasets(dir: &Path, original: bool) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let suffix = if original { "_original" } else { "" };
        let csv = entry
            .path()
            .join(format!("{name}_2k.log_structured{suffix}.csv"));
        if csv.is_file() {
            found.push((name, csv));
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(format!(
            "no <D>/<D>_2k.log_structured.csv under {}",
            dir.display()
        ));
    }
    Ok(found)
}

/// (Content, EventId) of each line.
pub fn read_lines(csv_path: &Path) -> Result<Vec<(String, String)>, String> {
    let mut reader =
        csv::Reader::from_path(csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no {name} column", csv_path.display()))
    };
    let (content, event) = (col("Content")?, col("EventId")?);
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{}: {e}", csv_path.display()))?;
        lines.push((record[content].to_string(), record[event].to_string()));
    }
    Ok(lines)
}

/// Predicted group of each message, through the endpoint's pipeline.
pub fn predict(messages: &[&str]) -> Vec<usize> {
    let templates: Vec<String> = messages
        .iter()
        .map(|m| log_patterns::template_of(m))
        .collect();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for t in &templates {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let distinct: Vec<(&str, u64)> = counts.into_iter().collect();
    let merged = log_patterns::merge_templates(&distinct);
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (group, m) in merged.iter().enumerate() {
        for &i in &m.members {
            group_of.insert(distinct[i].0, group);
        }
    }
    templates.iter().map(|t| group_of[t.as_str()]).collect()
}

/// GA of `predicted` against `truth` (one label per line each).
pub fn grouping_accuracy<P: Eq + std::hash::Hash, T: Eq + std::hash::Hash>(
    predicted: &[P],
    truth: &[T],
) -> f64 {
    assert_eq!(predicted.len(), truth.len());
    let mut by_pred: HashMap<&P, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        by_pred.entry(p).or_default().push(i);
    }
    let mut true_size: HashMap<&T, usize> = HashMap::new();
    for t in truth {
        *true_size.entry(t).or_default() += 1;
    }
    let mut correct = 0;
    for lines in by_pred.values() {
        let label = &truth[lines[0]];
        if lines.iter().all(|&i| &truth[i] == label) && true_size[label] == lines.len() {
            correct += lines.len();
        }
    }
    correct as f64 / predicted.len().max(1) as f64
}

pub fn score(name: &str, csv_path: &Path) -> Result<DatasetScore, String> {
    let lines = read_lines(csv_path)?;
    let messages: Vec<&str> = lines.iter().map(|(c, _)| c.as_str()).collect();
    let truth: Vec<&str> = lines.iter().map(|(_, e)| e.as_str()).collect();
    let predicted = predict(&messages);
    let groups: std::collections::HashSet<_> = predicted.iter().collect();
    let events: std::collections::HashSet<_> = truth.iter().collect();
    Ok(DatasetScore {
        dataset: name.to_string(),
        lines: lines.len(),
        true_events: events.len(),
        predicted_groups: groups.len(),
        grouping_accuracy: grouping_accuracy(&predicted, &truth),
    })
}

/// Lines printed for each wrongly grouped event (to see what groups wrong).
pub fn explain(csv_path: &Path, limit: usize) -> Result<String, String> {
    use std::fmt::Write;
    let lines = read_lines(csv_path)?;
    let messages: Vec<&str> = lines.iter().map(|(c, _)| c.as_str()).collect();
    let predicted = predict(&messages);
    let mut out = String::new();
    let mut events: HashMap<&str, HashMap<usize, (usize, &str)>> = HashMap::new();
    let mut groups: HashMap<usize, HashMap<&str, usize>> = HashMap::new();
    for (i, (content, event)) in lines.iter().enumerate() {
        let e = events
            .entry(event.as_str())
            .or_default()
            .entry(predicted[i])
            .or_insert((0, content.as_str()));
        e.0 += 1;
        *groups
            .entry(predicted[i])
            .or_default()
            .entry(event.as_str())
            .or_default() += 1;
    }
    let mut shown = 0;
    let mut names: Vec<_> = events.keys().copied().collect();
    names.sort();
    for event in names {
        let split = &events[event];
        let merged = split.keys().any(|g| groups[g].len() > 1);
        if split.len() == 1 && !merged {
            continue;
        }
        shown += 1;
        if shown > limit {
            break;
        }
        let _ = writeln!(
            out,
            "{event}: {} groups{}",
            split.len(),
            if merged {
                " (merged with other events)"
            } else {
                ""
            }
        );
        for (g, (n, example)) in split.iter().take(6) {
            let _ = writeln!(
                out,
                "    g{g} x{n}: {example}   => {}",
                log_patterns::template_of(example)
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga_counts_lines_of_exactly_matching_groups() {
        // Perfect.
        assert_eq!(grouping_accuracy(&[1, 1, 2], &["a", "a", "b"]), 1.0);
        // Over-split: "a" split in two, so its 2 lines are wrong; "b" right.
        assert_eq!(grouping_accuracy(&[1, 2, 3], &["a", "a", "b"]), 1.0 / 3.0);
        // Over-merged: nothing right.
        assert_eq!(grouping_accuracy(&[1, 1, 1], &["a", "a", "b"]), 0.0);
        // Labels are only names: a renaming scores the same.
        assert_eq!(grouping_accuracy(&["x", "x", "y", "z"], &[7, 7, 8, 9]), 1.0);
    }
}
