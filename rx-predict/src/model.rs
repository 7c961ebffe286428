//! Fitted models as one type that saves, loads and predicts.
//!
//! [`Model`] has one variant per kind of fitted model. A variant only has to say what prediction
//! needs ([`Predictive`]): its [`LinearPredictor`] (the coding of the model matrix, the
//! coefficients and their unscaled covariance, the dispersion and the link), the name of the
//! function that fitted it, and its [`ModelKind`], which decides how standard errors and
//! intervals are formed. Everything else in this crate works from those three.
//!
//! Two serialized forms carry a model, both with a format name and a format version so that a
//! model saved by a newer revoscale is refused with a clear message instead of being misread:
//!
//! - **JSON**, for people and other tools: `{"format": "revoscale-model", "version": 1,
//!   "model": {"lin_mod": {...}}}`. Numbers are written in their shortest round-trip form and read
//!   back with a correctly rounded parser, so every `f64` comes back bit for bit. JSON has no
//!   NaN or infinity, so a non-finite number (an R² of a constant response, the dispersion of a
//!   saturated fit) is written as `{"$f64": "NaN"}`, `{"$f64": "Infinity"}` or
//!   `{"$f64": "-Infinity"}`.
//! - **Binary**, compact and fast: an 8-byte signature (`\x89RXM\r\n\x1a\n`, which also catches
//!   a file mangled by a text-mode transfer), the format version (`u32`, little-endian), the
//!   payload length (`u64`), a CRC-32 of the payload (`u32`), then the payload: the model as CBOR
//!   (RFC 8949). CBOR is self-describing, so it round-trips whatever serde attributes the model
//!   types use (defaults, aliases, flattened or untagged parts), and it stores each `f64` in the
//!   shortest of half, single or double precision that keeps its exact bits.
//!
//! [`rx_unserialize_model`] tells the two apart by their first bytes.

use std::io::Write;
use std::path::Path;

use rx_core::{Error, Result};
use rx_models::glm::RxGlm;
use rx_models::linmod::{LinearPredictor, RxLinMod};
use rx_models::tree::{RxBTrees, RxDForest, RxDTree};
use serde::{Deserialize, Serialize};

/// The version of the serialized form this build writes, and the newest it reads.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// The `format` field of a JSON model.
pub const MODEL_FORMAT_NAME: &str = "revoscale-model";

/// The first bytes of a binary model.
pub const BINARY_SIGNATURE: [u8; 8] = *b"\x89RXM\r\n\x1a\n";

/// Signature, version, payload length, CRC-32.
const BINARY_HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// How deeply nested a binary payload may be (the deepest part of a model is a computed term's
/// expression tree, two levels per operator).
const CBOR_RECURSION_LIMIT: usize = 512;

/// How prediction treats a model: what its standard errors and intervals mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelKind {
    /// Least squares (`rx_lin_mod`): intervals use Student's t with the residual degrees of
    /// freedom; prediction intervals add the residual variance σ² of one new observation (of unit
    /// weight).
    Linear,
    /// A generalized linear model (`rx_glm`, `rx_logit`): standard errors on the response scale
    /// by the delta method, confidence intervals formed on the link scale and transformed back.
    Glm {
        /// The family fixes the dispersion (binomial, Poisson): intervals use the normal
        /// quantile; otherwise Student's t with the residual degrees of freedom.
        dispersion_fixed: bool,
    },
}

/// What a fitted model supplies for prediction. A new kind of model implements this and adds a
/// variant to [`Model`].
pub trait Predictive {
    /// The coding, coefficients, covariance, dispersion and link.
    fn predictor(&self) -> &LinearPredictor;
    /// How standard errors and intervals are formed.
    fn kind(&self) -> ModelKind;
    /// The revoscale function that fits this kind of model (`rx_lin_mod`), for messages.
    fn function_name(&self) -> &'static str;
}

impl Predictive for RxLinMod {
    fn predictor(&self) -> &LinearPredictor {
        &self.model
    }
    fn kind(&self) -> ModelKind {
        ModelKind::Linear
    }
    fn function_name(&self) -> &'static str {
        "rx_lin_mod"
    }
}

impl Predictive for RxGlm {
    fn predictor(&self) -> &LinearPredictor {
        &self.model
    }
    fn kind(&self) -> ModelKind {
        ModelKind::Glm {
            dispersion_fixed: !self.family.estimates_dispersion(),
        }
    }
    fn function_name(&self) -> &'static str {
        "rx_glm"
    }
}

/// Any fitted model that revoscale can save, load and score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Model {
    /// A linear model from `rx_lin_mod`.
    LinMod(RxLinMod),
    /// A generalized linear model from `rx_glm` or `rx_logit`.
    Glm(RxGlm),
    /// A decision tree from `rx_dtree`.
    DTree(RxDTree),
    /// A random forest from `rx_dforest`.
    DForest(RxDForest),
    /// A boosted model from `rx_btrees`.
    BTrees(RxBTrees),
}

