//! Predictions of tree models (`rx_dtree`, `rx_dforest`, `rx_btrees`), chunk by chunk, rows
//! scored in parallel.
//!
//! | type | regression (anova, gaussian) | classification |
//! |---|---|---|
//! | `response` / `vector` (default) | `<y>_Pred`: the mean | `<y>_Pred`: the class (a factor); for a bernoulli `rx_btrees`, the probability of the second level, as gbm's `response` |
//! | `link` | as `response` | `rx_btrees`: the scores (log-odds); others as `response` |
//! | `prob` | an error | `<y>_<level>_Prob` per class (a forest's mean of its trees' leaf shares) |
//! | `class` | an error | `<y>_Pred`: the class |
//! | `vote` | an error | forests: `<y>_<level>_Vote`, the votes per class |
//!
//! `<y>` is the response's column (`Late` for `F(Late) ~ ...`), or the response as written when
//! it is computed (`log(y)`). Residuals (`<y>_Resid`, observed − predicted) are written for regression models. Rows with a
//! missing predictor are still scored: they follow the majority direction at that split.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array};
use arrow::datatypes::{DataType, Field, Schema};
use rayon::prelude::*;
use rx_core::factor::{factor_type, make_factor};
use rx_core::varinfo::with_levels;
use rx_core::{DataSink, DataSource, Error, ReadOptions, Result, VarInfo};
use rx_models::design::{NumSource, ResponseSource};
use rx_models::tree::{DTreeMethod, LossFunction, TreeSpec};

use crate::model::Model;
use crate::predict::{Interval, PredictOptions, PredictSummary, PredictType, floats, project};

/// What one row's prediction is made of: values (mean; class probabilities or votes; a
/// probability or score) and the predicted class.
struct RowScore {
    values: Vec<f64>,
    class: usize,
}

#[derive(Clone)]
enum Out {
    Copy(String),
    /// A number: index into the row's values.
    Value(usize),
    /// The predicted class.
    Label,
    Resid,
}

/// Scores one row of predictor values.
fn score_row(model: &Model, link: bool, prob: bool, values: &[f64]) -> RowScore {
    match model {
        Model::DTree(m) => {
            let leaf = m.leaf(values);
            match m.method {
                DTreeMethod::Anova => RowScore {
                    values: vec![m.node_value(leaf)],
                    class: 0,
                },
                DTreeMethod::Class => RowScore {
                    values: m.node_probs(leaf),
                    class: m.node_value(leaf) as usize,
                },
            }
        }
        Model::DForest(m) => match m.method {
            DTreeMethod::Anova => RowScore {
                values: vec![m.mean(values)],
                class: 0,
            },
            DTreeMethod::Class => {
                let votes = m.votes(values);
                let class = m.winner(&votes);
                RowScore {
                    values: if prob {
                        m.probabilities(values)
                    } else {
                        votes.iter().map(|&v| v as f64).collect()
                    },
                    class,
                }
            }
        },
        Model::BTrees(m) => {
            let v = if link {
                m.scores(values)
            } else {
                m.probabilities(values)
            };
            let class = match m.loss_function {
                LossFunction::Gaussian => 0,
                LossFunction::Bernoulli => usize::from(if link { v[0] > 0.0 } else { v[0] > 0.5 }),
                LossFunction::Multinomial => (0..v.len())
                    .max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a)))
                    .unwrap_or(0),
            };
            RowScore { values: v, class }
        }
        _ => RowScore {
            values: vec![f64::NAN],
            class: 0,
        },
    }
}

fn spec_of(model: &Model) -> Option<&TreeSpec> {
    match model {
        Model::DTree(m) => Some(&m.spec),
        Model::DForest(m) => Some(&m.spec),
        Model::BTrees(m) => Some(&m.spec),
        _ => None,
    }
}

