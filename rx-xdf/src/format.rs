//! The byte layout of an .xdf file, on top of the Arrow IPC file format.
//!
//! ```text
//! "ARROW1\0\0" | schema message | { dictionary message | record-batch message }* | EOS marker
//! | rx trailer (16 bytes: "RXXDF01\0", crc32 of footer, footer length) | footer | i32 len | "ARROW1"
//! ```
//!
//! Everything up to the footer is plain Arrow IPC, so pyarrow, DataFusion and other Arrow tools open
//! an .xdf file as an Arrow IPC file (they find the footer from the end and ignore the 16-byte rx
//! trailer between the end-of-stream marker and the footer). revoscale's additions live in the
//! footer's custom metadata:
//!
//! - `rx:format` = `xdf`, `rx:version` = `1`, `rx:compression` = `none` / `lz4` / `zstd(LEVEL)`;
//! - `rx:blocks`: JSON with, per record block, its row count, a CRC-32 of the message header and one
//!   CRC-32 per column over that column's buffers; and one CRC-32 per dictionary block.
//!
//! The rx trailer's CRC covers the footer bytes, so a damaged footer is detected before it is parsed;
//! block header CRCs are checked before a message is parsed, and column CRCs before a column is
//! decoded. A flipped byte is reported, never read.

use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

/// Magic of the rx trailer that precedes the Arrow footer.
pub const RX_TRAILER_MAGIC: &[u8; 8] = b"RXXDF01\0";
/// Bytes of the rx trailer.
pub const RX_TRAILER_LEN: usize = 16;
/// Arrow IPC file magic.
pub const ARROW_MAGIC: &[u8; 6] = b"ARROW1";
/// Footer metadata key: format name.
pub const KEY_FORMAT: &str = "rx:format";
/// Footer metadata key: format version.
pub const KEY_VERSION: &str = "rx:version";
/// Footer metadata key: compression.
pub const KEY_COMPRESSION: &str = "rx:compression";
/// Footer metadata key: block table with checksums.
pub const KEY_BLOCKS: &str = "rx:blocks";
/// The format version this crate writes.
pub const FORMAT_VERSION: &str = "1";

/// revoscale's per-file block table (footer metadata `rx:blocks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockTable {
    /// Record blocks, in file order.
    pub blocks: Vec<BlockSums>,
    /// CRC-32 of each dictionary block (header and body), in file order.
    pub dicts: Vec<u32>,
}

/// Row count and checksums of one record block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockSums {
    /// Rows in the block.
    pub rows: u64,
    /// CRC-32 of the message header region (continuation, length, flatbuffer, padding).
    pub h: u32,
    /// CRC-32 of each column's buffers, in schema order.
    pub c: Vec<u32>,
}

/// How many IPC buffers a top-level column of this type has (metadata V5), or `None` for types
/// an .xdf file does not hold.
pub fn buffer_count(dt: &DataType) -> Option<usize> {
    Some(match dt {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::Float32
        | DataType::Float64
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Dictionary(..) => 2,
        DataType::Utf8 => 3,
        _ => return None,
    })
}

/// For each column of `schema`, the range of buffer indexes it owns in a record-batch message.
pub fn column_buffer_ranges(schema: &Schema) -> Option<Vec<std::ops::Range<usize>>> {
    let mut out = Vec::with_capacity(schema.fields().len());
    let mut next = 0;
    for f in schema.fields() {
        let n = buffer_count(f.data_type())?;
        out.push(next..next + n);
        next += n;
    }
    Some(out)
}

/// Describes a compression level for `rx:compression`.
pub fn compression_name(level: u32) -> String {
    match level {
        0 => "none".into(),
        1 => "lz4".into(),
        l => format!("zstd({})", zstd_level(l)),
    }
}

/// The Zstandard level used for compression level `l` (2 and above), capped at 22.
pub fn zstd_level(l: u32) -> i32 {
    l.min(22) as i32
}

/// The Arrow IPC flatbuffer of an encapsulated message (after the continuation marker and length).
pub fn message_flatbuffer(meta: &[u8]) -> Option<&[u8]> {
    let (len_at, start): (usize, usize) = if meta.get(..4)? == [0xff; 4] {
        (4, 8)
    } else {
        (0, 4)
    };
    let len = i32::from_le_bytes(meta.get(len_at..len_at + 4)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    meta.get(start..start.checked_add(len)?)
}
