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

use log_patterns::{MergeRules, Rules};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DatasetScore {
    pub dataset: String,
    pub lines: usize,
    pub true_events: usize,
    pub predicted_groups: usize,
    pub grouping_accuracy: f64,
    /// F1 of groups (FGA): a predicted group is right when its lines are
    /// exactly one event's; precision over predicted groups, recall over
    /// events.
    pub group_f1: f64,
    /// Share of lines whose template equals the labelled one, both
    /// normalised (see [`normalise_template`]).
    pub template_accuracy: f64,
}

/// One labelled line: its content, event id and event template.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub content: String,
    pub event: String,
    pub template: String,
}

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

/// Content, EventId and EventTemplate of each line.
pub fn read_lines(csv_path: &Path) -> Result<Vec<Labelled>, String> {
    let mut reader =
        csv::Reader::from_path(csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no {name} column", csv_path.display()))
    };
    let (content, event, template) = (col("Content")?, col("EventId")?, col("EventTemplate")?);
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{}: {e}", csv_path.display()))?;
        lines.push(Labelled {
            content: record[content].to_string(),
            event: record[event].to_string(),
            template: record[template].to_string(),
        });
    }
    Ok(lines)
}

/// The pipeline's settings: the masking rules and the merge's thresholds
/// (the service's are the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    pub rules: Rules,
    pub merge: MergeRules,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules: Rules::ALL,
            merge: MergeRules::default(),
        }
    }
}

/// Each message's group and the group's template (as `/logs/patterns`
/// shows it), with the merge's thresholds given.
pub fn predict_with(messages: &[&str], config: Config) -> (Vec<usize>, Vec<String>) {
    let templates: Vec<String> = messages
        .iter()
        .map(|m| log_patterns::template_of_with(m, config.rules))
        .collect();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for t in &templates {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut distinct: Vec<(&str, u64)> = counts.into_iter().collect();
    distinct.sort();
    let merged = log_patterns::merge_templates_with(&distinct, config.merge);
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (group, m) in merged.iter().enumerate() {
        for &i in &m.members {
            group_of.insert(distinct[i].0, group);
        }
    }
    let groups: Vec<usize> = templates.iter().map(|t| group_of[t.as_str()]).collect();
    let shown = groups.iter().map(|&g| merged[g].template.clone()).collect();
    (groups, shown)
}

/// A template as compared for template accuracy: every token holding a
/// wildcard is one `<*>`, a run of them is one, spaces are single. Loghub's
/// labels write a variable list as one `<*>` or several, and a variable
/// glued to text (`user<*>`) either way.
pub fn normalise_template(template: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for token in template.split_whitespace() {
        let token = if token.contains("<*>") { "<*>" } else { token };
        if token == "<*>" && out.last() == Some(&"<*>") {
            continue;
        }
        out.push(token);
    }
    out.join(" ")
}

/// FGA: the F1 of exactly right groups (see [`DatasetScore::group_f1`]).
pub fn group_f1<P: Eq + std::hash::Hash, T: Eq + std::hash::Hash>(
    predicted: &[P],
    truth: &[T],
) -> f64 {
    let mut by_pred: HashMap<&P, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        by_pred.entry(p).or_default().push(i);
    }
    let mut true_size: HashMap<&T, usize> = HashMap::new();
    for t in truth {
        *true_size.entry(t).or_default() += 1;
    }
    let right = by_pred
        .values()
        .filter(|lines| {
            let label = &truth[lines[0]];
            lines.iter().all(|&i| &truth[i] == label) && true_size[label] == lines.len()
        })
        .count() as f64;
    if right == 0.0 {
        return 0.0;
    }
    let precision = right / by_pred.len() as f64;
    let recall = right / true_size.len() as f64;
    2.0 * precision * recall / (precision + recall)
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
    score_with(name, &read_lines(csv_path)?, Config::default())
}

