//! Byte-level helpers for delimited text: record boundaries outside quotes (to cut the stream into
//! pieces that decode independently), newline counting (for line numbers in messages) and a walk
//! over records with `csv_core` (the tokenizer under arrow-csv) that knows each record's line.

use std::ops::{ControlFlow, Range};

/// Counts `\n` bytes.
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    // memchr counts with vector instructions (tens of GB/s).
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// Cuts `buf` (which starts at a record boundary, outside quotes) into pieces of about
/// `piece_size` bytes that each hold whole records. Returns the pieces and the number of bytes
/// they cover: at `eof` all of `buf`, otherwise up to the end of the last complete record (the
/// rest is carried into the next block). No pieces are returned when `buf` holds no complete
/// record and more input may follow.
pub(crate) fn split_pieces(
    buf: &[u8],
    quote: u8,
    delimiter: u8,
    piece_size: usize,
    eof: bool,
) -> (Vec<Range<usize>>, usize) {
    let piece_size = piece_size.max(1);
    let mut cuts: Vec<usize> = Vec::new();
    let last_boundary: Option<usize>;
    if memchr::memchr(quote, buf).is_none() {
        // No quotes: every newline ends a record.
        last_boundary = memchr::memrchr(b'\n', buf).map(|p| p + 1);
        let end = last_boundary.unwrap_or(0);
        let mut pos = 0usize;
        while pos.saturating_add(piece_size) < end {
            match memchr::memchr(b'\n', &buf[pos + piece_size..end]) {
                Some(off) => {
                    let cut = pos + piece_size + off + 1;
                    if cut < end {
                        cuts.push(cut);
                    }
                    pos = cut;
                }
                None => break,
            }
        }
    } else {
        // Track whether we are inside a quoted field as csv does: a quote opens a quoted field
        // only at the start of a field; inside one, a doubled quote is a literal quote.
        let mut pos = 0;
        let mut in_quote = false;
        let mut next_target = piece_size;
        let mut last = None;
        while pos < buf.len() {
            if in_quote {
                match memchr::memchr(quote, &buf[pos..]) {
                    Some(off) => {
                        let q = pos + off;
                        if buf.get(q + 1) == Some(&quote) {
                            pos = q + 2;
                        } else {
                            in_quote = false;
                            pos = q + 1;
                        }
                    }
                    None => break,
                }
            } else {
                match memchr::memchr2(quote, b'\n', &buf[pos..]) {
                    Some(off) => {
                        let p = pos + off;
                        if buf[p] == b'\n' {
                            let b = p + 1;
                            last = Some(b);
                            if b >= next_target {
                                cuts.push(b);
                                next_target = b.saturating_add(piece_size);
                            }
                        } else {
                            let at_field_start = p == 0
                                || matches!(buf[p - 1], b'\n' | b'\r')
                                || buf[p - 1] == delimiter;
                            if at_field_start {
                                in_quote = true;
                            }
                        }
                        pos = p + 1;
                    }
                    None => break,
                }
            }
        }
        last_boundary = last;
        // The last cut is the end itself; drop cuts at or past the end.
        if let Some(end) = last_boundary {
            cuts.retain(|&c| c < end);
        }
    }
    let end = if eof {
        buf.len()
    } else {
        last_boundary.unwrap_or(0)
    };
    if end == 0 {
        return (Vec::new(), 0);
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for c in cuts {
        if c > start && c < end {
            pieces.push(start..c);
            start = c;
        }
    }
    if end > start {
        pieces.push(start..end);
    }
    (pieces, end)
}

/// One record seen by [`walk_records`].
pub(crate) struct Record<'a> {
    /// 0-based index of the record in the walked bytes.
    pub index: usize,
    /// 1-based line (in the file) where the record starts.
    pub line: u64,
    /// The fields' bytes, unquoted.
    pub fields: Vec<&'a [u8]>,
}

