//! Sniffing a delimited text file: the delimiter, whether the first row is a header, and each
//! column's type, from the first `rows_to_sniff` rows.

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use arrow::compute::kernels::cast_utils::{Parser, string_to_datetime};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimeUnit};
use rx_core::{Error, Result};

use super::scan::{count_newlines, split_pieces, walk_records};

/// What sniffing found.
#[derive(Debug, Clone)]
pub(crate) struct Sniffed {
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_header: bool,
    /// Byte offset of the first data record (after a byte-order mark and the header).
    pub data_start: u64,
    /// 1-based line number at `data_start`.
    pub data_start_line: u64,
    /// Column names (from the header, made unique; or V1, V2, ...).
    pub names: Vec<String>,
    /// Sniffed type per column (`Boolean` is R's logical, `Utf8` is character).
    pub types: Vec<DataType>,
    /// Whether the missing-value string was seen in a column sniffed as non-string.
    pub na_in_typed: bool,
    /// Data rows that were sniffed.
    pub sniffed_rows: usize,
    /// Average bytes per data row in the sniffed part (0 when it holds no data row): with the
    /// file's size, an estimate of its row count.
    pub bytes_per_row: f64,
}

/// Settings that sniffing needs.
pub(crate) struct SniffSettings<'a> {
    pub delimiter: Option<u8>,
    pub has_header: Option<bool>,
    pub rows_to_sniff: usize,
    pub quote: u8,
    pub na: &'a str,
}

const LOGICAL: [&str; 8] = ["TRUE", "FALSE", "true", "false", "T", "F", "True", "False"];

