//! Property tests: random schemas (every stored type, nulls, factors, unicode and empty strings,
//! empty batches, zero rows) round-trip CSV -> XDF -> memory and Parquet -> XDF -> memory exactly;
//! append then read equals one write of all rows; a composite set equals a single file.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use revoscale::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt8Array,
    UInt16Array, UInt32Array,
};
use revoscale::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use revoscale::core::factor::{LevelTable, factor_type};
use revoscale::core::{
    ColType, ColumnInfo, DataSink, DataSource, ReadOptions, WriteOptions, copy_chunks,
};
use revoscale::data::{MemoryData, ParquetData, TextData};
use revoscale::xdf::{XdfData, rx_read_xdf};

#[derive(Debug, Clone, Copy)]
enum T {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    F32,
    F64,
    Str,
    Factor,
    Date,
    Ts,
}

impl T {
    fn data_type(self) -> DataType {
        match self {
            T::Bool => DataType::Boolean,
            T::I8 => DataType::Int8,
            T::I16 => DataType::Int16,
            T::I32 => DataType::Int32,
            T::I64 => DataType::Int64,
            T::U8 => DataType::UInt8,
            T::U16 => DataType::UInt16,
            T::U32 => DataType::UInt32,
            T::F32 => DataType::Float32,
            T::F64 => DataType::Float64,
            T::Str => DataType::Utf8,
            T::Factor => factor_type(),
            T::Date => DataType::Date32,
            T::Ts => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    fn col_type(self) -> ColType {
        match self {
            T::Bool => ColType::Logical,
            T::I8 => ColType::Int8,
            T::I16 => ColType::Int16,
            T::I32 => ColType::Int32,
            T::I64 => ColType::Int64,
            T::U8 => ColType::UInt8,
            T::U16 => ColType::UInt16,
            T::U32 => ColType::UInt32,
            T::F32 => ColType::Float32,
            T::F64 => ColType::Float64,
            T::Str => ColType::Character,
            T::Factor => ColType::Factor,
            T::Date => ColType::Date,
            T::Ts => ColType::Timestamp,
        }
    }
}

fn any_type() -> impl Strategy<Value = T> {
    prop_oneof![
        Just(T::Bool),
        Just(T::I8),
        Just(T::I16),
        Just(T::I32),
        Just(T::I64),
        Just(T::U8),
        Just(T::U16),
        Just(T::U32),
        Just(T::F32),
        Just(T::F64),
        Just(T::Str),
        Just(T::Factor),
        Just(T::Date),
        Just(T::Ts),
    ]
}

/// Strings that CSV must carry exactly: unicode, empty, delimiters, quotes, newlines, spaces.
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 ]{1,8}",
        "[é漢字ß😀,;\"' \\n]{1,6}",
        Just(" padded ".to_string()),
    ]
    .prop_filter("NA is the missing-value string", |s| s != "NA")
}

/// One column of `n` values, about 1 in 5 missing.
fn column(t: T, n: usize) -> BoxedStrategy<ArrayRef> {
    let nulls = prop::collection::vec(prop::bool::weighted(0.2), n);
    macro_rules! prim {
        ($arr:ty, $strat:expr) => {
            (prop::collection::vec($strat, n), nulls)
                .prop_map(|(v, m)| {
                    Arc::new(<$arr>::from(
                        v.into_iter()
                            .zip(m)
                            .map(|(x, null)| (!null).then_some(x))
                            .collect::<Vec<_>>(),
                    )) as ArrayRef
                })
                .boxed()
        };
    }
    match t {
        T::Bool => prim!(BooleanArray, any::<bool>()),
        T::I8 => prim!(Int8Array, any::<i8>()),
        T::I16 => prim!(Int16Array, any::<i16>()),
        T::I32 => prim!(Int32Array, any::<i32>()),
        T::I64 => prim!(Int64Array, any::<i64>()),
        T::U8 => prim!(UInt8Array, any::<u8>()),
        T::U16 => prim!(UInt16Array, any::<u16>()),
        T::U32 => prim!(UInt32Array, any::<u32>()),
        T::F32 => prim!(
            Float32Array,
            prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL
        ),
        T::F64 => prim!(
            Float64Array,
            prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL
        ),
        T::Date => prim!(Date32Array, -100_000i32..100_000),
        T::Ts => prim!(
            TimestampMicrosecondArray,
            -2_000_000_000_000_000i64..4_000_000_000_000_000
        ),
        T::Str => (prop::collection::vec(any_string(), n), nulls)
            .prop_map(|(v, m)| {
                Arc::new(StringArray::from(
                    v.into_iter()
                        .zip(m)
                        .map(|(x, null)| (!null).then_some(x))
                        .collect::<Vec<_>>(),
                )) as ArrayRef
            })
            .boxed(),
        T::Factor => (
            prop::collection::vec(prop::sample::select(vec!["a", "b é", "", "Z z", "漢"]), n),
            nulls,
        )
            .prop_map(|(v, m)| {
                let s = StringArray::from(
                    v.into_iter()
                        .zip(m)
                        .map(|(x, null)| (!null).then_some(x))
                        .collect::<Vec<_>>(),
                );
                Arc::new(LevelTable::new().encode_strings(&s, false, "f").unwrap()) as ArrayRef
            })
            .boxed(),
    }
}