/// Walks the records of `bytes` (which start at a record boundary on line `first_line`) with
/// csv_core, the tokenizer under arrow-csv, so records, quotes and blank lines are seen exactly as
/// the decoder sees them. `f` may stop the walk early.
pub(crate) fn walk_records(
    bytes: &[u8],
    delimiter: u8,
    quote: u8,
    first_line: u64,
    mut f: impl FnMut(Record<'_>) -> ControlFlow<()>,
) {
    let mut rdr = csv_core::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .build();
    let mut out = vec![0u8; 4096];
    let mut ends = vec![0usize; 64];
    let mut pos = 0usize;
    let mut line = first_line;
    let mut index = 0usize;
    loop {
        // The record starts after any blank lines (which csv skips).
        let mut start_line = line;
        let mut p = pos;
        while let Some(&b) = bytes.get(p) {
            if b == b'\n' {
                start_line += 1;
            } else if b != b'\r' {
                break;
            }
            p += 1;
        }
        let mut out_len = 0usize;
        let mut n_ends = 0usize;
        let rec_start = pos;
        let mut at_eof_call = false;
        loop {
            let input = if at_eof_call {
                &[][..]
            } else {
                bytes.get(pos..).unwrap_or(&[])
            };
            let (res, nin, nout, nend) =
                rdr.read_record(input, &mut out[out_len..], &mut ends[n_ends..]);
            pos += nin;
            out_len += nout;
            n_ends += nend;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {
                    if at_eof_call {
                        return;
                    }
                    at_eof_call = true;
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let n = out.len() * 2;
                    out.resize(n, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let n = ends.len() * 2;
                    ends.resize(n, 0);
                }
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::End => return,
            }
        }
        line += count_newlines(bytes.get(rec_start..pos).unwrap_or(&[]));
        let mut fields = Vec::with_capacity(n_ends);
        let mut prev = 0usize;
        for &e in ends.iter().take(n_ends) {
            fields.push(out.get(prev..e).unwrap_or(&[]));
            prev = e;
        }
        if f(Record {
            index,
            line: start_line,
            fields,
        })
        .is_break()
        {
            return;
        }
        index += 1;
    }
}

/// The 1-based line where record `index` of `bytes` starts, or `None` when there are fewer records.
pub(crate) fn line_of_record(
    bytes: &[u8],
    delimiter: u8,
    quote: u8,
    first_line: u64,
    index: usize,
) -> Option<u64> {
    let mut found = None;
    walk_records(bytes, delimiter, quote, first_line, |r| {
        if r.index == index {
            found = Some(r.line);
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_end_at_newlines_outside_quotes() {
        let data = b"a,b\n1,\"x\ny\"\n2,z\n3,w";
        let (pieces, used) = split_pieces(data, b'"', b',', 1, false);
        assert_eq!(used, 16);
        let texts: Vec<&[u8]> = pieces.iter().map(|r| &data[r.clone()]).collect();
        assert_eq!(texts, vec![&b"a,b\n"[..], b"1,\"x\ny\"\n", b"2,z\n"]);
        let (pieces, used) = split_pieces(data, b'"', b',', 1000, true);
        assert_eq!(used, data.len());
        assert_eq!(pieces, vec![0..data.len()]);
    }

    #[test]
    fn pieces_without_quotes() {
        let data = b"1,2\n3,4\n5,6\n";
        let (pieces, used) = split_pieces(data, b'"', b',', 3, false);
        assert_eq!(used, 12);
        assert_eq!(pieces, vec![0..4, 4..8, 8..12]);
        let (pieces, used) = split_pieces(b"1,2", b'"', b',', 3, false);
        assert!(pieces.is_empty() && used == 0);
    }

    #[test]
    fn newlines_are_counted() {
        let mut data = Vec::new();
        for i in 0..20_000u32 {
            data.extend_from_slice(if i % 3 == 0 { b"ab\n" } else { b"xyz," });
        }
        let want = data.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(count_newlines(&data), want);
        assert_eq!(
            count_newlines(&data[7..9000]),
            data[7..9000].iter().filter(|&&b| b == b'\n').count() as u64
        );
        assert_eq!(count_newlines(b""), 0);
    }

    #[test]
    fn a_quote_inside_a_field_is_literal() {
        let data = b"5\" screen,1\nx,2\n";
        let (pieces, _) = split_pieces(data, b'"', b',', 1, false);
        assert_eq!(pieces, vec![0..12, 12..16]);
    }

    #[test]
    fn records_know_their_lines() {
        let data = b"a,b\n\n\"x\ny\",2\r\nlast,3";
        let mut seen = Vec::new();
        walk_records(data, b',', b'"', 10, |r| {
            seen.push((r.index, r.line, r.fields.len()));
            ControlFlow::Continue(())
        });
        assert_eq!(seen, vec![(0, 10, 2), (1, 12, 2), (2, 14, 2)]);
        assert_eq!(line_of_record(data, b',', b'"', 10, 2), Some(14));
        assert_eq!(line_of_record(data, b',', b'"', 10, 3), None);
    }
}