/// The scores of `lines` with the merge's thresholds given.
pub fn score_with(name: &str, lines: &[Labelled], config: Config) -> Result<DatasetScore, String> {
    let messages: Vec<&str> = lines.iter().map(|l| l.content.as_str()).collect();
    let truth: Vec<&str> = lines.iter().map(|l| l.event.as_str()).collect();
    let (predicted, templates) = predict_with(&messages, config);
    let groups: std::collections::HashSet<_> = predicted.iter().collect();
    let events: std::collections::HashSet<_> = truth.iter().collect();
    let same_template = lines
        .iter()
        .zip(&templates)
        .filter(|(l, t)| normalise_template(&l.template) == normalise_template(t))
        .count();
    Ok(DatasetScore {
        dataset: name.to_string(),
        lines: lines.len(),
        true_events: events.len(),
        predicted_groups: groups.len(),
        grouping_accuracy: grouping_accuracy(&predicted, &truth),
        group_f1: group_f1(&predicted, &truth),
        template_accuracy: same_template as f64 / lines.len().max(1) as f64,
    })
}

/// A stress test of the merge (`accuracy --word-values`): each line with
/// every value its labelled template marks (`<*>`) that is one word
/// replaced by a plain lowercase word of three syllables, the same value
/// always by the same word, so that no value is masked by its shape and
/// the merge alone must find them all. Lines whose template does not
/// match them are kept as they are. Labels do not change.
pub fn with_word_values(lines: &[Labelled]) -> Vec<Labelled> {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fe", "gu", "ho", "ji", "po",
        "ze",
    ];
    // FNV-1a: the same word on every platform and release.
    let word = |value: &str| {
        let h = value.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        }) as usize;
        (0..3)
            .map(|k| SYLLABLES[(h >> (4 * k)) & 15])
            .collect::<String>()
    };
    let mut patterns: HashMap<&str, Option<regex::Regex>> = HashMap::new();
    lines
        .iter()
        .map(|l| {
            let pattern = patterns.entry(l.template.as_str()).or_insert_with(|| {
                // Each literal part's words, any run of spaces between.
                let parts: Vec<String> = l
                    .template
                    .split(log_patterns::WILDCARD)
                    .map(|part| {
                        let core: Vec<String> =
                            part.split_whitespace().map(regex::escape).collect();
                        let lead = part.starts_with(char::is_whitespace);
                        let trail = part.ends_with(char::is_whitespace) && !core.is_empty();
                        format!(
                            "{}{}{}",
                            if lead { r"\s+" } else { "" },
                            core.join(r"\s+"),
                            if trail { r"\s+" } else { "" }
                        )
                    })
                    .collect();
                regex::Regex::new(&format!(r"^\s*{}\s*$", parts.join("(.*?)"))).ok()
            });
            let content = match pattern.as_ref().and_then(|p| p.captures(&l.content)) {
                Some(captures) => {
                    let mut out = String::with_capacity(l.content.len());
                    let mut last = 0;
                    for value in captures.iter().skip(1).flatten() {
                        out.push_str(&l.content[last..value.start()]);
                        let v = value.as_str();
                        if v.is_empty() || v.contains(char::is_whitespace) {
                            out.push_str(v);
                        } else {
                            out.push_str(&word(v));
                        }
                        last = value.end();
                    }
                    out.push_str(&l.content[last..]);
                    out
                }
                None => l.content.clone(),
            };
            Labelled {
                content,
                event: l.event.clone(),
                template: l.template.clone(),
            }
        })
        .collect()
}

/// The thresholds `--cross-validate` chooses among.
pub fn rule_grid() -> Vec<MergeRules> {
    let mut grid = Vec::new();
    for min_values in 2..=6 {
        for min_constants in 1..=5 {
            for states in [true, false] {
                for optional_values in [true, false] {
                    for pairs in [true, false] {
                        for columns in [true, false] {
                            grid.push(MergeRules {
                                min_values,
                                min_constants,
                                states,
                                optional_values,
                                pairs,
                                columns,
                            });
                        }
                    }
                }
            }
        }
    }
    grid
}

