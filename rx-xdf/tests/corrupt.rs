//! Damaged files: truncated, flipped bytes, empty, not .xdf — a clear error, never a panic, never
//! silently wrong values.

use proptest::prelude::*;
use rx_core::factor::LevelTable;
use rx_core::{DataSink, DataSource, ReadOptions, WriteOptions};
use rx_xdf::{XdfData, rx_read_xdf};

use crate::common::{batch, schema};

fn valid_file(
    dir: &std::path::Path,
    level: u32,
) -> (std::path::PathBuf, arrow::array::RecordBatch) {
    let path = dir.join(format!("v{level}.xdf"));
    let mut t = LevelTable::new();
    let b1 = batch(0, 60, &mut t, &["a", "b"]);
    let b2 = batch(60, 60, &mut t, &["c"]);
    let mut w = XdfData::new(&path)
        .create(schema(), &WriteOptions::default().compression_level(level))
        .unwrap();
    w.write(&b1).unwrap();
    w.write(&b2).unwrap();
    w.finish().unwrap();
    let all = arrow::compute::concat_batches(&schema(), &[b1, b2]).unwrap();
    (path, all)
}

/// Reads everything; Ok(batch) only if the file reads in full.
fn try_read(path: &std::path::Path) -> Result<arrow::array::RecordBatch, String> {
    let data = XdfData::new(path);
    let _ = data.num_rows().map_err(|e| e.to_string())?;
    rx_read_xdf(path, None).map_err(|e| e.to_string())
}

#[test]
fn empty_and_foreign_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.xdf");
    std::fs::write(&empty, b"").unwrap();
    let e = try_read(&empty).unwrap_err();
    assert!(e.contains("empty.xdf") && e.contains("empty"), "{e}");
    let text = dir.path().join("text.xdf");
    std::fs::write(&text, b"a,b\n1,2\n").unwrap();
    let e = try_read(&text).unwrap_err();
    assert!(e.contains("not an .xdf file"), "{e}");
    let missing = dir.path().join("missing.xdf");
    let e = try_read(&missing).unwrap_err();
    assert!(e.contains("missing.xdf"), "{e}");
}

#[test]
fn every_truncation_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = valid_file(dir.path(), 1);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.xdf");
    for len in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let e = try_read(&cut).expect_err("a truncated file must not read");
        assert!(e.contains("cut.xdf"), "{e}");
    }
}

#[test]
fn every_flipped_byte_is_detected_or_harmless() {
    // Flip each byte of a small file: the read either fails with a named error or, for bytes that
    // no reader looks at (padding, the leading schema copy), returns exactly the right values.
    let dir = tempfile::tempdir().unwrap();
    for level in [0, 1] {
        let (path, want) = valid_file(dir.path(), level);
        let bytes = std::fs::read(&path).unwrap();
        let bad = dir.path().join("flip.xdf");
        let mut detected = 0;
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x20;
            std::fs::write(&bad, &b).unwrap();
            match try_read(&bad) {
                Err(e) => {
                    assert!(e.contains("flip.xdf"), "{e}");
                    detected += 1;
                }
                Ok(got) => assert_eq!(
                    got.columns(),
                    want.columns(),
                    "byte {i} flipped gave wrong values"
                ),
            }
        }
        assert!(
            detected > bytes.len() / 2,
            "only {detected} of {} flips detected",
            bytes.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random multi-byte damage never panics and never yields wrong values.
    #[test]
    fn random_damage_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                                  cut in prop::option::of(any::<prop::sample::Index>())) {
        let dir = tempfile::tempdir().unwrap();
        let (path, want) = valid_file(dir.path(), 1);
        let mut b = std::fs::read(&path).unwrap();
        for (i, v) in &edits {
            let i = i.index(b.len());
            b[i] = *v;
        }
        if let Some(c) = cut {
            let n = c.index(b.len());
            b.truncate(n);
        }
        std::fs::write(&path, &b).unwrap();
        if let Ok(got) = try_read(&path) {
            prop_assert_eq!(got.columns(), want.columns());
        }
        // A projected read as well.
        let data = XdfData::new(&path);
        if let Ok(r) = data.open(&ReadOptions::default().columns(["g", "f64"])) {
            for c in r { let _ = c; }
        }
    }
}
