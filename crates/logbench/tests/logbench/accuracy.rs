//! Regression floors for pattern grouping accuracy on Loghub-2k (corrected
//! labels). The figures a change must not fall below; `logbench accuracy`
//! prints the current ones.

use std::path::PathBuf;

use logbench::accuracy;

fn datasets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/loghub-2k")
}

fn ga(name: &str) -> f64 {
    let path = datasets_dir()
        .join(name)
        .join(format!("{name}_2k.log_structured.csv"));
    accuracy::score(name, &path)
        .unwrap_or_else(|e| panic!("{e}"))
        .grouping_accuracy
}

#[test]
fn grouping_accuracy_floors() {
    for (name, floor) in [
        ("HDFS", 0.99),
        ("OpenSSH", 0.95),
        ("Linux", 0.78),
        ("Android", 0.97),
        ("HPC", 0.93),
        ("Zookeeper", 0.97),
        ("Spark", 0.99),
        ("Proxifier", 0.99),
    ] {
        let got = ga(name);
        assert!(got >= floor, "{name}: GA {got:.3} fell below {floor}");
    }
}

/// Issue 14's measure of generalization: settings chosen without a
/// dataset score it almost as well as the shipped ones do. The floor is
/// the figure last measured (0.9749) less a little room; the in-sample
/// mean must stay within 0.01 of it (0.9748 measured, no gap).
#[test]
fn out_of_sample_accuracy_stays_near_in_sample() {
    let sets = accuracy::datasets(&datasets_dir(), false).unwrap();
    let held = accuracy::cross_validate(&sets).unwrap();
    let n = held.len() as f64;
    let inside = held
        .iter()
        .map(|h| h.in_sample.grouping_accuracy)
        .sum::<f64>()
        / n;
    let outside = held
        .iter()
        .map(|h| h.out_of_sample.grouping_accuracy)
        .sum::<f64>()
        / n;
    assert!(outside >= 0.97, "out-of-sample mean GA {outside:.4}");
    assert!(inside - outside <= 0.01, "in {inside:.4}, out {outside:.4}");
    // The merge chosen on the others is the shipped one for every dataset.
    for h in &held {
        assert!(h.chosen_states, "{}: states merged", h.dataset);
        assert!(h.chosen_pairs, "{}: two-word values left apart", h.dataset);
    }
}

/// Linux's labelled lines, and their scores with every masking rule and
/// with all but `rule`.
fn linux_with_and_without(
    rule: log_patterns::Rules,
) -> (
    Vec<accuracy::Labelled>,
    accuracy::DatasetScore,
    accuracy::DatasetScore,
) {
    let lines =
        accuracy::read_lines(&datasets_dir().join("Linux/Linux_2k.log_structured.csv")).unwrap();
    let config = |rules| accuracy::Config {
        rules,
        ..accuracy::Config::default()
    };
    let with = accuracy::score_with("Linux", &lines, config(log_patterns::Rules::ALL)).unwrap();
    let without = accuracy::score_with(
        "Linux",
        &lines,
        config(log_patterns::Rules::ALL.without(rule)),
    )
    .unwrap();
    (lines, with, without)
}

/// Linux's logs hold dates in their text (`at Fri Jul  1 07:57:30 2005`),
/// the only dataset here that does. The merge of two neighbouring words
/// groups them without the rule that masks day and month names, so the
/// grouping does not hang on a rule written from that one dataset.
#[test]
fn dates_group_without_the_dates_rule() {
    let (lines, with, without) = linux_with_and_without(log_patterns::Rules::DATES);
    assert!(
        without.grouping_accuracy >= with.grouping_accuracy - 0.005,
        "GA with the dates rule {:.3}, without {:.3}",
        with.grouping_accuracy,
        without.grouping_accuracy
    );
    // Without the two-word merge, the dates split the connection events.
    let apart = accuracy::score_with(
        "Linux",
        &lines,
        accuracy::Config {
            rules: log_patterns::Rules::ALL.without(log_patterns::Rules::DATES),
            merge: log_patterns::MergeRules {
                pairs: false,
                columns: false,
                ..Default::default()
            },
        },
    )
    .unwrap();
    assert!(
        apart.grouping_accuracy < with.grouping_accuracy - 0.2,
        "without pairs {:.3}",
        apart.grouping_accuracy
    );
}

