//! Fuzzing the CSV path by mutating bytes of a valid file: an import either succeeds or fails with
//! an error that names the file — never a panic. (`cargo xtask fuzz` runs it with many more cases.)

use proptest::prelude::*;
use revoscale::core::{DataSink, DataSource, ReadOptions, WriteOptions, copy_chunks};
use revoscale::data::TextData;
use revoscale::xdf::XdfData;

const VALID: &str = "ArrDelay,CRSDepTime,DayOfWeek,Distance,UniqueCarrier,Late\n\
-30.1,14.21,Wednesday,533.0,EV,0\n24.4,15.73,Tuesday,456.0,AA,0\n,14.79,\"Wed, nesday\",725.0,WN,1\n\
6.6,16.45,Tuesday,3063.0,AA,0\n-5.5,8.5,Monday,253.0,WN,NA\n";

fn import(csv: &std::path::Path, xdf: &std::path::Path, lenient: bool) -> Result<u64, String> {
    let text = TextData::new(csv)
        .strings_as_factors(true)
        .bad_values_as_missing(lenient)
        .rows_per_read(2);
    let schema = text.schema().map_err(|e| e.to_string())?;
    let w = XdfData::new(xdf)
        .create(schema, &WriteOptions::default().overwrite())
        .map_err(|e| e.to_string())?;
    copy_chunks(
        text.open(&ReadOptions::default())
            .map_err(|e| e.to_string())?,
        w,
        |_| {},
    )
    .map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_csv_import_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
                                    cut in prop::option::of(any::<prop::sample::Index>()),
                                    lenient in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = VALID.as_bytes().to_vec();
        for (i, v) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        if let Some(c) = cut {
            let n = c.index(bytes.len());
            bytes.truncate(n);
        }
        let csv = dir.path().join("fuzz.csv");
        std::fs::write(&csv, &bytes).unwrap();
        match import(&csv, &dir.path().join("f.xdf"), lenient) {
            Ok(rows) => prop_assert!(rows <= 6),
            Err(e) => prop_assert!(e.contains("fuzz.csv"), "error does not name the file: {}", e),
        }
    }
}
