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
    /// Most bytes of chunks an analysis that expects several passes (IRLS) may keep in memory
    /// after its first pass, so later passes do not read the source again. When the projected
    /// columns are larger, every pass streams from the source as usual. 0 turns caching off.
    /// Default: a quarter of the machine's memory.
    pub max_cache_bytes: usize,
}

impl Default for RxOptions {
    fn default() -> Self {
        RxOptions {
            rows_per_read: 500_000,
            blocks_per_read: 1,
            report_progress: 1,
            compression_level: 1,
            max_cache_bytes: default_cache_bytes(),
        }
    }
}

/// A quarter of the physical memory, or 1 GiB where it is unknown.
fn default_cache_bytes() -> usize {
    physical_memory().map_or(1 << 30, |bytes| bytes / 4)
}

/// The machine's physical memory in bytes (Linux's `/proc/meminfo`), read once; `None` where it
/// cannot be read. Defaults that scale with the machine (the chunk cache, a sort's memory) use it.
pub fn physical_memory() -> Option<usize> {
    static BYTES: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib.saturating_mul(1024))
    })
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

    /// Most bytes of chunks kept in memory between the passes of a multi-pass analysis (0: none).
    pub fn max_cache_bytes(mut self, bytes: usize) -> Self {
        self.max_cache_bytes = bytes;
        self
    }
}