/// Parses an R logical (`TRUE`/`FALSE`/`T`/`F`, any case of true/false).
pub(crate) fn parse_logical(s: &str) -> Option<bool> {
    match s {
        "T" => Some(true),
        "F" => Some(false),
        _ if s.eq_ignore_ascii_case("true") => Some(true),
        _ if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

/// `YYYY-MM-DD` that is a real date.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && digits(&b[..4])
        && digits(&b[5..7])
        && digits(&b[8..10])
        && Date32Type::parse(s).is_some()
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` (or with `T`) that is a real date and time.
pub(crate) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 19 || !is_date(s.get(..10).unwrap_or("")) || !matches!(b[10], b' ' | b'T') {
        return false;
    }
    let t = &b[11..19];
    let shape =
        digits(&t[0..2]) && t[2] == b':' && digits(&t[3..5]) && t[5] == b':' && digits(&t[6..8]);
    let frac = match &b[19..] {
        [] => true,
        [b'.', rest @ ..] => !rest.is_empty() && digits(rest),
        _ => false,
    };
    shape && frac && string_to_datetime(&chrono::Utc, s).is_ok()
}

/// Whether `s` parses as a value of `dt` (one of the sniffed types).
pub(crate) fn parses_as(s: &str, dt: &DataType) -> bool {
    match dt {
        DataType::Boolean => parse_logical(s).is_some(),
        DataType::Int32 => Int64Type::parse(s).is_some_and(|v| i32::try_from(v).is_ok()),
        DataType::Int64 => Int64Type::parse(s).is_some(),
        DataType::Float64 => Float64Type::parse(s).is_some(),
        DataType::Date32 => is_date(s),
        DataType::Timestamp(..) => is_timestamp(s),
        _ => true,
    }
}

/// The narrowest sniffed type of one value.
fn value_type(s: &str) -> DataType {
    sniff_type([s].into_iter())
}

/// The sniffed type of a column from its non-missing values.
pub(crate) fn sniff_type<'a>(values: impl Iterator<Item = &'a str>) -> DataType {
    let (mut any, mut logical, mut int32, mut int64, mut float, mut date, mut ts) =
        (false, true, true, true, true, true, true);
    for s in values {
        any = true;
        if logical && !LOGICAL.contains(&s) {
            logical = false;
        }
        if int64 {
            match Int64Type::parse(s) {
                Some(v) => {
                    if int32 && i32::try_from(v).is_err() {
                        int32 = false;
                    }
                }
                None => {
                    int64 = false;
                    int32 = false;
                }
            }
        }
        if !int64 && float && Float64Type::parse(s).is_none() {
            float = false;
        }
        if date && !is_date(s) {
            date = false;
        }
        if ts && !is_timestamp(s) {
            ts = false;
        }
        if !(logical || int64 || float || date || ts) {
            return DataType::Utf8;
        }
    }
    if !any {
        DataType::Utf8
    } else if logical {
        DataType::Boolean
    } else if int32 {
        DataType::Int32
    } else if int64 {
        DataType::Int64
    } else if float {
        DataType::Float64
    } else if date {
        DataType::Date32
    } else if ts {
        DataType::Timestamp(TimeUnit::Microsecond, None)
    } else {
        DataType::Utf8
    }
}

fn is_numeric_type(dt: &DataType) -> bool {
    matches!(dt, DataType::Int32 | DataType::Int64 | DataType::Float64)
}

/// The delimiter among `,` `\t` `;` `|` that splits the first lines into the same number of
/// fields (the most fields wins); `,` when none does.
pub(crate) fn sniff_delimiter(prefix: &[u8], quote: u8, eof: bool) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b'\t', b';', b'|'];
    let mut lines: Vec<&[u8]> = prefix.split(|&b| b == b'\n').collect();
    if !eof && lines.len() > 1 {
        lines.pop(); // possibly incomplete
    }
    let lines: Vec<&[u8]> = lines
        .into_iter()
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .take(30)
        .collect();
    let count = |line: &[u8], d: u8| {
        let mut in_q = false;
        line.iter()
            .filter(|&&b| {
                if b == quote {
                    in_q = !in_q;
                }
                !in_q && b == d
            })
            .count()
    };
    let mut best: Option<(u8, usize, bool)> = None; // (delimiter, count on first line, consistent)
    for d in CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| count(l, d)).collect();
        let Some(&first) = counts.first() else {
            continue;
        };
        if first == 0 {
            continue;
        }
        let consistent = counts.iter().all(|&c| c == first);
        let better = match best {
            None => true,
            Some((_, bc, bcons)) => (consistent && !bcons) || (consistent == bcons && first > bc),
        };
        if better {
            best = Some((d, first, consistent));
        }
    }
    best.map_or(b',', |(d, _, _)| d)
}

/// Unique, non-empty column names: an empty name becomes `V<i>`, a repeated one gets `.1`, `.2`...
pub(crate) fn unique_names(raw: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, n) in raw.into_iter().enumerate() {
        let base = if n.is_empty() {
            format!("V{}", i + 1)
        } else {
            n
        };
        let mut name = base.clone();
        let mut k = 1;
        while out.contains(&name) {
            name = format!("{base}.{k}");
            k += 1;
        }
        out.push(name);
    }
    out
}

/// Reads the start of the file: enough bytes for `rows` records (roughly), at most 64 MiB.
fn read_prefix(path: &Path, rows: usize) -> Result<(Vec<u8>, bool)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    let mut step = 1usize << 20;
    loop {
        let got = file
            .by_ref()
            .take(step as u64)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(path, e))?;
        if got < step {
            return Ok((buf, true));
        }
        if count_newlines(&buf) as usize > rows + 2 || buf.len() >= 64 << 20 {
            return Ok((buf, false));
        }
        step *= 2;
    }
}

/// Sniffs the file.
pub(crate) fn sniff(path: &Path, name: &str, s: &SniffSettings<'_>) -> Result<Sniffed> {
    let (prefix, eof) = read_prefix(path, s.rows_to_sniff)?;
    let bom = if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let body = prefix.get(bom..).unwrap_or(&[]);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::BadValue {
            location: format!("{name}: line 1"),
            message: "the file is empty: there is no header and no data; check the path".into(),
        });
    }
    let delimiter = s.delimiter.unwrap_or_else(|| {
        let is_tsv = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
        if is_tsv {
            b'\t'
        } else {
            sniff_delimiter(body, s.quote, eof)
        }
    });
    // The sniffed part ends at the last complete record (all of it at end of file).
    let (_, used) = split_pieces(body, s.quote, delimiter, usize::MAX, eof);
    let region = body.get(..used).unwrap_or(body);

    // The first record gives the number of columns.
    // The sniffed records, flat: all field texts in one string, with their spans.
    let mut text = String::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut ncols = 0usize;
    let mut nrec = 0usize;
    let mut bad: Option<Error> = None;
    let mut ragged: Option<(u64, usize)> = None;
    let want = s.rows_to_sniff.saturating_add(1);
    walk_records(region, delimiter, s.quote, 1, |r| {
        if nrec == 0 {
            ncols = r.fields.len();
        } else if r.fields.len() != ncols {
            // Reported once the column names are known.
            ragged = Some((r.line, r.fields.len()));
            return ControlFlow::Break(());
        }
        for (j, f) in r.fields.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(v) => {
                    spans.push((text.len(), text.len() + v.len()));
                    text.push_str(v);
                }
                Err(_) => {
                    bad = Some(Error::BadValue {
                        location: format!("{name}: line {}, field {}", r.line, j + 1),
                        message: "the text is not valid UTF-8; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)".into(),
                    });
                    return ControlFlow::Break(());
                }
            }
        }
        nrec += 1;
        if nrec >= want {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Some(e) = bad {
        return Err(e);
    }
    if nrec == 0 || ncols == 0 {
        return Err(Error::BadValue {
            location: format!("{name}: line 1"),
            message: "the file has no records; check the path and the delimiter".into(),
        });
    }
    let field = |r: usize, c: usize| -> &str {
        spans
            .get(r * ncols + c)
            .and_then(|&(a, b)| text.get(a..b))
            .unwrap_or("")
    };
    let first_fields: Vec<String> = (0..ncols).map(|c| field(0, c).to_string()).collect();
    let is_missing = |v: &str| v.is_empty() || v == s.na;
    let col_values = |c: usize, from: usize| (from..nrec).map(move |r| field(r, c));
    let types_from = |from: usize| -> Vec<DataType> {
        (0..ncols)
            .map(|c| sniff_type(col_values(c, from).filter(|v| !is_missing(v))))
            .collect()
    };

    let mut rest_types = None;
    let has_header = match s.has_header {
        Some(h) => h,
        None => {
            if nrec == 1 {
                first_fields
                    .iter()
                    .all(|f| !is_missing(f) && value_type(f) == DataType::Utf8)
            } else {
                let rest = types_from(1);
                let mismatch = first_fields.iter().zip(&rest).any(|(f, t)| {
                    *t != DataType::Utf8
                        && !is_missing(f)
                        && !parses_as(f, t)
                        && value_type(f) == DataType::Utf8
                });
                let all_text = first_fields
                    .iter()
                    .all(|f| !is_missing(f) && value_type(f) == DataType::Utf8);
                let data_numbers = rest.iter().any(is_numeric_type);
                rest_types = Some(rest);
                mismatch || (all_text && data_numbers)
            }
        }
    };

    let data_from = usize::from(has_header);
    let types = match rest_types {
        Some(t) if has_header => t,
        _ => types_from(data_from),
    };
    let na_in_typed = (0..ncols).any(|c| {
        types.get(c).is_some_and(|t| *t != DataType::Utf8)
            && !s.na.is_empty()
            && col_values(c, data_from).any(|v| v == s.na)
    });
    let names = if has_header {
        unique_names(first_fields.clone())
    } else {
        (1..=ncols).map(|i| format!("V{i}")).collect()
    };
    if let Some((line, found)) = ragged {
        return Err(ragged_error(
            name,
            line,
            ncols,
            found,
            delimiter,
            Some(&names),
        ));
    }

    // Where the data starts: after the header record.
    let mut data_start = bom as u64;
    if has_header {
        let mut end = 0usize;
        walk_records_end(region, delimiter, s.quote, &mut end);
        data_start += end as u64;
    }
    let header_bytes = prefix.get(..data_start as usize).unwrap_or(&[]);
    let data_start_line = 1 + count_newlines(header_bytes);
    let sniffed_rows = nrec.saturating_sub(data_from);
    // Lines, not records (a quoted field may hold a line break): an estimate is all it is for.
    let data_bytes = region.len().saturating_sub(data_start as usize - bom);
    let data_lines = count_newlines(region.get(data_start as usize - bom..).unwrap_or(&[]));
    let bytes_per_row = if data_lines > 0 {
        data_bytes as f64 / data_lines as f64
    } else {
        0.0
    };
    Ok(Sniffed {
        delimiter,
        has_header,
        data_start,
        data_start_line,
        names,
        types,
        na_in_typed,
        sniffed_rows,
        bytes_per_row,
    })
}

/// The byte offset just after the first record of `bytes`.
fn walk_records_end(bytes: &[u8], delimiter: u8, quote: u8, end: &mut usize) {
    let mut rdr = csv_core::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .build();
    let mut out = vec![0u8; 1 << 16];
    let mut ends = vec![0usize; 1 << 12];
    let mut pos = 0usize;
    let mut eof = false;
    loop {
        let input = if eof {
            &[][..]
        } else {
            bytes.get(pos..).unwrap_or(&[])
        };
        let (res, nin, _, _) = rdr.read_record(input, &mut out, &mut ends);
        pos += nin;
        match res {
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            csv_core::ReadRecordResult::InputEmpty if eof => break,
            csv_core::ReadRecordResult::InputEmpty => eof = true,
            csv_core::ReadRecordResult::OutputFull => {
                let n = out.len() * 2;
                out = vec![0u8; n];
            }
            csv_core::ReadRecordResult::OutputEndsFull => {
                let n = ends.len() * 2;
                ends = vec![0usize; n];
            }
        }
    }
    *end = pos;
}

/// The error for a record with the wrong number of fields.
pub(crate) fn ragged_error(
    name: &str,
    line: u64,
    expected: usize,
    found: usize,
    delimiter: u8,
    names: Option<&[String]>,
) -> Error {
    let d = match delimiter {
        b'\t' => "\\t".to_string(),
        d => (d as char).to_string(),
    };
    let column = names.and_then(|n| {
        if found < expected {
            n.get(found).map(|c| format!(", column '{c}'"))
        } else {
            n.last().map(|c| format!(", after column '{c}'"))
        }
    });
    let what = if found < expected {
        "is missing"
    } else {
        "has an extra field"
    };
    Error::BadValue {
        location: format!("{name}: line {line}{}", column.unwrap_or_default()),
        message: format!(
            "the row has {found} fields but the file has {expected} columns (so it {what}); check the delimiter \
             ('{d}'), quoting (\"...\" around values that hold the delimiter or a line break) and that every row has \
             the same number of fields"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_sniffed() {
        assert_eq!(sniff_type(["1", "-2", "30"].into_iter()), DataType::Int32);
        assert_eq!(sniff_type(["1", "3000000000"].into_iter()), DataType::Int64);
        assert_eq!(
            sniff_type(["1", "2.5", "1e3"].into_iter()),
            DataType::Float64
        );
        assert_eq!(
            sniff_type(["T", "FALSE", "true"].into_iter()),
            DataType::Boolean
        );
        assert_eq!(
            sniff_type(["2020-01-31", "1999-12-01"].into_iter()),
            DataType::Date32
        );
        assert_eq!(sniff_type(["2020-02-30"].into_iter()), DataType::Utf8);
        assert_eq!(
            sniff_type(["2020-01-31 10:00:00", "2020-01-31 10:00:00.25"].into_iter()),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(sniff_type(["1", "x"].into_iter()), DataType::Utf8);
        assert_eq!(sniff_type([].into_iter()), DataType::Utf8);
        assert_eq!(
            sniff_type(["99999999999999999999"].into_iter()),
            DataType::Float64
        );
    }

    #[test]
    fn delimiters_are_sniffed() {
        assert_eq!(sniff_delimiter(b"a;b;c\n1;2,5;3\n", b'"', true), b';');
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", b'"', true), b'\t');
        assert_eq!(sniff_delimiter(b"a|b\n1|2\n", b'"', true), b'|');
        assert_eq!(sniff_delimiter(b"\"x,y\";b\n1;2\n", b'"', true), b';');
        assert_eq!(sniff_delimiter(b"abc\n", b'"', true), b',');
    }

    #[test]
    fn names_are_made_unique() {
        assert_eq!(
            unique_names(vec!["a".into(), "".into(), "a".into(), "a".into()]),
            ["a", "V2", "a.1", "a.2"]
        );
    }
}