impl Model {
    fn inner(&self) -> Option<&dyn Predictive> {
        match self {
            Model::LinMod(m) => Some(m),
            Model::Glm(m) => Some(m),
            Model::DTree(_) | Model::DForest(_) | Model::BTrees(_) => None,
        }
    }

    /// A linear or generalized linear model's coding, coefficients, covariance, dispersion and
    /// link (`None` for tree models).
    pub fn linear(&self) -> Option<&LinearPredictor> {
        self.inner().map(Predictive::predictor)
    }

    /// What prediction uses: coding, coefficients, covariance, dispersion and link; an error
    /// for tree models, which have none.
    pub fn predictor(&self) -> Result<&LinearPredictor> {
        self.linear().ok_or_else(|| {
            Error::invalid(format!(
                "{} '{}' is a tree model: it has no coefficients, standard errors or intervals",
                self.function_name(),
                self.formula()
            ))
        })
    }

    /// How standard errors and intervals are formed (`None` for tree models).
    pub fn kind(&self) -> Option<ModelKind> {
        self.inner().map(Predictive::kind)
    }

    /// The function that fitted the model (`rx_lin_mod`).
    pub fn function_name(&self) -> &'static str {
        match self {
            Model::DTree(_) => "rx_dtree",
            Model::DForest(_) => "rx_dforest",
            Model::BTrees(_) => "rx_btrees",
            _ => self.inner().map_or("?", Predictive::function_name),
        }
    }

    /// The model formula as it was given.
    pub fn formula(&self) -> &str {
        match self {
            Model::DTree(m) => &m.spec.formula,
            Model::DForest(m) => &m.spec.formula,
            Model::BTrees(m) => &m.spec.formula,
            _ => self.linear().map_or("", |p| p.design.formula.as_str()),
        }
    }

    /// Whether this is a tree model (`rx_dtree`, `rx_dforest`, `rx_btrees`).
    pub fn is_tree(&self) -> bool {
        matches!(self, Model::DTree(_) | Model::DForest(_) | Model::BTrees(_))
    }
}

impl From<RxDTree> for Model {
    fn from(m: RxDTree) -> Self {
        Model::DTree(m)
    }
}

impl From<RxDForest> for Model {
    fn from(m: RxDForest) -> Self {
        Model::DForest(m)
    }
}

impl From<RxBTrees> for Model {
    fn from(m: RxBTrees) -> Self {
        Model::BTrees(m)
    }
}

impl From<RxLinMod> for Model {
    fn from(m: RxLinMod) -> Self {
        Model::LinMod(m)
    }
}

impl From<RxGlm> for Model {
    fn from(m: RxGlm) -> Self {
        Model::Glm(m)
    }
}

/// The serialized form of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Readable JSON (the default).
    #[default]
    Json,
    /// The compact binary form (signature, version, CRC-32, CBOR payload).
    Binary,
}

impl Format {
    /// The form [`rx_save_model`] uses for `path`: binary for `.rxm`, JSON otherwise.
    pub fn for_path(path: &Path) -> Format {
        let binary = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("rxm"));
        if binary { Format::Binary } else { Format::Json }
    }
}

/// The JSON envelope (the binary form keeps the same facts in its header).
#[derive(Serialize)]
struct Envelope<'a> {
    format: &'static str,
    version: u32,
    model: &'a Model,
}

/// Serializes `model` (revoscalepy's `rx_serialize_model`).
pub fn rx_serialize_model(model: &Model, format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Json => {
            let envelope = Envelope {
                format: MODEL_FORMAT_NAME,
                version: MODEL_FORMAT_VERSION,
                model,
            };
            let value = ciborium::Value::serialized(&envelope)
                .map_err(|e| Error::external("serializing the model", e))?;
            let mut out = String::new();
            crate::json::write_value(&mut out, &value, 0)?;
            out.push('\n');
            Ok(out.into_bytes())
        }
        Format::Binary => {
            let mut payload = Vec::new();
            ciborium::into_writer(model, &mut payload)
                .map_err(|e| Error::external("serializing the model", e))?;
            let mut out = Vec::with_capacity(BINARY_HEADER_LEN + payload.len());
            out.extend_from_slice(&BINARY_SIGNATURE);
            out.extend_from_slice(&MODEL_FORMAT_VERSION.to_le_bytes());
            out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            out.extend_from_slice(&payload);
            Ok(out)
        }
    }
}

/// Why bytes are not a model this build can use.
enum DecodeError {
    /// Saved in a newer format version.
    Newer(u64),
    /// Not a model, truncated or damaged.
    Bad(String),
}