/// A random table: 1..6 columns, split into 0..4 batches (some empty).
fn table() -> impl Strategy<Value = (SchemaRef, Vec<RecordBatch>)> {
    (
        prop::collection::vec(any_type(), 1..6),
        prop::collection::vec(0usize..12, 0..4),
    )
        .prop_flat_map(|(types, sizes)| {
            let fields: Vec<Field> = types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("c{i}_{t:?}"), t.data_type(), true))
                .collect();
            let schema = Arc::new(Schema::new(fields));
            let batches: Vec<_> = sizes
                .iter()
                .map(|&n| {
                    let s = schema.clone();
                    types
                        .iter()
                        .map(|&t| column(t, n))
                        .collect::<Vec<_>>()
                        .prop_map(move |cols| RecordBatch::try_new(s.clone(), cols).unwrap())
                })
                .collect();
            (Just(schema), batches)
        })
}

/// All rows as one batch, factors as their level text (so level order does not matter).
fn canonical(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<ArrayRef> {
    let all = revoscale::arrow::compute::concat_batches(schema, batches).unwrap();
    all.columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Dictionary(..) => {
                revoscale::arrow::compute::cast(c, &DataType::Utf8).unwrap()
            }
            _ => c.clone(),
        })
        .collect()
}

fn read_xdf_canonical(path: &std::path::Path, schema: &SchemaRef) -> Vec<ArrayRef> {
    let b = rx_read_xdf(path, None).unwrap();
    let stripped = RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap();
    canonical(schema, &[stripped])
}

fn copy(src: &dyn DataSource, sink: &dyn DataSink, opts: &WriteOptions) -> u64 {
    copy_chunks(
        src.open(&ReadOptions::default()).unwrap(),
        sink.create(src.schema().unwrap(), opts).unwrap(),
        |_| {},
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn csv_to_xdf_to_memory_is_exact((schema, batches) in table()) {
        let dir = tempfile::tempdir().unwrap();
        let mem = MemoryData::new(schema.clone(), batches.clone()).unwrap();
        let csv = dir.path().join("t.csv");
        copy(&mem, &TextData::new(&csv), &WriteOptions::default());
        // The column types are declared, as a user would with column_info, so that sniffing cannot
        // read, say, a float column whose values are all whole as integers.
        let mut info = BTreeMap::new();
        for f in schema.fields() {
            let t: T = match f.name().split('_').nth(1).unwrap() {
                "Bool" => T::Bool, "I8" => T::I8, "I16" => T::I16, "I32" => T::I32, "I64" => T::I64,
                "U8" => T::U8, "U16" => T::U16, "U32" => T::U32, "F32" => T::F32, "F64" => T::F64,
                "Str" => T::Str, "Factor" => T::Factor, "Date" => T::Date, _ => T::Ts,
            };
            info.insert(f.name().clone(), ColumnInfo::default().with_type(t.col_type()));
        }
        let text = TextData::new(&csv).column_info(info).has_header(true).rows_per_read(5);
        let xdf = dir.path().join("t.xdf");
        copy(&text, &XdfData::new(&xdf), &WriteOptions::default());
        prop_assert_eq!(read_xdf_canonical(&xdf, &schema), canonical(&schema, &batches));
    }

    #[test]
    fn parquet_to_xdf_to_memory_is_exact((schema, batches) in table()) {
        let dir = tempfile::tempdir().unwrap();
        let mem = MemoryData::new(schema.clone(), batches.clone()).unwrap();
        let pq = dir.path().join("t.parquet");
        copy(&mem, &ParquetData::new(&pq), &WriteOptions::default());
        let xdf = dir.path().join("t.xdf");
        copy(&ParquetData::new(&pq), &XdfData::new(&xdf), &WriteOptions::default());
        prop_assert_eq!(read_xdf_canonical(&xdf, &schema), canonical(&schema, &batches));
    }

    #[test]
    fn append_equals_one_write_and_composite_equals_single((schema, batches) in table(), cut in 0usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let cut = cut.min(batches.len());
        let one = dir.path().join("one.xdf");
        copy(&MemoryData::new(schema.clone(), batches.clone()).unwrap(), &XdfData::new(&one), &WriteOptions::default());
        let two = dir.path().join("two.xdf");
        copy(&MemoryData::new(schema.clone(), batches[..cut].to_vec()).unwrap(), &XdfData::new(&two), &WriteOptions::default());
        copy(&MemoryData::new(schema.clone(), batches[cut..].to_vec()).unwrap(), &XdfData::new(&two), &WriteOptions::default().append());
        let want = canonical(&schema, &batches);
        prop_assert_eq!(read_xdf_canonical(&one, &schema), want.clone());
        prop_assert_eq!(read_xdf_canonical(&two, &schema), want.clone());
        let set = dir.path().join("set");
        copy(&MemoryData::new(schema.clone(), batches.clone()).unwrap(), &XdfData::composite(&set), &WriteOptions::default());
        prop_assert_eq!(read_xdf_canonical(&set, &schema), want);
    }
}