/// Linux's connections print an empty pair of brackets where the peer
/// has no host name (`connection from <*> () at ...`), the only dataset
/// here that does. The merge joins templates whose constant words are
/// the same, so the event is one group without the rule that reads `()`
/// as a value, and shows `(<*>)`.
#[test]
fn empty_brackets_group_without_the_brackets_rule() {
    let (_, with, without) = linux_with_and_without(log_patterns::Rules::BRACKETS);
    assert!(
        without.grouping_accuracy >= with.grouping_accuracy - 0.005,
        "GA with the brackets rule {:.3}, without {:.3}",
        with.grouping_accuracy,
        without.grouping_accuracy
    );
    assert!(
        without.template_accuracy >= with.template_accuracy - 0.005,
        "TA with the brackets rule {:.3}, without {:.3}",
        with.template_accuracy,
        without.template_accuracy
    );
}

/// Every one-word value replaced by a plain word (`accuracy
/// --word-values`): nothing is masked by its shape, and the merge alone
/// must find the values. The merge by frequent words is what finds
/// several in one message: 0.790 with it, 0.647 without (measured).
#[test]
fn word_values_are_found_by_the_merge() {
    let sets = accuracy::datasets(&datasets_dir(), false).unwrap();
    let (mut with, mut without, mut changed, mut total) = (0.0, 0.0, 0, 0);
    for (name, path) in &sets {
        let lines = accuracy::read_lines(path).unwrap();
        let words = accuracy::with_word_values(&lines);
        changed += lines
            .iter()
            .zip(&words)
            .filter(|(a, b)| a.content != b.content)
            .count();
        total += lines.len();
        with += accuracy::score_with(name, &words, accuracy::Config::default())
            .unwrap()
            .grouping_accuracy;
        let off = accuracy::Config {
            merge: log_patterns::MergeRules {
                columns: false,
                ..Default::default()
            },
            ..accuracy::Config::default()
        };
        without += accuracy::score_with(name, &words, off)
            .unwrap()
            .grouping_accuracy;
    }
    let n = sets.len() as f64;
    let (with, without) = (with / n, without / n);
    assert!(
        changed * 10 >= total * 8,
        "only {changed} of {total} lines have a one-word value replaced"
    );
    assert!(with >= 0.77, "mean GA with word values {with:.4}");
    assert!(
        with - without >= 0.1,
        "with the merge by frequent words {with:.4}, without {without:.4}"
    );
}

#[test]
fn mean_template_accuracy_and_group_f1() {
    let sets = accuracy::datasets(&datasets_dir(), false).unwrap();
    let scores: Vec<_> = sets
        .iter()
        .map(|(name, path)| accuracy::score(name, path).unwrap())
        .collect();
    let n = scores.len() as f64;
    let fga = scores.iter().map(|s| s.group_f1).sum::<f64>() / n;
    let ta = scores.iter().map(|s| s.template_accuracy).sum::<f64>() / n;
    assert!(fga >= 0.94, "mean FGA {fga:.4}");
    assert!(ta >= 0.84, "mean TA {ta:.4}");
}

#[test]
fn mean_grouping_accuracy_is_at_least_0_97() {
    let sets = accuracy::datasets(&datasets_dir(), false).unwrap();
    assert!(
        sets.len() >= 11,
        "expected the 11 Loghub-2k datasets, found {}",
        sets.len()
    );
    let mean = sets
        .iter()
        .map(|(name, path)| accuracy::score(name, path).unwrap().grouping_accuracy)
        .sum::<f64>()
        / sets.len() as f64;
    assert!(mean >= 0.97, "mean GA {mean:.4}");
}
