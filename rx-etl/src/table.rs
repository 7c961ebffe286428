//! Any [`DataSource`] as a DataFusion table.
//!
//! [`SourceTable`] is a [`TableProvider`] whose scan opens the source with exactly the columns the
//! plan needs (DataFusion's projection push-down becomes the source's column projection, so an .xdf
//! file reads only those columns) and streams its chunks; with more than one partition the source is
//! [`DataSource::split`] and the parts are read in parallel. A row selection is also handed to the
//! source as a hint ([`rx_core::RowFilter`]): Parquet then decodes the other columns only for the
//! rows it keeps. DataFusion still applies the selection itself, so sources may ignore the hint.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray, UInt64Array,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::datatypes::{Float32Type, Float64Type};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use rx_core::{DataSource, ReadOptions, RowFilter};

/// A [`DataSource`] as a DataFusion table.
#[derive(Debug, Clone)]
pub struct SourceTable {
    source: Arc<dyn DataSource>,
    schema: SchemaRef,
    partitions: usize,
    rows_per_read: Option<usize>,
    /// The name of an added column of 0-based input row numbers (for stable sorts).
    row_numbers: Option<String>,
}

impl SourceTable {
    /// The whole source, read as one ordered stream.
    pub fn new(source: Arc<dyn DataSource>) -> rx_core::Result<Self> {
        let schema = source.schema()?;
        Ok(SourceTable {
            source,
            schema,
            partitions: 1,
            rows_per_read: None,
            row_numbers: None,
        })
    }

    /// Adds a last column `name` (UInt64) holding each row's 0-based position in the source, which
    /// gives sorts their stability across parallel parts.
    pub fn with_row_numbers(mut self, name: &str) -> Self {
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(name, DataType::UInt64, false));
        self.schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ));
        self.row_numbers = Some(name.to_string());
        self
    }

    /// Reads the source as up to `n` parallel parts (row order across parts is then not kept,
    /// which is fine for sorts, joins and aggregates).
    pub fn with_partitions(mut self, n: usize) -> Self {
        self.partitions = n.max(1);
        self
    }

    /// Chunks of this many rows from the source.
    pub fn with_rows_per_read(mut self, n: Option<usize>) -> Self {
        self.rows_per_read = n;
        self
    }
}

