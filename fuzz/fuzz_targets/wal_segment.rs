//! Any bytes as a WAL segment: the read-only check, opening the WAL
//! (recovery) and reading every record back never panic or fail, and agree
//! on what is there.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let root = dir().path().join("wal");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join(format!("{:020}.wal", 0)), data).unwrap();

    let report = log_wal::check(&root).expect("check reads any bytes");
    assert_eq!(report.bytes, data.len() as u64);
    let mut covered = 0;
    for d in &report.damage {
        assert!(d.start < d.end && d.end <= data.len() as u64, "{d:?}");
        covered += d.end - d.start;
    }
    assert!(covered <= data.len() as u64);

    let wal = log_wal::Wal::open(log_wal::Wal::lock(&root).unwrap(), 1 << 20, 0, None)
        .expect("open recovers any bytes");
    let records = wal.reader(0).read(usize::MAX).expect("reads past any damage");
    assert_eq!(records.len() as u64, report.records);
    for pair in records.windows(2) {
        assert!(pair[0].pos.end <= pair[1].pos.start);
    }
    wal.close();
});