/// [`crate::rx_predict_with_progress`] for tree models.
pub(crate) fn predict_trees(
    model: &Model,
    data: &dyn DataSource,
    sink: &dyn DataSink,
    options: &PredictOptions,
    on_chunk: &mut dyn FnMut(u64),
) -> Result<PredictSummary> {
    let spec = spec_of(model).ok_or_else(|| Error::invalid("not a tree model"))?;
    let fname = model.function_name();
    let formula = &spec.formula;
    if options.compute_std_errors || options.interval != Interval::None {
        return Err(Error::invalid(format!(
            "{fname} '{formula}': tree models have no standard errors or intervals; leave compute_std_errors and interval off"
        )));
    }
    let classes: Option<Vec<String>> = spec.classes().map(<[String]>::to_vec);
    let regression = match model {
        Model::DTree(m) => m.method == DTreeMethod::Anova,
        Model::DForest(m) => m.method == DTreeMethod::Anova,
        Model::BTrees(m) => m.loss_function == LossFunction::Gaussian,
        _ => true,
    };
    let bernoulli = matches!(model, Model::BTrees(m) if m.loss_function == LossFunction::Bernoulli);
    // Output columns are named after the response's column (`Late_Pred` for `F(Late) ~ ...`).
    let y = match &spec.response.source {
        ResponseSource::Factor(f) => f.column().to_string(),
        ResponseSource::Numeric(NumSource::Column(c)) => c.clone(),
        ResponseSource::Numeric(_) => spec.response.name.clone(),
    };
    let name = data.name();
    let schema = data.schema()?;
    for c in spec.predictor_columns() {
        if schema.field_with_name(&c).is_err() {
            return Err(Error::unknown_column(&c, &name, &schema));
        }
    }
    let t = options.predict_type;
    let bad_type = |what: &str| {
        Err(Error::invalid(format!(
            "{fname} '{formula}': prediction type {t:?} {what}"
        )))
    };
    if regression
        && matches!(
            t,
            PredictType::Prob | PredictType::Class | PredictType::Vote
        )
    {
        return bad_type("is for classification; this model predicts a number (use response)");
    }
    if t == PredictType::Vote && !matches!(model, Model::DForest(_)) {
        return bad_type("is for forests (use prob)");
    }
    if options.compute_residuals && !regression {
        return Err(Error::invalid(format!(
            "{fname} '{formula}': residuals are written for numeric responses only"
        )));
    }

    // Output columns.
    let mut out: Vec<(String, Out)> = Vec::new();
    let copied = crate::predict::copied_columns(options, &schema, &name, spec.columns())?;
    for c in &copied {
        out.push((c.clone(), Out::Copy(c.clone())));
    }
    let pred_name = options
        .pred_var_names
        .clone()
        .unwrap_or_else(|| format!("{y}_Pred"));
    match (t, &classes) {
        (PredictType::Prob, Some(levels)) if bernoulli => {
            // The model's value is P(second level).
            out.push((format!("{y}_{}_Prob", levels[0]), Out::Value(usize::MAX)));
            out.push((format!("{y}_{}_Prob", levels[1]), Out::Value(0)));
        }
        (PredictType::Prob, Some(levels)) | (PredictType::Vote, Some(levels)) => {
            let suffix = if t == PredictType::Vote {
                "Vote"
            } else {
                "Prob"
            };
            for (i, l) in levels.iter().enumerate() {
                out.push((format!("{y}_{l}_{suffix}"), Out::Value(i)));
            }
        }
        (PredictType::Class, Some(_)) => out.push((pred_name, Out::Label)),
        (_, Some(_)) if bernoulli => out.push((pred_name, Out::Value(0))),
        (_, Some(_)) => out.push((pred_name, Out::Label)),
        (_, None) => out.push((pred_name, Out::Value(0))),
    }
    let response_columns = spec.response_columns();
    let residuals = options.compute_residuals
        && response_columns
            .iter()
            .all(|c| schema.field_with_name(c).is_ok());
    if options.compute_residuals {
        let n = options
            .resid_var_names
            .clone()
            .unwrap_or_else(|| format!("{y}_Resid"));
        out.push((n, Out::Resid));
    }
    crate::predict::check_unique_names(out.iter().map(|(n, _)| n.as_str()))?;
    let mut fields = Vec::with_capacity(out.len());
    for (n, src) in &out {
        let field = match src {
            Out::Copy(c) => schema
                .field_with_name(c)
                .map_err(|_| Error::unknown_column(c, &name, &schema))?
                .clone(),
            Out::Label => with_levels(
                Field::new(n, factor_type(), true),
                classes.as_deref().unwrap_or(&[]),
            ),
            other => {
                let what = match other {
                    Out::Resid => format!("Residuals of {y} (observed - predicted)"),
                    _ => format!("Predicted {y} ({t:?})"),
                };
                let f = Field::new(n, DataType::Float64, true);
                let mut info = VarInfo::from_field(&f);
                info.description = Some(format!("{what} from {fname} '{formula}'"));
                info.apply_to_field(f)
            }
        };
        fields.push(field);
    }
    let out_schema = Arc::new(Schema::new(fields));

    let mut read: Vec<String> = spec.predictor_columns();
    let response_read: &[String] = if residuals { &response_columns } else { &[] };
    for c in response_read.iter().chain(&copied) {
        if !read.contains(c) {
            read.push(c.clone());
        }
    }
    let reader = data.open(&ReadOptions {
        columns: Some(read.clone()),
        rows_per_read: Some(options.rx.rows_per_read),
        ..Default::default()
    })?;
    let write_options = crate::predict::write_options(options);
    let mut writer = sink.create(out_schema.clone(), &write_options)?;
    let mut summary = PredictSummary {
        output: sink.name(),
        columns: out.iter().map(|(n, _)| n.clone()).collect(),
        rows: 0,
        rows_predicted: 0,
        rows_missing: 0,
        chunks: 0,
    };
    let link = t == PredictType::Link;
    let prob = t == PredictType::Prob;
    for chunk in reader {
        let chunk = chunk?;
        let n = chunk.num_rows();
        let first_row = summary.rows;
        let at = |e: Error| match e {
            Error::InvalidArgument(m) => Error::invalid(format!(
                "{name}: rows {}..{}: {m}",
                first_row + 1,
                first_row + n as u64
            )),
            e => e,
        };
        let cols = spec
            .predictor_values(&project(&chunk, &spec.predictor_columns(), &name)?)
            .map_err(at)?;
        let scores: Vec<RowScore> = (0..n)
            .into_par_iter()
            .with_min_len(1024)
            .map_init(
                || vec![0.0; cols.len()],
                |buf, r| {
                    for (b, c) in buf.iter_mut().zip(&cols) {
                        *b = c[r];
                    }
                    score_row(model, link, prob, buf)
                },
            )
            .collect();
        let response = if residuals {
            Some(spec.response_values(&chunk).map_err(at)?)
        } else {
            None
        };
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(out.len());
        for (_, src) in &out {
            let array: ArrayRef = match src {
                Out::Copy(c) => chunk.column_by_name(c).cloned().ok_or_else(|| {
                    Error::invalid(format!(
                        "{name}: a chunk lacks the column '{c}' that was asked for"
                    ))
                })?,
                Out::Value(usize::MAX) => floats(scores.iter().map(|s| Some(1.0 - s.values[0]))),
                Out::Value(i) => floats(scores.iter().map(|s| Some(s.values[*i]))),
                Out::Label => {
                    let codes: Int32Array = scores.iter().map(|s| Some(s.class as i32)).collect();
                    Arc::new(make_factor(codes, classes.as_deref().unwrap_or(&[]))?)
                }
                Out::Resid => match &response {
                    Some(yv) => floats(
                        scores
                            .iter()
                            .zip(yv)
                            .map(|(s, &obs)| (!obs.is_nan()).then(|| obs - s.values[0])),
                    ),
                    None => floats(std::iter::repeat_n(None, n)),
                },
            };
            arrays.push(array);
        }
        let batch = crate::predict::assemble_chunk(&out_schema, arrays, &name, first_row, n)?;
        writer.write(&batch)?;
        summary.rows += n as u64;
        summary.rows_predicted += n as u64;
        summary.chunks += 1;
        on_chunk(summary.rows);
    }
    writer.finish()?;
    Ok(summary)
}
