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
        ("Android", 0.93),
        ("HPC", 0.93),
        ("Zookeeper", 0.97),
        ("Spark", 0.99),
        ("Proxifier", 0.99),
    ] {
        let got = ga(name);
        assert!(got >= floor, "{name}: GA {got:.3} fell below {floor}");
    }
}

#[test]
fn mean_grouping_accuracy_is_at_least_0_90() {
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
    assert!(mean >= 0.90, "mean GA {mean:.4}");
}