/// One dataset's cross-validated score: the settings chosen on the other
/// datasets, and its scores with them.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    pub dataset: String,
    /// Masking rules the choice left out (they did not help the others).
    pub rules_left_out: Vec<&'static str>,
    pub chosen_min_values: usize,
    pub chosen_min_constants: usize,
    /// Whether the merge keeps states of an enumeration apart.
    pub chosen_states: bool,
    /// Whether the merge joins templates whose constant words are the same.
    pub chosen_optional_values: bool,
    /// Whether the merge joins templates that differ in two neighbouring
    /// words.
    pub chosen_pairs: bool,
    /// Whether the merge joins templates by their most frequent words.
    pub chosen_columns: bool,
    /// With the shipped settings, which were written looking at every
    /// dataset (this one included).
    pub in_sample: DatasetScore,
    /// With the settings chosen without this dataset.
    pub out_of_sample: DatasetScore,
}

/// Leave-one-dataset-out. For each dataset, settings are chosen on the
/// others: masking rules by forward selection (from none, the rule that
/// raises the others' mean GA most is added, or when none does alone the
/// pair that does, while one does; at equal GA, mean TA decides), then the
/// merge's thresholds on [`rule_grid`] (ties keep the shipped ones). The
/// dataset is then scored with them. A rule that helps only the held-out
/// dataset is not chosen, and its score falls: the out-of-sample mean
/// shows how much the rules were fitted to the data in view.
pub fn cross_validate(sets: &[(String, PathBuf)]) -> Result<Vec<HeldOut>, String> {
    let data: Vec<(String, Vec<Labelled>)> = sets
        .iter()
        .map(|(name, path)| Ok((name.clone(), read_lines(path)?)))
        .collect::<Result<_, String>>()?;
    // A dataset's (GA, TA) with some settings.
    let mut memo: HashMap<(Config, usize), (f64, f64)> = HashMap::new();
    let mut scores = |config: Config, d: usize| -> Result<(f64, f64), String> {
        if let Some(v) = memo.get(&(config, d)) {
            return Ok(*v);
        }
        let score = score_with(&data[d].0, &data[d].1, config)?;
        let v = (score.grouping_accuracy, score.template_accuracy);
        memo.insert((config, d), v);
        Ok(v)
    };
    let shipped = Config::default();
    let mut out = Vec::new();
    for held in 0..data.len() {
        let train: Vec<usize> = (0..data.len()).filter(|&d| d != held).collect();
        // The others' mean GA, then mean TA: settings are compared by GA,
        // and by TA when their GA is the same (a rule that shows constant
        // words without changing the groups is chosen too).
        let mut mean = |config: Config| -> Result<Mean, String> {
            let (mut ga_sum, mut ta_sum) = (0.0, 0.0);
            for &d in &train {
                let (g, t) = scores(config, d)?;
                ga_sum += g;
                ta_sum += t;
            }
            let n = train.len().max(1) as f64;
            Ok(Mean(ga_sum / n, ta_sum / n))
        };
        // Forward selection: from no rules, add the rule that raises the
        // others' mean GA (at equal GA, TA) most, while one does. A rule that helps only the
        // held-out dataset is not chosen.
        let mut chosen = Config {
            rules: Rules::NONE,
            ..shipped
        };
        let mut best = mean(chosen)?;
        loop {
            let mut step = None;
            for (_, rule) in Rules::EACH {
                if chosen.rules.has(rule) {
                    continue;
                }
                let candidate = Config {
                    rules: chosen.rules.with(rule),
                    ..chosen
                };
                let m = mean(candidate)?;
                if m.beats(best) {
                    best = m;
                    step = Some(candidate);
                }
            }
            // When no rule helps alone, a pair may (a date's words and the
            // empty brackets beside them, say).
            if step.is_none() {
                for (i, (_, a)) in Rules::EACH.iter().enumerate() {
                    for (_, b) in &Rules::EACH[i + 1..] {
                        if chosen.rules.has(*a) || chosen.rules.has(*b) {
                            continue;
                        }
                        let candidate = Config {
                            rules: chosen.rules.with(*a).with(*b),
                            ..chosen
                        };
                        let m = mean(candidate)?;
                        if m.beats(best) {
                            best = m;
                            step = Some(candidate);
                        }
                    }
                }
            }
            match step {
                Some(c) => chosen = c,
                None => break,
            }
        }
        for merge in rule_grid() {
            let candidate = Config { merge, ..chosen };
            let m = mean(candidate)?;
            if m.beats(best) {
                best = m;
                chosen = candidate;
            }
        }
        let (name, lines) = &data[held];
        out.push(HeldOut {
            dataset: name.clone(),
            rules_left_out: chosen.rules.left_out(),
            chosen_min_values: chosen.merge.min_values,
            chosen_min_constants: chosen.merge.min_constants,
            chosen_states: chosen.merge.states,
            chosen_optional_values: chosen.merge.optional_values,
            chosen_pairs: chosen.merge.pairs,
            chosen_columns: chosen.merge.columns,
            in_sample: score_with(name, lines, shipped)?,
            out_of_sample: score_with(name, lines, chosen)?,
        });
    }
    Ok(out)
}

