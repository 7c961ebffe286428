//! Reading: projection, chunking, missing values, bad values as missing, large files decoded in
//! parallel pieces.

use std::fmt::Write as _;

use rx_core::arrow::datatypes::DataType;
use rx_core::{DataSource, Error, ReadOptions};
use rx_data::TextData;

use crate::common::{col, f64s, file_with, i32s, read_all, read_one, strings};

#[test]
fn projection_reads_only_those_columns_in_that_order() {
    let (_dir, path) = file_with("t.csv", "a,b,c\n1,x,2.5\n2,y,3.5\n");
    let src = TextData::new(&path);
    let batches = read_all(&src, &ReadOptions::default().columns(["c", "a"])).unwrap();
    let b = &batches[0];
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["c", "a"]);
    assert_eq!(f64s(b.column(0)), [Some(2.5), Some(3.5)]);
    assert_eq!(i32s(b.column(1)), [Some(1), Some(2)]);
    let e = src
        .open(&ReadOptions::default().columns(["a", "zz"]))
        .err()
        .unwrap();
    assert!(
        matches!(e, Error::UnknownColumn { ref name, .. } if name == "zz"),
        "{e}"
    );
    assert!(e.to_string().contains("a, b, c"), "{e}");
}

#[test]
fn rows_per_read_gives_exact_chunks() {
    let mut text = String::from("i,s\n");
    for i in 0..1003 {
        let _ = writeln!(text, "{i},v{}", i % 7);
    }
    let (_dir, path) = file_with("t.csv", &text);
    let src = TextData::new(&path);
    let batches = read_all(&src, &ReadOptions::default().rows_per_read(100)).unwrap();
    let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes.len(), 11);
    assert!(sizes[..10].iter().all(|&n| n == 100));
    assert_eq!(sizes[10], 3);
    // The builder default applies when the read does not say.
    let batches = read_all(
        &TextData::new(&path).rows_per_read(500),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [500, 500, 3]
    );
    let all: Vec<Option<i32>> = batches.iter().flat_map(|b| i32s(b.column(0))).collect();
    assert_eq!(all, (0..1003).map(Some).collect::<Vec<_>>());
}

#[test]
fn num_rows_is_unknown_and_split_gives_one_part() {
    let (_dir, path) = file_with("t.csv", "a\n1\n");
    let src = TextData::new(&path);
    assert_eq!(src.num_rows().unwrap(), None);
    assert_eq!(src.split(4).unwrap().len(), 1);
}

#[test]
fn missing_values_in_every_type() {
    // NA first appears after the sniffed rows in numeric columns (the slow path), and empty fields.
    let mut text = String::from("n,i,s,d\n");
    for k in 0..50 {
        let _ = writeln!(text, "{k}.5,{k},s{k},2020-01-{:02}", k % 28 + 1);
    }
    text.push_str("NA,NA,NA,NA\n,,,\n1.25,7,\"\",2021-02-03\n");
    let (_dir, path) = file_with("t.csv", &text);
    let src = TextData::new(&path).rows_to_sniff(10);
    let b = read_one(&src);
    assert_eq!(b.num_rows(), 53);
    let n = f64s(&col(&b, "n"));
    assert_eq!(&n[50..], [None, None, Some(1.25)]);
    let i = i32s(&col(&b, "i"));
    assert_eq!(&i[50..], [None, None, Some(7)]);
    let s = strings(&col(&b, "s"));
    assert_eq!(&s[50..], [None, Some(String::new()), Some(String::new())]);
    assert_eq!(col(&b, "d").data_type(), &DataType::Date32);
    assert_eq!(
        strings(&col(&b, "d"))[50..],
        [None, None, Some("2021-02-03".into())]
    );
}

#[test]
fn a_custom_missing_value_string() {
    let (_dir, path) = file_with("t.csv", "x,s\n1,a\n-999,-999\n3,NA\n");
    let b = read_one(&TextData::new(&path).missing_value_string("-999"));
    assert_eq!(i32s(&col(&b, "x")), [Some(1), None, Some(3)]);
    assert_eq!(
        strings(&col(&b, "s")),
        [Some("a".into()), None, Some("NA".into())]
    );
}

#[test]
fn bad_values_as_missing_are_counted() {
    let mut text = String::from("x,y,flag\n");
    for k in 0..30 {
        let _ = writeln!(text, "{k},{k}.5,T");
    }
    text.push_str("abc,1.5,T\n7,oops,maybe\n8,2.5,F\n");
    let (_dir, path) = file_with("bad.csv", &text);
    let src = TextData::new(&path)
        .rows_to_sniff(10)
        .bad_values_as_missing(true);
    let b = read_one(&src);
    assert_eq!(b.num_rows(), 33);
    assert_eq!(i32s(&col(&b, "x"))[30..], [None, Some(7), Some(8)]);
    assert_eq!(f64s(&col(&b, "y"))[30..], [Some(1.5), None, Some(2.5)]);
    assert_eq!(
        strings(&col(&b, "flag"))[30..],
        [Some("true".into()), None, Some("false".into())]
    );
    assert_eq!(src.bad_value_count(), 3);
    let report = src.bad_values();
    assert_eq!(report.count, 3);
    assert!(
        report
            .examples
            .iter()
            .any(|e| e.contains("line 32") && e.contains("column 'x'") && e.contains("'abc'")),
        "{report:?}"
    );
    assert!(
        report
            .examples
            .iter()
            .any(|e| e.contains("line 33") && e.contains("column 'flag'")),
        "{report:?}"
    );
    // A clone shares the counter; reset clears it.
    let clone = src.clone();
    read_one(&clone);
    assert_eq!(src.bad_value_count(), 6);
    src.reset_bad_values();
    assert_eq!(clone.bad_value_count(), 0);
}

