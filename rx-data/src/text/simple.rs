//! The fast path's fast path: a piece of delimited text with no quote character, no carriage
//! return and no blank line, whose columns read are text, integers or doubles, is split at its
//! delimiters and line ends directly (one vectorized scan for both bytes) and parsed into the
//! arrays arrow-csv's decoder builds for it — the same values: an empty field is missing, text is
//! kept as it is, and a number is parsed by arrow's own parser unless it is a plain decimal
//! (`-?digits[.digits]`, at most 15 digits, at most 22 after the point), which is computed
//! exactly as the correctly rounded quotient of two exact doubles (Clinger's fast path). Anything
//! else — a field count that differs from the header's, a value that does not parse, invalid
//! UTF-8 — declines the piece, and arrow-csv's decoder decides as before.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::Parser;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;

/// A column type the simple decoder builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Utf8,
    Int32,
    Int64,
    Float64,
}

impl Kind {
    pub(crate) fn of(dt: &DataType) -> Option<Self> {
        match dt {
            DataType::Utf8 => Some(Kind::Utf8),
            DataType::Int32 => Some(Kind::Int32),
            DataType::Int64 => Some(Kind::Int64),
            DataType::Float64 => Some(Kind::Float64),
            _ => None,
        }
    }
}

/// What the simple decoder needs of a plan.
#[derive(Debug)]
pub(crate) struct SimplePlan {
    pub delimiter: u8,
    pub quote: u8,
    /// Per file column: its place among the columns read and its kind (`None`: not read).
    pub slots: Vec<Option<(usize, Kind)>>,
    /// The batch's schema (the columns read, in order).
    pub schema: SchemaRef,
}

enum Builder {
    Utf8 {
        offsets: Vec<i32>,
        data: Vec<u8>,
        valid: Vec<bool>,
    },
    Int32(Vec<i32>, Vec<bool>),
    Int64(Vec<i64>, Vec<bool>),
    Float64(Vec<f64>, Vec<bool>),
}

/// `10^k` for `k` ≤ 22, all exact in a double.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A plain decimal `-?digits[.digits]` (at most 15 digits, at most 22 after the point), exactly
/// as a correctly rounding parser reads it; `None` for anything else.
#[inline]
fn plain_decimal(s: &[u8]) -> Option<f64> {
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let mut m: u64 = 0;
    let mut digits = 0usize;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        m = m * 10 + u64::from(s[i] - b'0');
        digits += 1;
        i += 1;
        if digits > 15 {
            return None;
        }
    }
    if digits == 0 {
        return None;
    }
    let mut frac = 0usize;
    if i < s.len() {
        if s[i] != b'.' {
            return None;
        }
        i += 1;
        let from = i;
        while i < s.len() && s[i].is_ascii_digit() {
            m = m * 10 + u64::from(s[i] - b'0');
            digits += 1;
            i += 1;
            if digits > 15 {
                return None;
            }
        }
        frac = i - from;
        if frac == 0 || i != s.len() {
            return None;
        }
    }
    // m < 10^15 < 2^53 and 10^frac are exact: their quotient is rounded once.
    let v = m as f64 / POW10[frac];
    Some(if neg { -v } else { v })
}

/// Plain integers `-?digits` of at most `max_digits` digits.
#[inline]
fn plain_integer(s: &[u8], max_digits: usize) -> Option<i64> {
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if s.is_empty() || s.len() > max_digits {
        return None;
    }
    let mut v: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(if neg { -v } else { v })
}

/// A field's value: the default for an empty (missing) field, else the fast parser's value or
/// arrow's; `None` when neither reads it.
#[inline]
fn parsed<T: Default>(
    f: &[u8],
    fast: impl Fn(&[u8]) -> Option<T>,
    arrow: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    if f.is_empty() {
        return Some(T::default());
    }
    match fast(f) {
        Some(x) => Some(x),
        None => arrow(std::str::from_utf8(f).ok()?),
    }
}

