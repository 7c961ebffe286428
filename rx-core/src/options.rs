//! Options every analysis and import shares (revoscalepy's `rx_options`).

use serde::{Deserialize, Serialize};

/// Shared options. Passed explicitly (no hidden global), so two analyses can run at once with
/// different settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxOptions {
    /// Rows per chunk when reading sources that have no natural blocks (text files) and rows per
    /// block when writing .xdf files. revoscalepy's default is 500,000.
    pub rows_per_read: usize,
    /// Blocks of an .xdf file read together as one chunk.
    pub blocks_per_read: usize,
    /// 0: no progress; 1: a progress bar; 2: a bar and timings (as revoscalepy's `report_progress`).
    pub report_progress: u8,
    /// Compression level of .xdf output: 0 none, 1 LZ4 (fast, the default), 2 and above Zstandard.
    pub compression_level: u32,
}

impl Default for RxOptions {
    fn default() -> Self {
        RxOptions {
            rows_per_read: 500_000,
            blocks_per_read: 1,
            report_progress: 1,
            compression_level: 1,
        }
    }
}

impl RxOptions {
    /// Rows per chunk.
    pub fn rows_per_read(mut self, n: usize) -> Self {
        self.rows_per_read = n.max(1);
        self
    }

    /// Blocks per chunk.
    pub fn blocks_per_read(mut self, n: usize) -> Self {
        self.blocks_per_read = n.max(1);
        self
    }

    /// Progress reporting level.
    pub fn report_progress(mut self, level: u8) -> Self {
        self.report_progress = level;
        self
    }

    /// Compression level.
    pub fn compression_level(mut self, level: u32) -> Self {
        self.compression_level = level;
        self
    }
}