/// A file of many blocks, with quoted fields holding delimiters, quotes and newlines, read in
/// parallel pieces: every row comes back, in order, whatever the chunk size.
#[test]
fn large_file_with_quotes_reads_in_order() {
    let n = 120_000;
    let mut text = String::with_capacity(n * 40);
    text.push_str("id,label,value\n");
    for i in 0..n {
        match i % 5 {
            0 => {
                let _ = writeln!(text, "{i},\"multi\nline, \"\"{i}\"\"\",{}", i as f64 * 0.25);
            }
            1 => {
                let _ = writeln!(text, "{i},plain{i},NA");
            }
            _ => {
                let _ = writeln!(text, "{i},x{},{}", i % 13, i as f64 / 3.0);
            }
        }
    }
    let (_dir, path) = file_with("big.csv", &text);
    for rows in [7_777, 50_000, 1_000_000] {
        let src = TextData::new(&path).rows_per_read(rows);
        let batches = read_all(&src, &ReadOptions::default()).unwrap();
        let ids: Vec<Option<i32>> = batches.iter().flat_map(|b| i32s(b.column(0))).collect();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().enumerate().all(|(i, v)| *v == Some(i as i32)));
        let labels: Vec<Option<String>> =
            batches.iter().flat_map(|b| strings(b.column(1))).collect();
        assert_eq!(labels[5].as_deref(), Some("multi\nline, \"5\""));
        assert_eq!(labels[6].as_deref(), Some("plain6"));
        let values: Vec<Option<f64>> = batches.iter().flat_map(|b| f64s(b.column(2))).collect();
        assert_eq!(values[1], None);
        assert_eq!(values[3], Some(1.0));
        assert_eq!(values[100], Some(25.0));
    }
}

/// Without a chunk size, a file is read in chunks of a tenth of its rows (estimated from the
/// sniffed rows' bytes), between 50,000 and 500,000 rows; a chunk size given is kept.
#[test]
fn default_chunks_follow_the_file_size() {
    let n = 1_200_000;
    let mut text = String::with_capacity(n * 8);
    text.push_str("a,b\n");
    for i in 0..n {
        let _ = writeln!(text, "{},{}", i % 10, i % 7);
    }
    let (_dir, path) = file_with("sized.csv", &text);
    let sizes = |src: &TextData, options: &ReadOptions| -> Vec<usize> {
        read_all(src, options)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .collect()
    };
    let chunks = sizes(&TextData::new(&path), &ReadOptions::default());
    assert_eq!(chunks.iter().sum::<usize>(), n);
    assert_eq!(chunks.len(), 10, "{chunks:?}");
    assert!(chunks.iter().all(|&c| c == 120_000), "{chunks:?}");
    // Small files: chunks of 50,000 rows at least.
    let lines = 4 + 120_000 * 4; // the header and 120,000 rows of 4 bytes
    let (_dir2, small) = file_with("small.csv", &text[..lines]);
    let chunks = sizes(&TextData::new(&small), &ReadOptions::default());
    assert_eq!(chunks, [50_000, 50_000, 20_000]);
    // A size from the source or from the read wins.
    let chunks = sizes(
        &TextData::new(&path).rows_per_read(700_000),
        &ReadOptions::default(),
    );
    assert_eq!(chunks, [700_000, 500_000]);
    let chunks = sizes(
        &TextData::new(&path).rows_per_read(700_000),
        &ReadOptions::default().rows_per_read(1_000_000),
    );
    assert_eq!(chunks, [1_000_000, 200_000]);
}

#[test]
fn utf8_bom_and_no_trailing_newline() {
    let (_dir, path) = file_with("t.csv", "\u{feff}a,b\n1,é\n2,ü");
    let b = read_one(&TextData::new(&path));
    assert_eq!(i32s(&col(&b, "a")), [Some(1), Some(2)]);
    assert_eq!(strings(&col(&b, "b")), [Some("é".into()), Some("ü".into())]);
}

#[test]
fn blank_lines_are_skipped() {
    let (_dir, path) = file_with("t.csv", "a,b\n1,2\n\n3,4\n\n");
    let b = read_one(&TextData::new(&path));
    assert_eq!(i32s(&col(&b, "a")), [Some(1), Some(3)]);
}