impl DecodeError {
    fn message(&self) -> String {
        match self {
            DecodeError::Newer(v) => format!(
                "the model was saved in model format version {v} by a newer revoscale; this build reads versions up to {MODEL_FORMAT_VERSION}: upgrade revoscale to load it"
            ),
            DecodeError::Bad(m) => m.clone(),
        }
    }
}

/// Reads a model from the bytes of either form (revoscalepy's `rx_unserialize_model`); the form
/// is recognized by its first bytes.
pub fn rx_unserialize_model(bytes: &[u8]) -> Result<Model> {
    decode(bytes).map_err(|e| Error::invalid(format!("model bytes: {}", e.message())))
}

fn decode(bytes: &[u8]) -> std::result::Result<Model, DecodeError> {
    if bytes.starts_with(&BINARY_SIGNATURE) {
        return decode_binary(bytes);
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return decode_json(text);
    }
    Err(DecodeError::Bad(
        "not a revoscale model: it is neither the binary form (which starts with the bytes \\x89RXM) nor a JSON object; save models with rx_save_model or `rx linmod --save`".into(),
    ))
}

fn decode_binary(bytes: &[u8]) -> std::result::Result<Model, DecodeError> {
    if bytes.len() < BINARY_HEADER_LEN {
        return Err(DecodeError::Bad(format!(
            "truncated binary model: {} bytes, shorter than its {BINARY_HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = u32_at(8);
    if version > MODEL_FORMAT_VERSION {
        return Err(DecodeError::Newer(u64::from(version)));
    }
    if version == 0 {
        return Err(DecodeError::Bad(
            "damaged binary model: format version 0 does not exist".into(),
        ));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[12..20]);
    let len = u64::from_le_bytes(len);
    let crc = u32_at(20);
    let payload = &bytes[BINARY_HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(DecodeError::Bad(format!(
            "{} binary model: the header announces {len} bytes of model, {} follow",
            if (payload.len() as u64) < len {
                "truncated"
            } else {
                "damaged"
            },
            payload.len()
        )));
    }
    if crc32fast::hash(payload) != crc {
        return Err(DecodeError::Bad(
            "damaged binary model: its checksum does not match (the file was changed or corrupted after it was saved); save the model again".into(),
        ));
    }
    ciborium::de::from_reader_with_recursion_limit(payload, CBOR_RECURSION_LIMIT).map_err(|e| {
        DecodeError::Bad(format!(
            "binary model with a valid checksum that this build cannot read ({e}); it may hold a kind of model this build does not know: upgrade revoscale"
        ))
    })
}

fn decode_json(text: &[u8]) -> std::result::Result<Model, DecodeError> {
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| DecodeError::Bad(format!("JSON model that does not parse: {e}")))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(DecodeError::Bad("JSON model: not an object".into()));
    };
    if map.get("format").and_then(|f| f.as_str()) != Some(MODEL_FORMAT_NAME) {
        return Err(DecodeError::Bad(format!(
            "a JSON object but not a revoscale model: it has no \"format\": \"{MODEL_FORMAT_NAME}\" field"
        )));
    }
    let version = match map.get("version") {
        Some(v) => v.as_u64().ok_or_else(|| {
            DecodeError::Bad(format!(
                "JSON model: \"version\" is {v}, not a whole number"
            ))
        })?,
        None => return Err(DecodeError::Bad("JSON model: no \"version\" field".into())),
    };
    if version > u64::from(MODEL_FORMAT_VERSION) {
        return Err(DecodeError::Newer(version));
    }
    if version == 0 {
        return Err(DecodeError::Bad(
            "JSON model: format version 0 does not exist".into(),
        ));
    }
    let Some(model) = map.remove("model") else {
        return Err(DecodeError::Bad("JSON model: no \"model\" field".into()));
    };
    let value = crate::json::to_cbor(model);
    value.deserialized::<Model>().map_err(|e| {
        DecodeError::Bad(format!(
            "JSON model that this build cannot read: {e}; it may hold a kind of model this build does not know (upgrade revoscale) or have been edited by hand"
        ))
    })
}

/// Saves `model` to `path`: the binary form for `.rxm`, JSON otherwise. The file is written
/// beside its target and renamed into place when complete, replacing an existing file.
pub fn rx_save_model(model: &Model, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = rx_serialize_model(model, Format::for_path(path))?;
    let mut tmp = rx_core::fs::temp_beside(path)?;
    tmp.write_all(&bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e))?;
    rx_core::fs::persist(tmp, path, true)
}

/// Loads a model saved by [`rx_save_model`] (either form, recognized by its first bytes).
pub fn rx_load_model(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|e| match e {
        DecodeError::Newer(_) => Error::invalid(format!("{}: {}", path.display(), e.message())),
        DecodeError::Bad(m) => Error::corrupt(path, m),
    })
}