#[async_trait]
impl TableProvider for SourceTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Row selections are offered to the source as a hint ("inexact": DataFusion filters again),
    /// except where rows are numbered (every row must be read to be counted) and for conditions a
    /// source could not evaluate the same way (volatile functions, subqueries, `level_code`, whose
    /// codes are the source's and not yet the stream's).
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|e| {
                if self.row_numbers.is_none() && pushable(e) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let numbered = self
            .row_numbers
            .as_ref()
            .is_some_and(|r| schema.fields().iter().any(|f| f.name() == r));
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| Some(n) != self.row_numbers.as_ref())
            .collect();
        // A plan that needs no column (e.g. `count(*)`) still needs the row counts: read the first
        // column and drop it.
        let (read_columns, keep_none) = if columns.is_empty() {
            match self.schema.fields().first() {
                Some(f) => (vec![f.name().clone()], true),
                None => (Vec::new(), false),
            }
        } else {
            (columns, false)
        };
        let external = |e: rx_core::Error| DataFusionError::External(Box::new(e));
        let mut parts: Vec<Arc<dyn DataSource>> = if self.partitions > 1 {
            self.source
                .split(self.partitions)
                .map_err(external)?
                .into_iter()
                .map(Arc::from)
                .collect()
        } else {
            vec![self.source.clone()]
        };
        // Row numbers need each part's first row: parts whose size is unknown are read as one.
        let mut offsets = Vec::with_capacity(parts.len());
        if numbered {
            let mut at = 0u64;
            for p in &parts {
                offsets.push(at);
                match p.num_rows().map_err(external)? {
                    Some(n) => at += n,
                    None => {
                        parts = vec![self.source.clone()];
                        offsets = vec![0];
                        break;
                    }
                }
            }
        }
        let mut options = ReadOptions::default().columns(read_columns);
        options.rows_per_read = self.rows_per_read;
        if !numbered {
            options.row_filter = self.row_filter(state, filters)?;
        }
        let partitions: Vec<Arc<dyn PartitionStream>> = parts
            .into_iter()
            .enumerate()
            .map(|(i, source)| {
                Arc::new(SourcePartition {
                    source,
                    schema: schema.clone(),
                    options: options.clone(),
                    keep_none,
                    first_row: numbered.then(|| offsets.get(i).copied().unwrap_or(0)),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec = StreamingTableExec::try_new(schema, partitions, None, vec![], false, limit)?;
        Ok(Arc::new(exec))
    }
}

impl SourceTable {
    /// The conjunction of the pushed-down `filters` as a [`RowFilter`] over the table's columns,
    /// as they arrive from the source (cast to the table's types, NaN made missing, before the
    /// condition is evaluated, exactly as the plan sees them).
    fn row_filter(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Option<RowFilter>> {
        let pushed: Vec<Expr> = filters.iter().filter(|e| pushable(e)).cloned().collect();
        let Some(condition) = conjunction(pushed) else {
            return Ok(None);
        };
        // The table's own columns, unqualified: the filter sees them by name.
        let condition = condition
            .transform(|e| match e {
                Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                    c.name,
                )))),
                other => Ok(Transformed::no(other)),
            })?
            .data;
        let mut names: Vec<String> = condition
            .column_refs()
            .into_iter()
            .map(|c| c.name.clone())
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut fields = Vec::with_capacity(names.len());
        for n in &names {
            match self.schema.field_with_name(n) {
                Ok(f) => fields.push(f.clone().with_nullable(true)),
                Err(_) => return Ok(None),
            }
        }
        let schema = Arc::new(Schema::new(fields));
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let physical = state.create_physical_expr(condition, &df_schema)?;
        let predicate = move |batch: &RecordBatch| evaluate_filter(&schema, &physical, batch);
        Ok(Some(RowFilter {
            columns: names,
            predicate: Arc::new(predicate),
        }))
    }
}

/// Whether a condition can be evaluated by a source on its own columns (see
/// [`SourceTable::supports_filters_pushdown`]).
fn pushable(e: &Expr) -> bool {
    if e.is_volatile() {
        return false;
    }
    let blocked = e.exists(|e| {
        Ok(match e {
            Expr::ScalarFunction(f) => f.name() == crate::udf::LEVEL_CODE,
            Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) => true,
            Expr::OuterReferenceColumn(..) | Expr::Placeholder(_) => true,
            _ => false,
        })
    });
    matches!(blocked, Ok(false))
}

/// A row filter's condition on a chunk of the source: its columns as the table types them.
fn evaluate_filter(
    schema: &SchemaRef,
    condition: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
) -> rx_core::Result<datafusion::arrow::array::BooleanArray> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let a = batch.column_by_name(f.name()).ok_or_else(|| {
            rx_core::Error::invalid(format!(
                "row filter: the source gave no column '{}'",
                f.name()
            ))
        })?;
        let a = if a.data_type() == f.data_type() {
            a.clone()
        } else {
            datafusion::arrow::compute::cast(a, f.data_type()).map_err(|e| {
                rx_core::Error::arrow(format!("row filter: column '{}'", f.name()), e)
            })?
        };
        columns.push(nan_as_missing(&a));
    }
    let rows = batch.num_rows();
    let chunk = RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| rx_core::Error::arrow("row filter", e))?;
    let keep = condition
        .evaluate(&chunk)
        .and_then(|v| v.into_array(rows))
        .map_err(|e| rx_core::Error::external("evaluating the row selection", e))?;
    keep.as_boolean_opt().cloned().ok_or_else(|| {
        rx_core::Error::invalid(format!(
            "row filter: the condition is of type {}, not a condition",
            keep.data_type()
        ))
    })
}