impl Builder {
    fn new(kind: Kind, rows: usize) -> Self {
        match kind {
            Kind::Utf8 => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Builder::Utf8 {
                    offsets,
                    data: Vec::new(),
                    valid: Vec::with_capacity(rows),
                }
            }
            Kind::Int32 => Builder::Int32(Vec::with_capacity(rows), Vec::with_capacity(rows)),
            Kind::Int64 => Builder::Int64(Vec::with_capacity(rows), Vec::with_capacity(rows)),
            Kind::Float64 => Builder::Float64(Vec::with_capacity(rows), Vec::with_capacity(rows)),
        }
    }

    /// Appends one field; `None` when it does not parse.
    #[inline]
    fn push(&mut self, f: &[u8]) -> Option<()> {
        let present = !f.is_empty();
        match self {
            Builder::Utf8 {
                offsets,
                data,
                valid,
            } => {
                data.extend_from_slice(f);
                offsets.push(i32::try_from(data.len()).ok()?);
                valid.push(present);
            }
            Builder::Int32(v, valid) => {
                v.push(parsed(
                    f,
                    |f| plain_integer(f, 9).map(|x| x as i32),
                    Int32Type::parse,
                )?);
                valid.push(present);
            }
            Builder::Int64(v, valid) => {
                v.push(parsed(f, |f| plain_integer(f, 18), Int64Type::parse)?);
                valid.push(present);
            }
            Builder::Float64(v, valid) => {
                v.push(parsed(f, plain_decimal, Float64Type::parse)?);
                valid.push(present);
            }
        }
        Some(())
    }

    fn finish(self) -> Option<ArrayRef> {
        fn nulls(valid: Vec<bool>) -> Option<NullBuffer> {
            valid.iter().any(|v| !v).then(|| NullBuffer::from(valid))
        }
        Some(match self {
            Builder::Utf8 {
                offsets,
                data,
                valid,
            } => Arc::new(
                StringArray::try_new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    Buffer::from_vec(data),
                    nulls(valid),
                )
                .ok()?,
            ),
            Builder::Int32(v, valid) => Arc::new(Int32Array::new(v.into(), nulls(valid))),
            Builder::Int64(v, valid) => Arc::new(Int64Array::new(v.into(), nulls(valid))),
            Builder::Float64(v, valid) => Arc::new(Float64Array::new(v.into(), nulls(valid))),
        })
    }
}

/// The positions of the delimiters and line ends of a text, from one 64-bit mask per 64 bytes
/// (compares the compiler vectorizes), so that short fields cost no branch per byte.
struct Separators<'a> {
    bytes: &'a [u8],
    delimiter: u8,
    /// Start of the 64 bytes `mask` covers.
    base: usize,
    mask: u64,
}

impl<'a> Separators<'a> {
    fn new(bytes: &'a [u8], delimiter: u8) -> Self {
        let mut s = Separators {
            bytes,
            delimiter,
            base: 0,
            mask: 0,
        };
        s.mask = s.mask_at(0);
        s
    }

    #[inline]
    fn mask_at(&self, base: usize) -> u64 {
        let end = (base + 64).min(self.bytes.len());
        let Some(block) = self.bytes.get(base..end) else {
            return 0;
        };
        let mut m = 0u64;
        if let Ok(full) = <&[u8; 64]>::try_from(block) {
            for (i, &b) in full.iter().enumerate() {
                m |= u64::from((b == self.delimiter) | (b == b'\n')) << i;
            }
        } else {
            for (i, &b) in block.iter().enumerate() {
                m |= u64::from((b == self.delimiter) | (b == b'\n')) << i;
            }
        }
        m
    }
}

impl Iterator for Separators<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.bytes.len() {
                return None;
            }
            self.mask = self.mask_at(self.base);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