/// Mean GA and TA over the datasets settings are chosen on.
#[derive(Debug, Clone, Copy)]
struct Mean(f64, f64);

impl Mean {
    /// Higher GA, or the same GA (to rounding) and higher TA.
    fn beats(self, other: Mean) -> bool {
        self.0 > other.0 + 1e-9 || ((self.0 - other.0).abs() <= 1e-9 && self.1 > other.1 + 1e-9)
    }
}

/// Lines printed for each wrongly grouped event (to see what groups wrong).
pub fn explain(csv_path: &Path, limit: usize, config: Config) -> Result<String, String> {
    use std::fmt::Write;
    let lines = read_lines(csv_path)?;
    let messages: Vec<&str> = lines.iter().map(|l| l.content.as_str()).collect();
    let (predicted, shown) = predict_with(&messages, config);
    let mut out = String::new();
    let mut events: HashMap<&str, HashMap<usize, (usize, &str)>> = HashMap::new();
    let mut groups: HashMap<usize, HashMap<&str, usize>> = HashMap::new();
    for (i, Labelled { content, event, .. }) in lines.iter().enumerate() {
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
    let mut listed = 0;
    let mut names: Vec<_> = events.keys().copied().collect();
    names.sort();
    for event in names {
        let split = &events[event];
        let merged = split.keys().any(|g| groups[g].len() > 1);
        if split.len() == 1 && !merged {
            continue;
        }
        listed += 1;
        if listed > limit {
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
                log_patterns::template_of_with(example, config.rules)
            );
        }
    }
    // Then the templates that read otherwise than the labels, once each.
    let mut seen = std::collections::HashSet::new();
    let mut differing = 0;
    for (l, t) in lines.iter().zip(&shown) {
        if normalise_template(&l.template) != normalise_template(t) && seen.insert(t.as_str()) {
            differing += 1;
            if differing > limit {
                break;
            }
            let _ = writeln!(out, "template {}\n   label {}", t, l.template);
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

    #[test]
    fn group_f1_weighs_groups_not_lines() {
        assert_eq!(group_f1(&[1, 1, 2], &["a", "a", "b"]), 1.0);
        // "a" split in two: 1 right group of 3 predicted, of 2 events.
        let f = group_f1(&[1, 2, 3], &["a", "a", "b"]);
        let (p, r) = (1.0 / 3.0, 1.0 / 2.0);
        assert!((f - 2.0 * p * r / (p + r)).abs() < 1e-12);
        assert_eq!(group_f1(&[1, 1, 1], &["a", "a", "b"]), 0.0);
    }

    #[test]
    fn templates_compare_with_wildcards_normalised() {
        for (a, b) in [
            ("user <*> <*> logged in", "user <*> logged in"),
            ("size:<*> ok", "<*> ok"),
            ("a  b", "a b"),
        ] {
            assert_eq!(normalise_template(a), normalise_template(b), "{a} / {b}");
        }
        assert_ne!(
            normalise_template("session opened <*>"),
            normalise_template("session closed <*>")
        );
    }
}