/// One part of a source, opened when DataFusion executes it.
#[derive(Debug)]
struct SourcePartition {
    source: Arc<dyn DataSource>,
    schema: SchemaRef,
    options: ReadOptions,
    keep_none: bool,
    /// With row numbers: the part's first row in the whole source.
    first_row: Option<u64>,
}

impl PartitionStream for SourcePartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let chunks = Chunks {
            source: self.source.clone(),
            options: self.options.clone(),
            schema: self.schema.clone(),
            keep_none: self.keep_none,
            next_row: self.first_row,
            reader: None,
            done: false,
        };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(chunks),
        ))
    }
}

/// The source's chunks, opened on first use, each re-labelled with the table's schema (sources that
/// discover factor levels while reading carry a growing level table in their chunks' metadata).
struct Chunks {
    source: Arc<dyn DataSource>,
    options: ReadOptions,
    schema: SchemaRef,
    keep_none: bool,
    /// The row number of the next row, when the table numbers rows (as its last column).
    next_row: Option<u64>,
    reader: Option<rx_core::ChunkReader>,
    done: bool,
}

impl Chunks {
    fn relabel(&mut self, batch: RecordBatch) -> DfResult<RecordBatch> {
        let mut columns = if self.keep_none {
            Vec::new()
        } else {
            batch.columns().iter().map(nan_as_missing).collect()
        };
        if let Some(first) = self.next_row.as_mut() {
            let n = batch.num_rows() as u64;
            let numbers: ArrayRef = Arc::new(UInt64Array::from_iter_values(*first..*first + n));
            *first += n;
            columns.push(numbers);
        }
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| {
            DataFusionError::External(Box::new(rx_core::Error::arrow(
                format!(
                    "{}: a chunk does not match the source's schema",
                    self.source.name()
                ),
                e,
            )))
        })
    }
}

impl Iterator for Chunks {
    type Item = DfResult<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.reader.is_none() {
            match self.source.open(&self.options) {
                Ok(r) => self.reader = Some(r),
                Err(e) => {
                    self.done = true;
                    return Some(Err(DataFusionError::External(Box::new(e))));
                }
            }
        }
        let next = self.reader.as_mut()?.next();
        match next {
            None => {
                self.done = true;
                None
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(DataFusionError::External(Box::new(e))))
            }
            Some(Ok(b)) => Some(self.relabel(b)),
        }
    }
}

/// A float column with its NaN values made missing: revoscale reads NaN as a missing value (as R's
/// `is.na` does), so SQL sees NULL there and `x > 0` does not select it.
fn nan_as_missing(a: &ArrayRef) -> ArrayRef {
    fn fix<T: ArrowPrimitiveType>(a: &ArrayRef) -> Option<ArrayRef>
    where
        T::Native: num_nan::IsNan,
    {
        let p = a.as_primitive_opt::<T>()?;
        let values = p.values();
        if !values.iter().any(|v| num_nan::IsNan::is_nan(*v)) {
            return None;
        }
        let present =
            BooleanBuffer::collect_bool(values.len(), |i| !num_nan::IsNan::is_nan(values[i]));
        let nulls = NullBuffer::union(p.nulls(), Some(&NullBuffer::new(present)));
        Some(Arc::new(PrimitiveArray::<T>::new(values.clone(), nulls)))
    }
    let fixed = match a.data_type() {
        DataType::Float64 => fix::<Float64Type>(a),
        DataType::Float32 => fix::<Float32Type>(a),
        _ => None,
    };
    fixed.unwrap_or_else(|| a.clone())
}

mod num_nan {
    /// NaN tests for the float types a column can hold.
    pub trait IsNan: Copy {
        fn is_nan(self) -> bool;
    }
    impl IsNan for f64 {
        fn is_nan(self) -> bool {
            f64::is_nan(self)
        }
    }
    impl IsNan for f32 {
        fn is_nan(self) -> bool {
            f32::is_nan(self)
        }
    }
}
