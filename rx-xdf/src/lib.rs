//! rx-xdf