impl SimplePlan {
    /// The batch of a piece of whole records, or `None` when the piece is not simple.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Option<RecordBatch> {
        if bytes.is_empty()
            || bytes[0] == b'\n'
            || memchr::memchr2(self.quote, b'\r', bytes).is_some()
            || memchr::memmem::find(bytes, b"\n\n").is_some()
            || simdutf8::basic::from_utf8(bytes).is_err()
        {
            return None;
        }
        let ncols = self.slots.len();
        // A row estimate for the builders' capacity (they grow if it is short).
        let rows_guess = memchr::memchr_iter(b'\n', bytes).count() + 1;
        let mut builders: Vec<Builder> = Vec::with_capacity(self.schema.fields().len());
        for f in self.schema.fields() {
            builders.push(Builder::new(Kind::of(f.data_type())?, rows_guess));
        }
        let mut rows = 0usize;
        let mut col = 0usize;
        let mut start = 0usize;
        let mut field = |col: usize, f: &[u8]| -> Option<()> {
            match self.slots.get(col)? {
                Some((slot, _)) => builders[*slot].push(f),
                None => Some(()),
            }
        };
        for at in Separators::new(bytes, self.delimiter) {
            field(col, &bytes[start..at])?;
            start = at + 1;
            if bytes[at] == b'\n' {
                if col + 1 != ncols {
                    return None;
                }
                col = 0;
                rows += 1;
            } else {
                col += 1;
            }
        }
        if start < bytes.len() || col > 0 {
            // The last record has no line end (its last field may be empty).
            field(col, &bytes[start..])?;
            if col + 1 != ncols {
                return None;
            }
            rows += 1;
        }
        let columns = builders
            .into_iter()
            .map(Builder::finish)
            .collect::<Option<Vec<_>>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns).ok()?;
        (batch.num_rows() == rows).then_some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use proptest::prelude::*;

    /// A field of a column of `kind`: plain and not-so-plain numbers, text, empty.
    fn arb_field(kind: Kind) -> BoxedStrategy<String> {
        let number = prop_oneof![
            (-99_999i64..99_999).prop_map(|v| v.to_string()),
            (-1e6f64..1e6).prop_map(|v| format!("{v}")),
            (-1e3f64..1e3, 0usize..18).prop_map(|(v, d)| format!("{v:.d$}")),
            (0u64..u64::MAX).prop_map(|v| v.to_string()),
            prop::sample::select(vec![
                "1e5",
                "-2.5E-3",
                "+7",
                ".5",
                "5.",
                "inf",
                "NaN",
                "-0",
                "0.0",
                "2147483648",
                "-2147483649",
                "12345678901234567890",
                "x",
                " 1",
            ])
            .prop_map(String::from),
            Just(String::new()),
        ];
        match kind {
            Kind::Utf8 => {
                prop_oneof!["[a-zA-Z0-9 .;é-]{0,8}".prop_map(String::from), number,].boxed()
            }
            _ => number.boxed(),
        }
    }

    fn kind_type(k: Kind) -> DataType {
        match k {
            Kind::Utf8 => DataType::Utf8,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
        }
    }

    fn arb_case() -> impl Strategy<Value = (Vec<Kind>, Vec<usize>, String)> {
        let kinds = prop::collection::vec(
            prop::sample::select(vec![Kind::Utf8, Kind::Int32, Kind::Int64, Kind::Float64]),
            1..5,
        );
        kinds.prop_flat_map(|kinds| {
            let n = kinds.len();
            let row = kinds.iter().map(|&k| arb_field(k)).collect::<Vec<_>>();
            (
                Just(kinds),
                prop::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=n),
                prop::collection::vec(row, 1..30),
                any::<bool>(),
            )
                .prop_map(|(kinds, proj, rows, last_newline)| {
                    let mut text = rows
                        .iter()
                        .map(|r| r.join(","))
                        .collect::<Vec<_>>()
                        .join("\n");
                    if last_newline {
                        text.push('\n');
                    }
                    (kinds, proj, text)
                })
        })
    }

    #[test]
    fn reads_a_plain_piece_and_declines_others() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("c0", DataType::Utf8, true),
            Field::new("c1", DataType::Int32, true),
            Field::new("c2", DataType::Float64, true),
        ]));
        let plan = SimplePlan {
            delimiter: b',',
            quote: b'"',
            slots: vec![
                Some((0, Kind::Utf8)),
                Some((1, Kind::Int32)),
                Some((2, Kind::Float64)),
            ],
            schema,
        };
        let b = plan.decode(b"EV,1,-30.1\n,,1e3\nAA,-7,").unwrap();
        assert_eq!(b.num_rows(), 3);
        let s = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [Some("EV"), None, Some("AA")]);
        let i = b.column(1).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(i.iter().collect::<Vec<_>>(), [Some(1), None, Some(-7)]);
        let f = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [Some(-30.1), Some(1000.0), None]
        );
        for piece in [
            &b"\"q\",1,2\n"[..],
            b"a,1,2\r\n",
            b"a,1,2\n\nb,1,2\n",
            b"a,1\n",
            b"a,1,2,3\n",
            b"a,x,2\n",
            b"a,1,2\n\xff,1,2\n",
        ] {
            assert!(plan.decode(piece).is_none(), "{piece:?}");
        }
    }

    proptest! {
        /// Whenever the simple decoder reads a piece, arrow-csv's decoder reads it too and
        /// gives the same batch (the pieces it declines are arrow-csv's to decide).
        #[test]
        fn agrees_with_arrow_csv((kinds, proj, text) in arb_case()) {
            let schema = Arc::new(Schema::new(
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| Field::new(format!("c{i}"), kind_type(k), true))
                    .collect::<Vec<_>>(),
            ));
            let mut slots = vec![None; kinds.len()];
            for (slot, &i) in proj.iter().enumerate() {
                slots[i] = Some((slot, kinds[i]));
            }
            let plan = SimplePlan {
                delimiter: b',',
                quote: b'"',
                slots,
                schema: Arc::new(schema.project(&proj).unwrap()),
            };
            let ours = plan.decode(text.as_bytes());
            let mut dec = arrow::csv::ReaderBuilder::new(schema)
                .with_header(false)
                .with_batch_size(1000)
                .with_projection(proj.clone())
                .build_decoder();
            let theirs = dec
                .decode(text.as_bytes())
                .and_then(|_| dec.decode(&[]))
                .and_then(|_| dec.flush());
            if let Some(ours) = ours {
                let theirs = theirs.expect("arrow-csv reads what the simple decoder reads");
                let theirs = theirs.expect("a batch");
                prop_assert_eq!(ours.schema(), theirs.schema());
                for (a, b) in ours.columns().iter().zip(theirs.columns()) {
                    prop_assert_eq!(a.to_data(), b.to_data());
                    prop_assert_eq!(a.nulls(), b.nulls());
                }
            }
        }
    }

    #[test]
    fn plain_decimals_read_as_a_correctly_rounding_parser_does() {
        for s in [
            "0",
            "-0",
            "0.1",
            "-30.1",
            "14.21",
            "533.0",
            "123456789012345",
            "0.00000000000001",
            "999999999999999",
            "1.5",
            "2.675",
            "0.3",
            "-0.0",
            "7.0000000000001",
        ] {
            let fast = plain_decimal(s.as_bytes()).unwrap();
            let exact: f64 = s.parse().unwrap();
            assert_eq!(fast.to_bits(), exact.to_bits(), "{s}");
        }
        for s in [
            "",
            "-",
            ".5",
            "5.",
            "1e5",
            "+1",
            "1234567890123456",
            "1.2.3",
            "nan",
            "1 ",
            " 1",
        ] {
            assert_eq!(plain_decimal(s.as_bytes()), None, "{s}");
        }
        assert_eq!(plain_integer(b"-123", 9), Some(-123));
        assert_eq!(plain_integer(b"1234567890", 9), None);
        assert_eq!(plain_integer(b"+1", 9), None);
    }
}
