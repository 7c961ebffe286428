//! rx-data
