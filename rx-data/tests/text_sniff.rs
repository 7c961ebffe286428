//! Sniffing: delimiters, header detection, column types.

use rx_core::DataSource;
use rx_core::arrow::datatypes::{DataType, TimeUnit};
use rx_data::TextData;

use crate::common::{col, f64s, file_with, i32s, read_one, strings};

fn types(src: &TextData) -> Vec<DataType> {
    src.schema()
        .unwrap()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

#[test]
fn delimiters_are_sniffed() {
    for (d, text) in [
        (b',', "a,b\n1,x\n2,y\n"),
        (b'\t', "a\tb\n1\tx\n2\ty\n"),
        (b';', "a;b\n1;x,1\n2;y,2\n"),
        (b'|', "a|b\n1|x\n2|y\n"),
    ] {
        let (_dir, path) = file_with("t.txt", text);
        let src = TextData::new(&path);
        let f = src.format().unwrap();
        assert_eq!(f.delimiter, d, "{text:?}");
        assert_eq!(f.names, ["a", "b"]);
        assert_eq!(read_one(&src).num_rows(), 2);
    }
}

#[test]
fn tsv_defaults_to_tab_and_delimiter_can_be_given() {
    // Commas inside tab-separated fields: the extension decides.
    let (_dir, path) = file_with("t.tsv", "a\tb\n1,2\t3\n");
    let b = read_one(&TextData::new(&path));
    assert_eq!(strings(&col(&b, "a")), [Some("1,2".to_string())]);
    let (_dir2, path2) = file_with("t.txt", "a:b\n1:2\n");
    let b = read_one(&TextData::new(&path2).delimiter(b':'));
    assert_eq!(i32s(&col(&b, "b")), [Some(2)]);
}

#[test]
fn header_is_detected() {
    // Names over numbers.
    let (_d1, p1) = file_with("a.csv", "x,y\n1,2\n3,4\n");
    assert!(TextData::new(&p1).format().unwrap().has_header);
    // Numbers only: no header, columns V1, V2.
    let (_d2, p2) = file_with("b.csv", "1,2\n3,4\n");
    let src = TextData::new(&p2);
    let f = src.format().unwrap();
    assert!(!f.has_header);
    assert_eq!(f.names, ["V1", "V2"]);
    assert_eq!(read_one(&src).num_rows(), 2);
    // A text column under a text name, next to a numeric column: the numeric column decides.
    let (_d3, p3) = file_with("c.csv", "name,score\nann,1.5\nbob,2\n");
    assert!(TextData::new(&p3).format().unwrap().has_header);
    // All text, header not detectable: read as data unless told.
    let (_d4, p4) = file_with("d.csv", "name,city\nann,paris\nbob,rome\n");
    let auto = TextData::new(&p4);
    assert!(!auto.format().unwrap().has_header);
    assert_eq!(read_one(&auto).num_rows(), 3);
    let told = TextData::new(&p4).has_header(true);
    let b = read_one(&told);
    assert_eq!(b.num_rows(), 2);
    assert_eq!(
        strings(&col(&b, "city")),
        [Some("paris".into()), Some("rome".into())]
    );
    // A first row of numbers of another type is data, not a header.
    let (_d5, p5) = file_with("e.csv", "1.5,2\n1,3\n2,4\n");
    assert!(!TextData::new(&p5).format().unwrap().has_header);
    // A header-only file.
    let (_d6, p6) = file_with("f.csv", "a,b\n");
    let src = TextData::new(&p6);
    assert!(src.format().unwrap().has_header);
    assert_eq!(read_one(&src).num_rows(), 0);
}

#[test]
fn types_are_sniffed() {
    let text = "lg,i32,i64,f,d,ts,s,empty\n\
                TRUE,1,3000000000,1.5,2020-01-31,2020-01-31 10:11:12,a,\n\
                F,-7,1,2,1999-12-01,2020-01-31 10:11:12.5,b,\n\
                T,,NA,NA,,,NA,\n";
    let (_dir, path) = file_with("t.csv", text);
    let src = TextData::new(&path);
    assert_eq!(
        types(&src),
        [
            DataType::Boolean,
            DataType::Int32,
            DataType::Int64,
            DataType::Float64,
            DataType::Date32,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            DataType::Utf8,
            DataType::Utf8,
        ]
    );
    let b = read_one(&src);
    assert_eq!(
        strings(&col(&b, "lg")),
        [
            Some("true".into()),
            Some("false".into()),
            Some("true".into())
        ]
    );
    assert_eq!(i32s(&col(&b, "i32")), [Some(1), Some(-7), None]);
    assert_eq!(f64s(&col(&b, "f")), [Some(1.5), Some(2.0), None]);
    assert_eq!(
        strings(&col(&b, "d")),
        [Some("2020-01-31".into()), Some("1999-12-01".into()), None]
    );
    assert_eq!(
        strings(&col(&b, "ts")),
        [
            Some("2020-01-31T10:11:12".into()),
            Some("2020-01-31T10:11:12.500".into()),
            None
        ]
    );
    // Strings: NA is missing, an empty field is an empty string.
    assert_eq!(
        strings(&col(&b, "s")),
        [Some("a".into()), Some("b".into()), None]
    );
    assert_eq!(
        strings(&col(&b, "empty")),
        [
            Some(String::new()),
            Some(String::new()),
            Some(String::new())
        ]
    );
}

#[test]
fn sniffing_uses_only_rows_to_sniff() {
    // The first 3 rows are integers; the 4th is a float: sniffing 3 rows gives int32 and an error
    // that says what to do; sniffing more gives float64.
    let (_dir, path) = file_with("t.csv", "x\n1\n2\n3\n4.5\n");
    let e = crate::common::read_all(&TextData::new(&path).rows_to_sniff(3), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 5")
            && e.contains("column 'x'")
            && e.contains("4.5")
            && e.contains("column_classes"),
        "{e}"
    );
    assert_eq!(types(&TextData::new(&path)), [DataType::Float64]);
}

#[test]
fn quoted_fields_and_crlf() {
    let (_dir, path) = file_with(
        "t.csv",
        "id,text\r\n1,\"a, \"\"quoted\"\"\r\nvalue\"\r\n2,plain\r\n",
    );
    let b = read_one(&TextData::new(&path));
    assert_eq!(i32s(&col(&b, "id")), [Some(1), Some(2)]);
    assert_eq!(
        strings(&col(&b, "text")),
        [Some("a, \"quoted\"\r\nvalue".into()), Some("plain".into())]
    );
}

#[test]
fn duplicate_and_empty_names_are_made_unique() {
    let (_dir, path) = file_with("t.csv", "a,,a\n1,2,3\n");
    assert_eq!(
        TextData::new(&path).format().unwrap().names,
        ["a", "V2", "a.1"]
    );
}
