//! Error messages name the file, the line and the column, and say what to do.

use std::fmt::Write as _;

use rx_core::{DataSource, Error, ReadOptions};
use rx_data::TextData;

use crate::common::{file_with, read_all};

fn read_err(src: &TextData) -> Error {
    read_all(src, &ReadOptions::default()).expect_err("the read should fail")
}

#[test]
fn ragged_rows_name_the_line() {
    let (_dir, path) = file_with("ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n");
    let e = read_err(&TextData::new(&path)).to_string();
    assert!(
        e.contains("ragged.csv")
            && e.contains("line 3")
            && e.contains("column 'c'")
            && e.contains("2 fields"),
        "{e}"
    );
    assert!(e.contains("delimiter"), "{e}");
    // Too many fields, far beyond the sniffed rows; bad_values_as_missing does not hide it.
    let mut text = String::from("a,b\n");
    for i in 0..5000 {
        let _ = writeln!(text, "{i},{i}");
    }
    text.push_str("1,2,3\n");
    let (_dir2, path2) = file_with("ragged2.csv", &text);
    let e = read_err(
        &TextData::new(&path2)
            .rows_to_sniff(100)
            .bad_values_as_missing(true),
    )
    .to_string();
    assert!(
        e.contains("line 5002") && e.contains("3 fields") && e.contains("after column 'b'"),
        "{e}"
    );
}

#[test]
fn a_ragged_row_in_the_sniffed_part() {
    let (_dir, path) = file_with("r.csv", "a,b\n1,2\n3\n");
    let e = TextData::new(&path).schema().unwrap_err().to_string();
    assert!(e.contains("r.csv") && e.contains("line 3"), "{e}");
}

#[test]
fn bad_numbers_name_line_column_and_value() {
    let mut text = String::from("Distance,Name\n");
    for i in 0..20 {
        let _ = writeln!(text, "{i}.5,\"name\n{i}\"");
    }
    text.push_str("abc,zz\n");
    let (_dir, path) = file_with("flights.csv", &text);
    let e = read_err(&TextData::new(&path).rows_to_sniff(10));
    assert!(matches!(e, Error::BadValue { .. }));
    let e = e.to_string();
    // Each quoted name spans two lines: the bad row starts on line 2 + 2*20 = 42.
    assert!(
        e.contains("flights.csv: line 42, column 'Distance': value 'abc' is not a number"),
        "{e}"
    );
    assert!(
        e.contains("bad_values_as_missing") && e.contains("--col-type Distance=character"),
        "{e}"
    );
}

#[test]
fn int32_overflow_says_to_use_int64() {
    let mut text = String::from("id\n");
    for i in 0..10 {
        let _ = writeln!(text, "{i}");
    }
    text.push_str("3000000000\n");
    let (_dir, path) = file_with("ids.csv", &text);
    let e = read_err(&TextData::new(&path).rows_to_sniff(5)).to_string();
    assert!(
        e.contains("line 12") && e.contains("column 'id'") && e.contains("does not fit in Int32"),
        "{e}"
    );
    assert!(
        e.contains("--col-type id=int64") && e.contains("column_classes"),
        "{e}"
    );
    // Following the advice works.
    let classes = [("id".to_string(), rx_core::ColType::Int64)]
        .into_iter()
        .collect();
    let b = crate::common::read_one(
        &TextData::new(&path)
            .rows_to_sniff(5)
            .column_classes(classes),
    );
    assert_eq!(
        crate::common::i64s(b.column(0)).last().copied().flatten(),
        Some(3_000_000_000)
    );
}

#[test]
fn bad_dates_and_logicals() {
    let (_dir, path) = file_with(
        "d.csv",
        "d,l\n2020-01-01,TRUE\n2020-01-02,F\n2020-13-01,T\n",
    );
    let e = read_err(&TextData::new(&path).rows_to_sniff(2)).to_string();
    assert!(
        e.contains("line 4") && e.contains("column 'd'") && e.contains("not a date"),
        "{e}"
    );
    let (_dir2, path2) = file_with("l.csv", "l\nTRUE\nF\nyes\n");
    let e = read_err(&TextData::new(&path2).rows_to_sniff(2)).to_string();
    assert!(
        e.contains("line 4") && e.contains("column 'l'") && e.contains("not a logical"),
        "{e}"
    );
}

#[test]
fn missing_and_empty_files() {
    let e = TextData::new("/nonexistent/dir/x.csv")
        .schema()
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/dir/x.csv"), "{e}");
    let (_dir, path) = file_with("empty.csv", "");
    let e = TextData::new(&path).schema().unwrap_err().to_string();
    assert!(e.contains("empty.csv") && e.contains("empty"), "{e}");
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.csv");
    let mut bytes = b"a,b\n1,ok\n".to_vec();
    for i in 0..100 {
        bytes.extend_from_slice(format!("{i},ok\n").as_bytes());
    }
    bytes.extend_from_slice(b"2,caf\xe9\n");
    std::fs::write(&path, bytes).unwrap();
    let e = read_err(&TextData::new(&path).rows_to_sniff(5)).to_string();
    assert!(
        e.contains("line 103") && e.contains("column 'b'") && e.contains("UTF-8"),
        "{e}"
    );
}

#[test]
fn unknown_column_info_names_are_errors() {
    let (_dir, path) = file_with("t.csv", "a,b\n1,2\n");
    let info = [(
        "zz".to_string(),
        rx_core::ColumnInfo::default().with_new_name("q"),
    )]
    .into_iter()
    .collect();
    let e = TextData::new(&path).column_info(info).schema().unwrap_err();
    assert!(
        matches!(e, Error::UnknownColumn { ref name, .. } if name == "zz"),
        "{e}"
    );
}

#[test]
fn errors_deep_in_a_large_file_name_the_right_line() {
    // Several blocks and many pieces; every 10th record spans two lines.
    let mut text = String::from("id,note,x\n");
    let mut line = 2u64;
    let n = 150_000;
    for i in 0..n {
        if i % 10 == 0 {
            let _ = writeln!(text, "{i},\"two\nlines\",{i}.5");
            line += 2;
        } else {
            let _ = writeln!(text, "{i},one,{i}.5");
            line += 1;
        }
    }
    let bad_line = line;
    text.push_str("7,x,not-a-number\n");
    for i in 0..1000 {
        let _ = writeln!(text, "{i},one,1.5");
    }
    let (_dir, path) = file_with("deep.csv", &text);
    let e = read_err(&TextData::new(&path).rows_per_read(10_000)).to_string();
    assert!(
        e.contains(&format!("line {bad_line}, column 'x'")) && e.contains("not-a-number"),
        "{e}"
    );
    // The same with bad values as missing: counted, and the example names the line.
    let src = TextData::new(&path).bad_values_as_missing(true);
    let rows: usize = read_all(&src, &ReadOptions::default())
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, n + 1001);
    assert_eq!(src.bad_value_count(), 1);
    assert!(
        src.bad_values().examples[0].contains(&format!("line {bad_line}")),
        "{:?}",
        src.bad_values()
    );
}
